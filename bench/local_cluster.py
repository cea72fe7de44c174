"""Starts release nodes on loopback as one cluster for the cluster benches (stopped on exit)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


def call(url, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


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


class Cluster:
    """`n` peers: node i serves REST on 17334 + 2i and p2p on 17435 + 2i."""

    def __init__(self, binary, n=3, log_level="warn"):
        self.binary, self.log_level = binary, log_level
        self.work = tempfile.mkdtemp()
        self.ports = [(17334 + 2 * i, 17435 + 2 * i) for i in range(n)]
        self.urls = [f"http://127.0.0.1:{http}" for http, _ in self.ports]
        self.procs = [None] * n
        for i in range(n):
            self.start(i)
        wait(f"{n} peers", lambda: len(call(self.urls[0], "GET", "/cluster")["result"]["peers"]) == n)

    def start(self, i):
        http, p2p = self.ports[i]
        env = dict(os.environ)
        env.update({
            "QDRANT__STORAGE__STORAGE_PATH": f"{self.work}/n{i}", "QDRANT__SERVICE__HOST": "127.0.0.1",
            "QDRANT__SERVICE__HTTP_PORT": str(http), "QDRANT__SERVICE__GRPC_PORT": "0",
            "QDRANT__LOG_LEVEL": self.log_level, "QDRANT__CLUSTER__ENABLED": "true",
            "QDRANT__CLUSTER__P2P__PORT": str(p2p),
        })
        args = ["--uri", f"http://127.0.0.1:{p2p}"]
        if i > 0:
            args += ["--bootstrap", f"http://127.0.0.1:{self.ports[0][1]}"]
        log = open(self.log_path(i), "a")
        self.procs[i] = subprocess.Popen([self.binary] + args, env=env, stdout=log, stderr=log)
        wait("readiness", lambda: urllib.request.urlopen(f"{self.urls[i]}/readyz").status == 200, seconds=600)

    def log_path(self, i):
        return f"{self.work}/n{i}.log"

    def kill(self, i):
        self.procs[i].kill()
        self.procs[i].wait()

    def stop(self):
        for p in self.procs:
            if p and p.poll() is None:
                p.terminate()
        for p in self.procs:
            if p:
                p.wait()
        shutil.rmtree(self.work, ignore_errors=True)
