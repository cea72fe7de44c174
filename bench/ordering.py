"""Write throughput of a 3-peer cluster by write ordering (weak, medium, strong).

    python bench/ordering.py [--bin target/release/qdrant-node] [--seconds 15] [--dim 128]

Starts three release nodes on loopback (stopped on exit), creates one collection per
ordering (3 shards, replication factor 2) and runs one writer per peer, each upserting its
own batches of 100 points with wait=true, for the given time. Prints points/s per ordering.
"""

import argparse
import os
import random
import threading
import time

from local_cluster import Cluster, call


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
    cluster = Cluster(a.bin)
    try:
        urls = cluster.urls
        load = os.getloadavg()
        print(f"load before: {load[0]:.2f}, {len(urls)} writers, batches of 100 x {a.dim}, {a.seconds:.0f} s each")
        for ordering in ["weak", "medium", "strong"]:
            print(f"{ordering:>7}: {run(urls, ordering, a.seconds, a.dim):8.0f} points/s")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
