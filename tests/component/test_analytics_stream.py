"""The analytics of the stream equal `journey process`'s, window by window: records come in
parts (one per partition), each part's latest record summed; also across a crash and a
recovery of the analytics windows from the changelog."""

from __future__ import annotations

import random

import pytest

from pipeline.config import Settings
from pipeline.offline.runner import process_records
from pipeline.policy import event_decoder, journey_policy
from pipeline.topics import OUTPUT_TOPICS

from ..support import (
    analytics_windows,
    assert_settled_windows_equal,
    known_customers,
    offline_analytics,
    settled,
)
from .cluster import PARTITIONS, Cluster, cluster_settings

RECEIVED = 2_000_000_000_000


def online(cluster: Cluster) -> dict:
    return analytics_windows({o: cluster.output(t) for o, t in OUTPUT_TOPICS.items()
                              if o in ("paths", "funnels", "voc")})  # fmt: skip


def settled_before(cluster: Cluster) -> int:
    """The time before which every window is written as it will stay (see `settled`)."""
    nows = [a.engine.now for p, _ in cluster.workers for a in p.assigned.values()]
    return settled(min(nows))


@pytest.mark.parametrize("by", ["murmur2", "crc32"])
def test_the_streams_analytics_equal_the_offline_ones_window_by_window(by, tmp_path):
    records = known_customers(4000, 120, seed=17, partitions=PARTITIONS, by=by, anonymous=True)
    policy = journey_policy(Settings())
    process_records([v for _k, v in records], policy, tmp_path, event_decoder(Settings()), RECEIVED)
    offline = offline_analytics(tmp_path)
    cluster = Cluster(cluster_settings("murmur2"), policy=policy)
    cluster.produce(records, by=by, timestamp=RECEIVED)
    cluster.start_worker({0, 1})
    cluster.start_worker({2, 3})
    cluster.drain(random.Random(5), slow=1)
    compared = assert_settled_windows_equal(online(cluster), offline, settled_before(cluster))
    assert compared > 100


def test_a_crash_loses_and_doubles_no_analytics(tmp_path):
    records = known_customers(4000, 120, seed=19, partitions=PARTITIONS, by="crc32")
    policy = journey_policy(Settings())
    process_records([v for _k, v in records], policy, tmp_path, event_decoder(Settings()), RECEIVED)
    cluster = Cluster(cluster_settings(), policy=policy)
    cluster.produce(records, by="crc32", timestamp=RECEIVED)
    first = cluster.start_worker({0, 1, 2, 3})
    rng = random.Random(2)
    for _ in range(60):
        for topic, partition in cluster.backlog(first)[:3]:
            cluster.read(first, topic, partition, rng.randrange(1, 200))
    cluster.crash(first)
    cluster.start_worker({0, 1, 2, 3})
    cluster.drain(rng)
    compared = assert_settled_windows_equal(
        online(cluster), offline_analytics(tmp_path), settled_before(cluster)
    )
    assert compared > 100
