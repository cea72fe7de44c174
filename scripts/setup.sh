#!/usr/bin/env bash
# Installs what the tests need besides the toolchains (Rust, Go, Python 3): the build
# prerequisites, openssl, curl, headless Chromium and chromedriver, the Python virtualenv (.venv) with the real qdrant-client
# and the chart checkers, etcd/kube-apiserver/kube-controller-manager built from Go modules
# and kubectl/helm. Every step is skipped when already done. Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh --tests
# The compatibility tests use the real qdrant-client from PyPI; the chart tests validate
# rendered manifests with kubernetes-validate and checkov.
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.requirements
want=$(cat tests/python/requirements.txt tests/python/requirements-k8s.txt | sha256sum)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q -r tests/python/requirements.txt -r tests/python/requirements-k8s.txt
  echo "$want" > "$stamp"
fi
# The operator tests run against a real control plane built from Go modules (cached).
bash tests/controlplane/build.sh >/dev/null
scripts/install-k8s-tools.sh >/dev/null
