"""Write throughput of a 3-peer cluster by write ordering (weak, medium, strong).

    python bench/ordering.py [--bin target/release/qdrant-node] [--seconds 15] [--dim 128]

Starts three release nodes on loopback (stopped on exit), creates one collection per
ordering (3 shards, replication factor 2) and runs one writer per peer, each upserting its
own batches of 100 points with wait=true, for the given time. Prints points/s per ordering.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def call(url, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def start(binary, work, name, http, p2p, args):
    env = dict(os.environ)
    env.update({
        "QDRANT__STORAGE__STORAGE_PATH": f"{work}/{name}", "QDRANT__SERVICE__HOST": "127.0.0.1",
        "QDRANT__SERVICE__HTTP_PORT": str(http), "QDRANT__SERVICE__GRPC_PORT": "0",
        "QDRANT__LOG_LEVEL": "warn", "QDRANT__CLUSTER__ENABLED": "true",
        "QDRANT__CLUSTER__P2P__PORT": str(p2p),
    })
    log = open(f"{work}/{name}.log", "w")
    return subprocess.Popen([binary] + args, env=env, stdout=log, stderr=log)


def wait(what, check, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def run(urls, ordering, seconds, dim):
    name = f"bench_{ordering}"
    call(urls[0], "PUT", f"/collections/{name}", {
        "vectors": {"size": dim, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 2})
    written = [0] * len(urls)
    stop = time.time() + seconds

    def writer(k):
        rng = random.Random(k)
        next_id = k * 10_000_000
        while time.time() < stop:
            pts = [{"id": next_id + i, "vector": [rng.random() for _ in range(dim)]} for i in range(100)]
            call(urls[k], "PUT", f"/collections/{name}/points?wait=true&ordering={ordering}", {"points": pts})
            next_id += 100
            written[k] += 100

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(len(urls))]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = sum(written) / (time.time() - started)
    count = call(urls[0], "POST", f"/collections/{name}/points/count?consistency=all", {"exact": True})
    assert count["result"]["count"] == sum(written), (count, sum(written))
    return rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qdrant-node")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--dim", type=int, default=128)
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    procs = []
    try:
        ports = [(17334, 17435), (17336, 17437), (17338, 17439)]
        first = f"http://127.0.0.1:{ports[0][1]}"
        for i, (http, p2p) in enumerate(ports):
            args = ["--uri", f"http://127.0.0.1:{p2p}"] + ([] if i == 0 else ["--bootstrap", first])
            procs.append(start(a.bin, work, f"n{i}", http, p2p, args))
            wait("readiness", lambda: urllib.request.urlopen(f"http://127.0.0.1:{http}/readyz").status == 200)
        urls = [f"http://127.0.0.1:{http}" for http, _ in ports]
        wait("3 peers", lambda: len(call(urls[0], "GET", "/cluster")["result"]["peers"]) == 3)
        load = os.getloadavg()
        print(f"load before: {load[0]:.2f}, {len(urls)} writers, batches of 100 x {a.dim}, {a.seconds:.0f} s each")
        for ordering in ["weak", "medium", "strong"]:
            print(f"{ordering:>7}: {run(urls, ordering, a.seconds, a.dim):8.0f} points/s")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
