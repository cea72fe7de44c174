"""Restart to green: each server binary is started on a fresh storage folder, loaded with the
same points (REST, batches of 1,000, wait=true) until green, killed with SIGKILL and started
again; prints the seconds from the second start until it answers and until the collection is
green, and the resident memory then. One JSON line per server.

    python restart.py --server ours=/path/qdrant-node --server qdrant=/tmp/qdrant --n 100000
"""

import argparse
import json
import os
import random
import signal
import subprocess
import tempfile
import time
import urllib.request


def call(url, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def start(binary, storage, port):
    env = dict(os.environ,
               QDRANT__STORAGE__STORAGE_PATH=storage,
               QDRANT__STORAGE__SNAPSHOTS_PATH=os.path.join(storage, "snapshots"),
               QDRANT__SERVICE__HTTP_PORT=str(port),
               QDRANT__SERVICE__GRPC_PORT=str(port + 1),
               QDRANT__SERVICE__HOST="127.0.0.1",
               QDRANT__TELEMETRY_DISABLED="true")
    return subprocess.Popen([binary], env=env, cwd=storage,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait(what, f, timeout=3600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if f():
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(what)


def green(url):
    return call(url, "GET", "/collections/b")["result"]["status"] == "green"


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def run(name, binary, port, n, dim):
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as storage:
        p = start(binary, storage, port)
        try:
            wait("listening", lambda: call(url, "GET", "/collections"))
            call(url, "PUT", "/collections/b",
                 {"vectors": {"size": dim, "distance": "Cosine"}})
            rnd = random.Random(1)
            centers = [[rnd.uniform(-1, 1) for _ in range(dim)] for _ in range(32)]
            for first in range(0, n, 1000):
                points = [{"id": i, "vector": [x + rnd.uniform(-0.2, 0.2)
                                               for x in centers[i % 32]]}
                          for i in range(first, min(n, first + 1000))]
                call(url, "PUT", "/collections/b/points?wait=true", {"points": points})
            t0 = time.time()
            wait("green", lambda: green(url))
            built = time.time() - t0
            time.sleep(10)  # both servers persist their index in the background
            p.send_signal(signal.SIGKILL)
            p.wait()
            t0 = time.time()
            p = start(binary, storage, port)
            wait("listening", lambda: call(url, "GET", "/collections"))
            listening = time.time() - t0
            wait("green", lambda: green(url))
            green_s = time.time() - t0
            count = call(url, "POST", "/collections/b/points/count", {"exact": True})
            print(json.dumps({"server": name, "points": count["result"]["count"],
                              "green_after_upload_s": round(built, 2),
                              "restart_listening_s": round(listening, 2),
                              "restart_green_s": round(green_s, 2),
                              "rss_mb_after_restart": rss_mb(p.pid)}), flush=True)
        finally:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", action="append", required=True, help="name=binary")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--port", type=int, default=16333)
    a = ap.parse_args()
    for name, binary in (s.split("=", 1) for s in a.server):
        run(name, binary, a.port, a.n, a.dim)


if __name__ == "__main__":
    main()
