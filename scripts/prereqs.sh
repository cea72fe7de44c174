#!/usr/bin/env bash
# Checks what building the node needs besides Rust: a C++ compiler and libclang (RocksDB is
# compiled from source and its bindings are generated with bindgen). As root with apt-get the
# missing Debian/Ubuntu packages are installed; otherwise one line says what to install, and
# this exits 1 before any long build starts (also with PREREQS_NO_INSTALL set).
# Usage: scripts/prereqs.sh
set -euo pipefail
need=()
have_libclang() {
  local f
  for f in "${LIBCLANG_PATH:-/nonexistent}"/libclang*.so* /usr/lib/llvm-*/lib/libclang*.so* \
    /usr/lib/*-linux-gnu/libclang*.so* /usr/lib64/libclang*.so*; do
    [ -e "$f" ] && return 0
  done
  return 1
}
have_libclang || need+=(libclang-dev clang)
command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null || need+=(g++)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${PREREQS_NO_INSTALL:-}" ]; then
  echo "installing ${need[*]} (needed to build RocksDB)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  exit 0
fi
echo "missing build prerequisites; install them first: sudo apt-get install ${need[*]}" \
  "(Fedora: sudo dnf install clang-devel gcc-c++; macOS: xcode-select --install)" >&2
exit 1
