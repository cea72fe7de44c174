"""Catch-up of a replica that was down for a while under writes: `wal_delta` vs a full stream.

    python bench/catchup.py [--bin target/release/qdrant-node] [--points 20000] [--dim 128]
                            [--down 10] [--rate 1000]

Starts three nodes on loopback (stopped on exit). For each method, a collection with 3
shards on every peer (replication factor 3) gets `--points` points, then peer 3 is killed,
a writer upserts `--rate` points/s (half new ids, half overwrites) for `--down` seconds,
and peer 3 is started again. Prints the time from its restart until all its replicas are
`Active` again, and the points and bytes the recovery transfers sent (from the sources'
logs). The stream is forced by a 1 MB log (`wal_config`), which the writes overflow.
"""

import argparse
import os
import random
import re
import time

from local_cluster import Cluster, call, wait

FINISHED = re.compile(
    r"shard transfer finished.*?collection=(\w+).*?to=(\d+).*?method=\"?(\w+)\"?.*?points=(\d+).*?bytes=(\d+).*?secs=([\d.]+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def points(ids, dim, rng):
    return {"points": [{"id": i, "vector": [rng.random() for _ in range(dim)], "payload": {"i": i}} for i in ids]}


def finished(cluster, name, to):
    """(method, points, bytes, secs) of each finished transfer of `name` to peer `to`."""
    out = []
    for i in range(len(cluster.procs)):
        with open(cluster.log_path(i)) as f:
            for m in FINISHED.finditer(ANSI.sub("", f.read())):
                if m.group(1) == name and int(m.group(2)) == to:
                    out.append((m.group(3), int(m.group(4)), int(m.group(5)), float(m.group(6))))
    return out


def run(cluster, name, wal, a):
    urls, rng = cluster.urls, random.Random(7)
    body = {"vectors": {"size": a.dim, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 3}
    if wal:
        body["wal_config"] = wal
    call(urls[0], "PUT", f"/collections/{name}", body)
    for start in range(0, a.points, 1000):
        call(urls[0], "PUT", f"/collections/{name}/points?wait=true", points(range(start, start + 1000), a.dim, rng))
    away = call(urls[2], "GET", "/cluster")["result"]["peer_id"]
    cluster.kill(2)
    batch, next_id, written = 50, a.points, 0
    stop = time.time() + a.down
    while time.time() < stop:
        tick = time.time()
        ids = list(range(next_id, next_id + batch // 2)) + [rng.randrange(a.points) for _ in range(batch // 2)]
        call(urls[written // batch % 2], "PUT", f"/collections/{name}/points?wait=true", points(ids, a.dim, rng))
        next_id += batch // 2
        written += batch
        time.sleep(max(0.0, batch / a.rate - (time.time() - tick)))
    restarted = time.time()
    cluster.start(2)
    ready = time.time() - restarted

    def caught_up():
        info = call(urls[0], "GET", f"/collections/{name}/cluster")["result"]
        states = [s["state"] for s in info["local_shards"] + info["remote_shards"]]
        return not info["shard_transfers"] and len(states) == 9 and all(s == "Active" for s in states)

    wait("the replica to catch up", caught_up, seconds=300)
    took = time.time() - restarted
    count = call(urls[2], "POST", f"/collections/{name}/points/count?consistency=all", {"exact": True})["result"]["count"]
    assert count == next_id, (count, next_id)
    runs = finished(cluster, name, away)
    return written, ready, took, runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qdrant-node")
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--down", type=float, default=10)
    ap.add_argument("--rate", type=float, default=1000)
    a = ap.parse_args()
    cluster = Cluster(a.bin, log_level="info")
    try:
        load = os.getloadavg()
        print(f"load before: {load[0]:.2f}; {a.points} points x {a.dim}, peer down {a.down:.0f} s at {a.rate:.0f} points/s")
        for name, wal in [("catchup_delta", None), ("catchup_stream", {"wal_capacity_mb": 1, "wal_retain_closed": 0})]:
            written, ready, took, runs = run(cluster, name, wal, a)
            methods = sorted({r[0] for r in runs})
            sent = sum(r[1] for r in runs)
            size = sum(r[2] for r in runs)
            secs = sum(r[3] for r in runs)
            print(f"{name}: {written} points written while down; ready {ready:.1f} s and caught up {took:.1f} s "
                  "after the restart; "
                  f"{len(runs)} transfers ({', '.join(methods)}) sent {sent} points, {size / 1e6:.2f} MB in {secs:.2f} s")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
