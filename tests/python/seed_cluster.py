"""The seed document's distributed examples with the real qdrant-client, against a cluster.

The seed passes `name=` and `write_concern_factor=`; qdrant-client 1.19 names them
`collection_name=` and `write_consistency_factor=` (it refuses unknown arguments), so those
two keywords are the only change. Usage: seed_cluster.py URL [URL...]
"""

import random
import sys
import warnings

from qdrant_client import QdrantClient
from qdrant_client.http import models

warnings.simplefilter("ignore", DeprecationWarning)
urls = sys.argv[1:]
client = QdrantClient(url=urls[0], prefer_grpc=False, timeout=60)

client.recreate_collection(
    collection_name="example_collection",
    vectors_config=models.VectorParams(size=300, distance=models.Distance.COSINE),
    shard_number=6,
    replication_factor=2,
    write_consistency_factor=2,
)

rng = random.Random(7)
points = [
    models.PointStruct(id=i, vector=[rng.random() for _ in range(300)], payload={"n": i})
    for i in range(300)
]
client.upsert("example_collection", points=points, wait=True)

cfg = client.get_collection("example_collection").config.params
assert cfg.shard_number == 6, cfg
assert cfg.replication_factor == 2, cfg
assert cfg.write_consistency_factor == 2, cfg

for url in urls:
    peer = QdrantClient(url=url, prefer_grpc=False, timeout=60)
    assert peer.count("example_collection", exact=True).count == 300, url
    hits = peer.query_points("example_collection", query=points[5].vector, limit=3).points
    assert hits[0].id == 5, hits
    got = peer.retrieve("example_collection", ids=[1, 150, 299], with_payload=True)
    assert sorted(p.payload["n"] for p in got) == [1, 150, 299], got
    info = peer.http.distributed_api.collection_cluster_info("example_collection").result
    replicas = len(info.local_shards) + len(info.remote_shards)
    assert info.shard_count == 6 and replicas == 12, info
    assert all(s.state == models.ReplicaState.ACTIVE for s in info.local_shards), info

print("seed examples passed")
