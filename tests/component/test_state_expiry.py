"""Bounded state in the stream as in `journey process`: the same journeys removed, the same
decisions before and after, tombstones in the changelog."""

from __future__ import annotations

import random
from dataclasses import replace

from pipeline.config import Settings
from pipeline.domain import Count, JourneyPolicy
from pipeline.offline.runner import process_records
from pipeline.policy import event_decoder

from ..support import DAY, known_customers, offline_decisions
from .cluster import Cluster, cluster_settings

RECEIVED = 2_000_000_000_000


def test_removed_journeys_and_decisions_agree_with_the_oracle(tmp_path):
    records = known_customers(4000, 200, seed=29, anonymous=True, by="crc32")
    policy = replace(JourneyPolicy(), anonymous_ttl_ms=2 * DAY)
    summary = process_records([v for _k, v in records], policy, tmp_path,
                              event_decoder(Settings()), RECEIVED)  # fmt: skip
    removed_offline = summary.core[Count.EXPIRED]
    assert removed_offline > 50, "two weeks of visitors: many anonymous journeys go"

    cluster = Cluster(cluster_settings(), policy=policy)
    cluster.produce(records, by="crc32", timestamp=RECEIVED)
    cluster.start_worker({0, 1})
    cluster.start_worker({2, 3})
    cluster.drain(random.Random(11), slow=0)
    assert cluster.decisions() == offline_decisions(tmp_path)
    removed_online = sum(
        processor.metrics.core.labels(Count.EXPIRED)._value.get()
        for processor, _partitions in cluster.workers
    )
    assert removed_online == removed_offline
    held = sum(len(p.engine.states) for processor, _ in cluster.workers
               for p in processor.assigned.values())  # fmt: skip
    journeys_in_changelog = [k for k in cluster.state() if not k.startswith(b"\x00")]
    assert len(journeys_in_changelog) == held, "removed journeys are tombstoned"
