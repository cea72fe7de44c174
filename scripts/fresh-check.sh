#!/usr/bin/env bash
# What a new user goes through: a fresh clone, empty HOME and caches (cargo registry and
# build, Go, pip, the control-plane build), then the README's two commands, timed. Too slow
# for CI (cold builds); run it before resolving first-contact work. Needs the toolchains only.
# Usage: scripts/fresh-check.sh [--run-only] [REPO]   (REPO: default this checkout)
set -euo pipefail
run_only=
[ "${1:-}" = "--run-only" ] && { run_only=1; shift; }
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
home=$(mktemp -d /tmp/fresh-home.XXXXXX)
echo "throw-away HOME: $home"
# The toolchains stay where they are (rustup's home found before HOME changes); every cache
# starts empty.
cargo_bin=$(dirname "$(command -v cargo)")
go_bin=$(dirname "$(command -v go)")
export RUSTUP_HOME=${RUSTUP_HOME:-$(rustup show home 2>/dev/null || echo "$HOME/.rustup")}
export HOME=$home CARGO_HOME=$home/.cargo XDG_CACHE_HOME=$home/.cache
export GOPATH=$home/go GOCACHE=$home/.cache/go-build GOMODCACHE=$home/go/pkg/mod
export PIP_NO_CACHE_DIR=1 PATH="$cargo_bin:$go_bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
unset CARGO_TARGET_DIR
git clone -q "$repo" "$home/repo"
cd "$home/repo"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$SECONDS
QDRANT__SERVICE__HTTP_PORT=$port QDRANT__SERVICE__GRPC_PORT=0 scripts/run.sh > "$home/run.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do
  if ! kill -0 $pid 2>/dev/null; then
    tail -n 30 "$home/run.log"
    echo "FAILED: the run command exited after $((SECONDS - start)) s" >&2
    exit 1
  fi
  sleep 2
done
echo "run command: node answering on :$port after $((SECONDS - start)) s"
ls -l target/release/qdrant-node
kill $pid; wait $pid 2>/dev/null || true
[ -n "$run_only" ] && exit 0
start=$SECONDS
scripts/test.sh > "$home/test.log" 2>&1 || { tail -n 40 "$home/test.log"; echo "FAILED: the test command, after $((SECONDS - start)) s" >&2; exit 1; }
echo "test command: passed after $((SECONDS - start)) s"
