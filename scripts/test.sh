#!/usr/bin/env bash
# The project's one gate: formatting, lints, then every test suite (unit, black-box
# integration against real node processes, and the qdrant-client compatibility run).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
