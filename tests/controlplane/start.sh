#!/usr/bin/env bash
# Starts etcd and kube-apiserver on loopback (free ports, temp dir) and writes a kubeconfig
# with an admin token; with CONTROLPLANE_CONTROLLERS set, also kube-controller-manager
# running those controllers. Usage: tests/controlplane/start.sh BIN_DIR WORK_DIR
# Prints `KUBECONFIG=<path>` once the API server is ready; the servers stop when this
# script's process group is killed (`timeout --foreground` keeps them in it), and on their own
# after $CONTROLPLANE_TTL seconds.
# etcd skips fsync (test data only): slow disks and busy CPUs otherwise time requests out.
set -euo pipefail
bin=$1
work=$2
ttl=${CONTROLPLANE_TTL:-3600}
mkdir -p "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
openssl rsa -in "$work/sa.key" -pubout -out "$work/sa.pub" 2>/dev/null
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
echo "$token,admin,admin,system:masters" > "$work/tokens.csv"
timeout --foreground "$ttl" "$bin/etcd" --data-dir "$work/etcd" --name test \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "test=http://127.0.0.1:$peer_port" --log-level warn \
  --unsafe-no-fsync > "$work/etcd.log" 2>&1 &
timeout --foreground "$ttl" "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" --cert-dir "$work/certs" \
  --token-auth-file "$work/tokens.csv" --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$work/sa.pub" \
  --service-account-signing-key-file "$work/sa.key" --service-cluster-ip-range 10.96.0.0/24 \
  --allow-privileged=true --disable-admission-plugins ServiceAccount --endpoint-reconciler-type none > "$work/apiserver.log" 2>&1 &
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
for _ in $(seq 1 600); do
  if curl -sk -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz" 2>/dev/null | grep -q '^ok$'; then
    if [ -n "${CONTROLPLANE_CONTROLLERS:-}" ]; then
      # Only the named controllers (e.g. `statefulset`): no scheduler and no kubelet run here.
      timeout --foreground "$ttl" "$bin/kube-controller-manager" --kubeconfig "$work/kubeconfig" \
        --controllers "$CONTROLPLANE_CONTROLLERS" --leader-elect=false --secure-port 0 \
        > "$work/controller-manager.log" 2>&1 &
    fi
    echo "KUBECONFIG=$work/kubeconfig"
    exit 0
  fi
  sleep 0.2
done
echo "kube-apiserver did not become ready; see $work/apiserver.log" >&2
exit 1
