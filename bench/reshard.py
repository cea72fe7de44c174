"""Time of live resharding steps, with and without a writer.

    python bench/reshard.py [--bin target/release/qdrant-node] [--points 100000] [--dim 128]
                            [--shards 3] [--steps up,up,down] [--rate 500]

Starts three nodes on loopback (stopped on exit), loads `--points` points into a collection of
`--shards` shards (replication factor 1), then runs each step of `--steps` with
`start_resharding` while a writer upserts new points at `--rate` points/s. Prints each step's
time (start to the end of cleanup), the points its transfers copied (from the sources' logs),
and checks at the end that every acknowledged point is found.
"""

import argparse
import os
import random
import re
import threading
import time

from local_cluster import Cluster, call, wait

FINISHED = re.compile(r"shard transfer finished.*?collection=(\w+).*?points=(\d+).*?secs=([\d.]+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def points(ids, dim, rng):
    return {"points": [{"id": i, "vector": [rng.random() for _ in range(dim)], "payload": {"i": i}} for i in ids]}


def copied(cluster):
    """Points copied by every finished transfer so far."""
    total = 0
    for i in range(len(cluster.procs)):
        with open(cluster.log_path(i)) as f:
            total += sum(int(m.group(2)) for m in FINISHED.finditer(ANSI.sub("", f.read())))
    return total


class Writer(threading.Thread):
    def __init__(self, urls, dim, rate, first):
        super().__init__(daemon=True)
        self.urls, self.dim, self.rate, self.next, self.stop = urls, dim, rate, first, False
        self.first, self.retries = first, 0

    def run(self):
        rng, batch, turn = random.Random(3), 50, 0
        while not self.stop:
            tick = time.time()
            try:
                call(self.urls[turn % len(self.urls)], "PUT", "/collections/r/points?wait=true",
                     points(range(self.next, self.next + batch), self.dim, rng))
                self.next += batch
            except OSError:
                self.retries += 1
            turn += 1
            time.sleep(max(0.0, batch / self.rate - (time.time() - tick)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qdrant-node")
    ap.add_argument("--points", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--steps", default="up,up,down")
    ap.add_argument("--rate", type=float, default=500)
    a = ap.parse_args()
    cluster = Cluster(a.bin, log_level="info")
    urls, rng = cluster.urls, random.Random(7)
    try:
        print(f"load before: {os.getloadavg()[0]:.2f}; {a.points} points x {a.dim}, {a.shards} shards")
        call(urls[0], "PUT", "/collections/r", {"vectors": {"size": a.dim, "distance": "Cosine"},
                                                 "shard_number": a.shards})
        for start in range(0, a.points, 1000):
            call(urls[0], "PUT", "/collections/r/points?wait=true", points(range(start, start + 1000), a.dim, rng))
        writer = Writer(urls, a.dim, a.rate, 10_000_000)
        writer.start()
        for step in a.steps.split(","):
            before, started = copied(cluster), time.time()
            call(urls[1], "POST", "/collections/r/cluster", {"start_resharding": {"direction": step}})

            def idle():
                info = call(urls[0], "GET", "/collections/r/cluster")["result"]
                return not info.get("resharding_operations") and not info["shard_transfers"]

            wait("the resharding step", idle, seconds=1800)
            took = time.time() - started
            shards = call(urls[0], "GET", "/collections/r")["result"]["config"]["params"]["shard_number"]
            print(f"{step}: {took:.1f} s to {shards} shards; copied {copied(cluster) - before} points; "
                  f"load {os.getloadavg()[0]:.2f}")
        writer.stop = True
        writer.join()
        want = a.points + (writer.next - writer.first)
        count = call(urls[2], "POST", "/collections/r/points/count", {"exact": True})["result"]["count"]
        print(f"writer: {writer.next - writer.first} points acknowledged, {writer.retries} retried batches; "
              f"count {count} of {want}")
        assert count == want, (count, want)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
