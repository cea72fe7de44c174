#!/usr/bin/env bash
# Installs what the tests need besides the toolchains (Rust, Go, Python 3): the build
# prerequisites, openssl, curl, headless Chromium and chromedriver, the Python virtualenv (.venv) with the real qdrant-client
# and the chart checkers, etcd/kube-apiserver/kube-controller-manager built from Go modules
# and kubectl/helm. Every step is skipped when already done. Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
# The dashboard test drives a headless Chromium through chromedriver (Selenium).
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing test prerequisites; install them first: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
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
