#!/usr/bin/env bash
# Upsert throughput and search QPS of a 3-peer cluster vs a single node, same data, one run.
# Release binaries; every server binds loopback and is stopped on exit.
# Usage: bench/cluster.sh [extra `bench` args, e.g. --n 50000 --dim 128]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p node -p bench
bin=target/release/qdrant-node
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# start NAME HTTP P2P [args...]: a node with its own storage; cluster mode when P2P is set.
start() {
  local name=$1 http=$2 p2p=$3
  shift 3
  local env=(QDRANT__STORAGE__STORAGE_PATH="$work/$name" QDRANT__SERVICE__HOST=127.0.0.1
    QDRANT__SERVICE__HTTP_PORT="$http" QDRANT__SERVICE__GRPC_PORT=0 QDRANT__LOG_LEVEL=warn)
  if [ -n "$p2p" ]; then
    env+=(QDRANT__CLUSTER__ENABLED=true QDRANT__CLUSTER__P2P__PORT="$p2p")
  fi
  env "${env[@]}" "$bin" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$http/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "node $name did not become ready:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

start single 16333 ""
start a 16334 16435 --uri http://127.0.0.1:16435
start b 16336 16437 --bootstrap http://127.0.0.1:16435 --uri http://127.0.0.1:16437
start c 16338 16439 --bootstrap http://127.0.0.1:16435 --uri http://127.0.0.1:16439
for _ in $(seq 1 300); do
  n=$(curl -fs http://127.0.0.1:16334/cluster | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["result"]["peers"]))')
  [ "$n" = 3 ] && break
  sleep 0.1
done

echo "== single node (1 shard)"
target/release/bench rest --url http://127.0.0.1:16333 --shards 1 "$@"
echo "== 3 peers, 6 shards, replication factor 1"
target/release/bench rest --url http://127.0.0.1:16334 --collection rf1 --shards 6 "$@"
echo "== 3 peers, 6 shards, replication factor 2"
target/release/bench rest --url http://127.0.0.1:16334 --collection rf2 --shards 6 --replication-factor 2 "$@"

# Shard transfer throughput: move one shard of the rf1 collection to another peer and time it.
python3 - <<'PY'
import json, time, urllib.request
base = "http://127.0.0.1:16334/collections/rf1"
def get(path):
    return json.load(urllib.request.urlopen(base + path))["result"]
info = get("/cluster")
me = info["peer_id"]
shard = info["local_shards"][0]
other = next(r["peer_id"] for r in info["remote_shards"])
body = json.dumps({"move_shard": {"shard_id": shard["shard_id"], "from_peer_id": me, "to_peer_id": other}}).encode()
req = urllib.request.Request(base + "/cluster", data=body, method="POST", headers={"content-type": "application/json"})
t = time.time()
urllib.request.urlopen(req).read()
while True:
    c = get("/cluster")
    if not c["shard_transfers"] and all(s["shard_id"] != shard["shard_id"] for s in c["local_shards"]):
        break
    time.sleep(0.05)
secs = time.time() - t
n = shard["points_count"]
dim = json.load(urllib.request.urlopen(base))["result"]["config"]["params"]["vectors"]["size"]
print(f"== shard transfer: {n} points (dim {dim}) in {secs:.2f}s = {n/secs:.0f} points/s, {n*dim*4/secs/1e6:.1f} MB/s of vectors (includes the wait for the target's index)")
PY
