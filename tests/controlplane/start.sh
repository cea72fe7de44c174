#!/usr/bin/env bash
# Starts etcd and kube-apiserver on loopback (free ports, temp dir) and writes a kubeconfig
# with an admin token; with CONTROLPLANE_CONTROLLERS set, also kube-controller-manager
# running those controllers. Usage: tests/controlplane/start.sh BIN_DIR WORK_DIR
# Prints `KUBECONFIG=<path>` once the API server is ready (up to three tries on fresh ports,
# each bounded by $CONTROLPLANE_START_TIMEOUT seconds); the servers stop when this script's
# process group is killed (`timeout --foreground` keeps them in it), and on their own after
# $CONTROLPLANE_TTL seconds.
# etcd skips fsync (test data only): slow disks and busy CPUs otherwise time requests out.
set -euo pipefail
bin=$1
work=$2
ttl=${CONTROLPLANE_TTL:-3600}
mkdir -p "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
openssl rsa -in "$work/sa.key" -pubout -out "$work/sa.pub" 2>/dev/null
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
echo "$token,admin,admin,system:masters" > "$work/tokens.csv"

# One try: etcd and kube-apiserver on fresh ports. Returns 0 once the API server is ready,
# 1 if either process exited (a port taken between choosing and binding it, for one) or
# the deadline passed; the servers of a failed try are stopped.
try_start() {
  local etcd_port peer_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  rm -rf "$work/etcd"
  timeout --foreground "$ttl" "$bin/etcd" --data-dir "$work/etcd" --name test \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "test=http://127.0.0.1:$peer_port" --log-level warn \
    --unsafe-no-fsync > "$work/etcd.log" 2>&1 &
  local etcd_pid=$!
  timeout --foreground "$ttl" "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" --cert-dir "$work/certs" \
    --token-auth-file "$work/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$work/sa.pub" \
    --service-account-signing-key-file "$work/sa.key" --service-cluster-ip-range 10.96.0.0/24 \
    --allow-privileged=true --disable-admission-plugins ServiceAccount --endpoint-reconciler-type none > "$work/apiserver.log" 2>&1 &
  local api_pid=$!
  local deadline=$((SECONDS + ${CONTROLPLANE_START_TIMEOUT:-180}))
  while [ $SECONDS -lt $deadline ]; do
    if curl -sk -m 5 -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz" 2>/dev/null | grep -q '^ok$'; then
      return 0
    fi
    if ! kill -0 $etcd_pid 2>/dev/null || ! kill -0 $api_pid 2>/dev/null; then
      echo "etcd or kube-apiserver exited while starting" >&2
      break
    fi
    sleep 0.2
  done
  echo "--- etcd.log"; tail -n 15 "$work/etcd.log"; echo "--- apiserver.log"; tail -n 25 "$work/apiserver.log"
  kill $etcd_pid $api_pid 2>/dev/null || true
  wait $etcd_pid $api_pid 2>/dev/null || true
  return 1
} >&2

ready=
for attempt in 1 2 3; do
  if try_start; then ready=1; break; fi
  echo "control plane try $attempt failed" >&2
done
if [ -z "$ready" ]; then
  echo "kube-apiserver did not become ready; see $work/apiserver.log" >&2
  exit 1
fi
cat > "$work/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$api_port
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $token
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
KC
if [ -n "${CONTROLPLANE_CONTROLLERS:-}" ]; then
  # Only the named controllers (e.g. `statefulset`): no scheduler and no kubelet run here.
  timeout --foreground "$ttl" "$bin/kube-controller-manager" --kubeconfig "$work/kubeconfig" \
    --controllers "$CONTROLPLANE_CONTROLLERS" --leader-elect=false --secure-port 0 \
    > "$work/controller-manager.log" 2>&1 &
fi
echo "KUBECONFIG=$work/kubeconfig"
