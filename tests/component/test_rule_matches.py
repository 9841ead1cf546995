"""Matches per stage rule: the worker's `journey_rule_matches_total` equals the offline
summary's `matches_by_rule`, every rule's series present from the start."""

from __future__ import annotations

import random

from pipeline.config import Settings
from pipeline.offline.runner import process_records
from pipeline.policy import event_decoder, journey_policy

from ..support import known_customers
from .cluster import PARTITIONS, Cluster, cluster_settings

RECEIVED = 2_000_000_000_000


def rule_matches(cluster: Cluster) -> dict[str, float]:
    totals: dict[str, float] = {}
    for processor, _partitions in cluster.workers:
        for metric in processor.metrics.registry.collect():
            for sample in metric.samples:
                if sample.name == "journey_rule_matches_total":
                    rule = sample.labels["rule"]
                    totals[rule] = totals.get(rule, 0) + sample.value
    return totals


def test_the_workers_rule_matches_equal_the_backtests(tmp_path):
    records = known_customers(3000, 100, seed=29, partitions=PARTITIONS, by="crc32",
                              anonymous=True)  # fmt: skip
    policy = journey_policy(Settings())
    summary = process_records([v for _k, v in records], policy, tmp_path,
                              event_decoder(Settings()), RECEIVED)  # fmt: skip
    cluster = Cluster(cluster_settings(), policy=policy)
    cluster.produce(records, by="crc32", timestamp=RECEIVED)
    cluster.start_worker({0, 1})
    cluster.start_worker({2, 3})
    assert set(rule_matches(cluster)) == {rule.id for rule in policy.rules.rules}
    cluster.drain(random.Random(3), slow=2)
    assert rule_matches(cluster) == summary.rule_matches
    assert sum(summary.rule_matches.values()) > 1000 and 0 in summary.rule_matches.values()
