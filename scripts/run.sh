#!/usr/bin/env bash
# The README's run command: checks the build prerequisites (scripts/prereqs.sh), then builds
# and runs the node in release mode. Arguments go to the node (e.g. --uri, --bootstrap,
# --config-path). Storage in ./storage, snapshots in ./snapshots, REST on :6333.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
exec cargo run --release -p node --bin qdrant-node -- "$@"
