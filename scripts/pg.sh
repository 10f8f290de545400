#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and benches: Debian's `postgresql` package, a cluster in a
# temp directory, listening on loopback only, run as the `postgres` user (the server refuses
# root).
#
#   scripts/pg.sh start DIR   initdb + start; prints the URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   scripts/pg.sh stop DIR    stops it and removes DIR
#
# The cluster also speaks TLS (ssl=on) with a certificate for the name `pg.test` from a CA made
# here for this run: DIR/ca.crt (the server's `ssl_cert_file` sits beside it, so a test asks
# the server where to find it). Plain connections still work: the suite's URL has no sslmode
# and names loopback.
#
# Trust authentication is safe here only because the cluster listens on 127.0.0.1, lives for
# one run and holds test data; a site's database is set up as docs/DEPLOYMENT.md says.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL not installed (scripts/setup.sh installs it)" >&2; exit 1; }
as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"
  else sudo -u postgres "$@"; fi
}

case "$cmd" in
  start)
    as_root mkdir -p "$dir"
    as_root chown postgres: "$dir"
    as_root chmod 0700 "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
    # A throwaway CA and the server's certificate (P-256, two days): nothing else trusts it.
    as_root openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj /CN=access-test-ca -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    as_root openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=pg.test \
      -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    as_root sh -c "printf 'subjectAltName=DNS:pg.test\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' >'$dir/server.ext'"
    as_root openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
      -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
    as_root rm -f "$dir/ca.key" "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
    as_root chown postgres: "$dir/server.key" "$dir/server.crt" "$dir/ca.crt"
    as_root chmod 0600 "$dir/server.key"
    as_root chmod 0644 "$dir/ca.crt"
    # Others may reach the CA by its name (a test running as another user), not list DIR.
    as_root chmod 0711 "$dir"
    # fsync off: a test cluster that a crash may lose; the tests' kill -9 is of our server,
    # not of PostgreSQL.
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    as_root rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
