# shellcheck shell=bash
# Sourced (not run) by scripts/setup.sh, test.sh and run.sh: puts the tools set-up installed
# first on PATH. Node.js 20 from the npm registry lives in .local/node where the system's is too
# old (Debian 12 has 18); rustup's cargo lives in ~/.cargo/bin. Safe to source again.
_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for _env_dir in "$HOME/.cargo/bin" "$_env_root/.local/node/bin"; do
  case ":$PATH:" in
    *":$_env_dir:"*) ;;
    *) if [ -d "$_env_dir" ]; then PATH="$_env_dir:$PATH"; fi ;;
  esac
done
export PATH
unset _env_root _env_dir
