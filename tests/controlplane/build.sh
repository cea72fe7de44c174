#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from Go modules into a cache folder, for tests that need a
# real Kubernetes API server on loopback (as controller-runtime's envtest does).
# Usage: tests/controlplane/build.sh [CACHE_DIR]   (default: ~/.cache/qdrant-node/controlplane)
# Prints the folder holding the binaries. Cached builds are reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=${K8S_VERSION:-v1.34.4}
# The "-r3" suffix names the build recipe: change it when the recipe changes.
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/qdrant-node/controlplane/$K8S_VERSION-r3}
if [ -x "$cache/kube-apiserver" ] && [ -x "$cache/kube-controller-manager" ] && [ -x "$cache/etcd" ]; then
  echo "$cache"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Go's module and build caches for k8s.io/kubernetes take 3-4 GB: keep them in the temporary
# folder, removed after the build, so only the three binaries stay on disk.
export GOCACHE="$work/gocache" GOMODCACHE="$work/gomod" GOFLAGS=-modcacherw
mkdir "$work/src"
cp "$here/etcd.go" "$here/tools.go" "$work/src/"
cd "$work/src"
staging="v0.${K8S_VERSION#v1.}"
# k8s.io/kubernetes points its staging modules at ./staging; as a dependency those lines are
# ignored, so pin every k8s.io module it requires at v0.0.0 to the matching release.
modfile=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
{
  echo "module qdrant-node/controlplane"
  echo
  echo "go 1.24"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$modfile" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
} > go.mod
go mod tidy >&2
# Built as a module dependency there is no git stamp: set the version the server reports
# (Helm checks charts' kubeVersion against it).
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$cache/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$cache/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager >&2
CGO_ENABLED=0 go build -o "$cache/etcd" . >&2
echo "$cache"
