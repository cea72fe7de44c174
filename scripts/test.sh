#!/usr/bin/env bash
# The README's test command and the project's one gate: installs what the tests need
# (scripts/setup.sh, skipped when done), then formatting, lints, and every test suite (unit,
# black-box integration against real node processes, the real qdrant-client from PyPI, a real
# Kubernetes control plane for the operator, a headless browser for the dashboard).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
