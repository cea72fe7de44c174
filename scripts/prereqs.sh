#!/usr/bin/env bash
# Checks what building the node needs besides Rust: a C++ compiler and libclang (RocksDB is
# compiled from source and its bindings are generated with bindgen); with --tests also what
# the tests need (openssl, curl, headless Chromium and chromedriver). As root with apt-get the
# missing Debian/Ubuntu packages are installed; otherwise one line says what to install, and
# this exits 1 before any long build starts (also with PREREQS_NO_INSTALL set).
# Usage: scripts/prereqs.sh [--tests]
set -euo pipefail
need=()
# The names clang-sys loads: libclang.so or libclang-<version>.so (libclang-cpp is another
# library, and a versioned .so.N alone comes without the -dev package's link).
# PREREQS_LIBCLANG_DIRS replaces the directories searched (for tests).
have_libclang() {
  local d f
  for d in ${PREREQS_LIBCLANG_DIRS:-${LIBCLANG_PATH:-} /usr/lib/llvm-*/lib /usr/lib/*-linux-gnu /usr/lib64}; do
    for f in "$d"/libclang.so "$d"/libclang-[0-9]*.so; do
      [ -e "$f" ] && return 0
    done
  done
  return 1
}
have_libclang || need+=(libclang-dev clang)
command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null || need+=(g++)
if [ "${1:-}" = --tests ]; then
  command -v openssl >/dev/null || need+=(openssl)
  command -v curl >/dev/null || need+=(curl)
  # The dashboard test drives a headless Chromium through chromedriver (Selenium).
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${PREREQS_NO_INSTALL:-}" ]; then
  echo "installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  exit 0
fi
echo "missing prerequisites; install them first: sudo apt-get install ${need[*]}" \
  "(Fedora: sudo dnf install clang-devel gcc-c++; macOS: xcode-select --install)" >&2
exit 1
