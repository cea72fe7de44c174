"""User-defined shard keys with the real qdrant-client, over REST and then gRPC:

    python shard_keys.py http://127.0.0.1:PORT GRPC_PORT

Creates a custom-sharded collection, its keys, writes and reads by key, lists and drops
keys, as an application using Qdrant's custom sharding does.
"""

import random
import sys

from qdrant_client import QdrantClient, models

url, grpc_port = sys.argv[1], int(sys.argv[2])
rng = random.Random(3)


def vec():
    return [rng.uniform(-1, 1) for _ in range(4)]


def check(client, name):
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        sharding_method=models.ShardingMethod.CUSTOM,
        shard_number=1,
        replication_factor=2,
    )
    assert client.create_shard_key(name, "red")
    assert client.create_shard_key(name, 5, shards_number=2)
    keys = [k.key for k in client.list_shard_keys(name).shard_keys]
    assert keys == ["red", 5], keys
    reds = [models.PointStruct(id=i, vector=vec(), payload={"c": "red"}) for i in range(1, 21)]
    fives = [models.PointStruct(id=i, vector=vec(), payload={"c": 5}) for i in range(1, 11)]
    client.upsert(name, reds, shard_key_selector="red", wait=True)
    client.upsert(name, fives, shard_key_selector=5, wait=True)
    assert client.count(name, shard_key_selector="red").count == 20
    assert client.count(name, shard_key_selector=[5]).count == 10
    assert client.count(name).count == 30
    hits = client.query_points(name, query=vec(), limit=3, shard_key_selector=5).points
    assert len(hits) == 3 and all(h.shard_key == 5 for h in hits), hits
    page, _ = client.scroll(name, limit=50, shard_key_selector="red", with_payload=True)
    assert len(page) == 20 and all(p.shard_key == "red" for p in page), page
    got = client.retrieve(name, ids=[3], shard_key_selector=5, with_payload=True)
    assert [p.payload["c"] for p in got] == [5], got
    client.delete(name, models.PointIdsList(points=[1, 2]), shard_key_selector="red", wait=True)
    assert client.count(name, shard_key_selector="red").count == 18
    assert client.count(name, shard_key_selector=5).count == 10
    assert client.delete_shard_key(name, 5)
    assert [k.key for k in client.list_shard_keys(name).shard_keys] == ["red"]
    assert client.count(name).count == 18
    client.delete_collection(name)


check(QdrantClient(url=url, timeout=30), "keys_rest")
check(QdrantClient(url=url, timeout=30, prefer_grpc=True, grpc_port=grpc_port), "keys_grpc")
print("all checks passed")
