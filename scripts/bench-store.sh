#!/usr/bin/env bash
# The store's costs as a site's history grows, release build, side by side in one run (issue 25):
# send-otp and verify-otp over loopback HTTP at 64 connections, on SQLite (one box) and on
# PostgreSQL with one and two replicas (a throwaway cluster from scripts/pg.sh), each after 0,
# 100,000 and 1,000,000 past validations (`access-loadgen --seed-validations`), then SQLite
# with the default anti-abuse caps on. Prints one table; not part of the test run.
#
#   scripts/bench-store.sh [REQUESTS] [SECONDS]     (default 20000 requests, 10 s a phase)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
requests="${1:-20000}"
seconds="${2:-10}"
export CARGO_INCREMENTAL=0
cargo build --release -q -p access-server --bin access-loadgen
lg=target/release/access-loadgen
work=$(mktemp -d /tmp/access-bench.XXXXXX)
pgdir="$work/pg"
pg_url=""
cleanup() { [ -z "$pg_url" ] || scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
chmod 0755 "$work"
pg_url=$(scripts/pg.sh start "$pgdir")
n=0
rows=()
run() { # engine replicas seed [flags...]
  local engine=$1 replicas=$2 seed=$3; shift 3
  local db
  n=$((n + 1))
  if [ "$engine" = sqlite ]; then
    db="$work/bench$n.db"
  else
    psql -q "$pg_url" -c "CREATE DATABASE bench$n" >/dev/null
    db="${pg_url%/*}/bench$n"
  fi
  local out
  out=$("$lg" --db "$db" --replicas "$replicas" --connections 64 --requests "$requests" \
    --max-seconds "$seconds" --seed-validations "$seed" "$@" 2>&1) || { echo "$out" >&2; exit 1; }
  local send verify proc
  send=$(grep '^send-otp' <<<"$out")
  verify=$(grep '^verify-otp' <<<"$out")
  proc=$(grep '^process' <<<"$out")
  # "send-otp  N req  E err  T s  R req/s  p50 A ms  p99 B ms  max C ms"
  local f='{printf "%s %s %s", $8, $11, $14}'
  local verified
  verified=$(awk "$f" <<<"$verify")
  # With the caps on, most sends are refused (429): the verify phase has a handful of codes.
  [ $# -eq 0 ] || verified="(codes capped)"
  rows+=("$(printf '%-9s %-3s %-8s %-5s | %s | %s | %s' "$engine" "$replicas" "$seed" "${*:+caps}" \
    "$(awk "$f" <<<"$send")" "$verified" \
    "$(awk '{printf "cpu %s s, rss %s MB", $3, $7}' <<<"$proc")")")
  echo "${rows[-1]}" >&2
}
for seed in 0 100000 1000000; do run sqlite 1 "$seed"; done
for replicas in 1 2; do
  for seed in 0 100000 1000000; do run postgres "$replicas" "$seed"; done
done
run sqlite 1 0 --default-caps
echo
echo "release build, $(nproc) cores, 64 connections, up to $requests requests / $seconds s a phase"
echo "engine  replicas seed  mode | send req/s p50 p99 (ms) | verify req/s p50 p99 (ms) | whole process"
printf '%s\n' "${rows[@]}"
