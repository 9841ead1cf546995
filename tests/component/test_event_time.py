"""The worker's processing against `journey process` with no broker: any producer
partitioner, partitions read at uneven speeds (one far behind), several workers, a
crash and recovery from the changelog. Decisions must be the oracle's exactly."""

from __future__ import annotations

import base64
import random

import orjson
import pytest

from pipeline.domain import Reason
from pipeline.topics import DEAD_LETTER, EVENTS
from pipeline.worker.routing import PARTITIONERS

from ..support import (
    HOUR,
    MINUTE,
    clock_events,
    known_customers,
    offline_expectation,
    shuffled,
)
from .cluster import PARTITIONS, Cluster, cluster_settings


def late_letters(cluster: Cluster) -> int:
    return sum(d["reason"] == Reason.LATE for d in cluster.output(DEAD_LETTER))


@pytest.mark.parametrize("producer", ["murmur2", "crc32", "fnv1a"])
@pytest.mark.parametrize("setting", ["murmur2", "crc32"])
def test_any_partitioner_any_setting_and_a_slow_partition_give_the_oracles_decisions(
    producer, setting, tmp_path
):
    records = known_customers(3000, 150, seed=5, partitions=PARTITIONS, by=producer)
    cluster = Cluster(cluster_settings(setting))
    cluster.produce(records, by=producer, timestamp=2_000_000_000_000)
    cluster.start_worker({0, 1})
    cluster.start_worker({2, 3})
    cluster.drain(random.Random(7), slow=1)
    expected = offline_expectation(records, tmp_path)
    assert sum(map(len, expected.values())) > 500
    assert cluster.decisions() == expected
    assert late_letters(cluster) == 0


def test_identity_stitches_across_partitions_read_unevenly(tmp_path):
    records = known_customers(3000, 150, seed=9, partitions=PARTITIONS, by="crc32", anonymous=True)
    cluster = Cluster(cluster_settings())
    cluster.produce(records, by="crc32", timestamp=2_000_000_000_000)
    for partition in range(PARTITIONS):
        cluster.start_worker({partition})
    cluster.drain(random.Random(3), slow=2)
    assert cluster.decisions() == offline_expectation(records, tmp_path)


def crash_and_recover(
    cluster: Cluster, records, seed: int, reads: int, tmp_path, crashes: int = 1
) -> None:
    """A worker reads part of the input, dies with its unpublished work, and another one
    recovers from the changelog (`crashes` times over) and finishes: every decision is the
    oracle's (a redelivery may repeat a record, never change or lose one)."""
    cluster.produce(records, by="crc32", timestamp=2_000_000_000_000)
    worker = cluster.start_worker({0, 1, 2, 3})
    rng = random.Random(seed)
    for _ in range(crashes):
        for _ in range(reads):
            for topic, partition in cluster.backlog(worker)[:3]:
                cluster.read(worker, topic, partition, rng.randrange(1, 200))
        cluster.crash(worker)
        worker = cluster.start_worker({0, 1, 2, 3})
    cluster.drain(rng)
    got, expected = cluster.decisions(), offline_expectation(records, tmp_path)
    for topic in expected:
        assert set(got[topic]) == set(expected[topic])


def test_a_crash_and_a_recovery_from_the_changelog_lose_and_add_no_decision(tmp_path):
    records = known_customers(4000, 200, seed=13, partitions=PARTITIONS, by="crc32")
    crash_and_recover(Cluster(cluster_settings("murmur2")), records, 1, 40, tmp_path)


def test_an_event_from_a_clock_in_the_future_moves_no_watermark(tmp_path):
    records = known_customers(1500, 80, seed=17, partitions=PARTITIONS)
    received = 1_767_225_600_000 + 60 * 24 * HOUR
    wrong = {"event_id": "from-2099", "event_type": "cart_item_added",
             "occurred_at": "2099-06-01T00:00:00Z", "customer_id": "c-0000001"}  # fmt: skip
    middle = len(records) // 2
    records = [*records[:middle], ("c-0000001", orjson.dumps(wrong)), *records[middle:]]
    cluster = Cluster(cluster_settings())
    cluster.produce(records, by="murmur2", timestamp=received)
    cluster.start_worker({0, 1, 2, 3})
    cluster.drain(random.Random(2))
    [letter] = [d for d in cluster.output(DEAD_LETTER) if d["reason"] == "future_timestamp"]
    assert letter["event_id"] is None and letter["offset"] is not None
    assert late_letters(cluster) == 0
    assert cluster.decisions() == offline_expectation(records, tmp_path, received_at=received)


def test_a_dead_letter_after_the_route_hop_carries_the_record_as_produced():
    cluster = Cluster(cluster_settings("murmur2"))
    at = 1_767_225_600_000
    cluster.produce(clock_events(at, PARTITIONS), by="murmur2", timestamp=at)
    cluster.start_worker({0, 1, 2, 3})
    cluster.drain(random.Random(4))  # every partition's watermark is at `at` now
    key = next(f"k{n}" for n in range(99) if PARTITIONERS["crc32"](f"k{n}".encode(), 4) == 3
               and PARTITIONERS["murmur2"](f"k{n}".encode(), 4) != 3)  # fmt: skip
    raw = b'{"event_id": "late-1",  "event_type": "page_viewed", "anonymous_id": "%s",' % (
        key.encode()
    ) + b' "occurred_at": %d}' % (at - 2 * HOUR)
    cluster.produce([(key, raw)], by="crc32", timestamp=at)
    cluster.drain(random.Random(5))
    [letter] = [d for d in cluster.output(DEAD_LETTER) if d["reason"] == Reason.LATE]
    assert base64.b64decode(letter["original"]) == raw, "the bytes as produced, not re-encoded"
    original = cluster.topics[EVENTS, 3][-1]
    assert original.value == raw
    assert (letter["topic"], letter["partition"], letter["offset"]) == (EVENTS, 3, original.offset)
    assert letter["event_id"] == "late-1" and letter["journey_key"] == key


@pytest.mark.parametrize("seed", [1, 2])
def test_input_out_of_order_within_the_allowed_disorder_gives_the_oracles_decisions(seed, tmp_path):
    ordered = known_customers(3000, 150, 61, PARTITIONS, "crc32", anonymous=True)
    records = shuffled(ordered, seed, PARTITIONS)
    cluster = Cluster(cluster_settings().model_copy(update={"max_disorder": 5 * MINUTE}))
    cluster.produce(records, by="crc32", timestamp=2_000_000_000_000)
    for partition in range(PARTITIONS):
        cluster.start_worker({partition})
    cluster.drain(random.Random(seed), slow=seed)
    expected = offline_expectation(records, tmp_path)
    assert cluster.decisions() == expected
    assert late_letters(cluster) == 0


@pytest.mark.parametrize(
    ("seed", "disorder", "reads", "crashes"),
    [(1, 0, 15, 3), (5, 5, 15, 3), (8, 5, 15, 3), (3, 5, 8, 8)],
)
def test_workers_killed_with_their_publishing_half_done_lose_no_decision(
    seed, disorder, reads, crashes, tmp_path
):
    """A killed worker's publisher may have delivered its messages and part of a round of
    state writes: a customer's journey waiting for an anonymous one without the anonymous
    one's move, a state ahead of its input position, a journey moved twice, the second time
    with events held since. Recovery takes the last whole round; what the state backs (a
    journey moving to its customer, an event-time mark) goes once it is written, and a
    move goes again after a recovery."""
    records = known_customers(3000, 150, seed, PARTITIONS, "crc32", True, identify_once=0.3)
    settings = cluster_settings("murmur2")
    if disorder:
        records = shuffled(records, seed, PARTITIONS)
        settings = cluster_settings("crc32").model_copy(update={"max_disorder": disorder * MINUTE})
    cluster = Cluster(settings, in_flight=random.Random(seed))
    crash_and_recover(cluster, records, seed, reads, tmp_path, crashes=crashes)


def test_held_events_survive_a_crash(tmp_path):
    records = shuffled(known_customers(3000, 150, 67, PARTITIONS, "crc32", anonymous=True), 3, 4)
    cluster = Cluster(cluster_settings("crc32").model_copy(update={"max_disorder": 5 * MINUTE}))
    crash_and_recover(cluster, records, 5, 30, tmp_path)


def test_a_source_idle_when_its_reader_died_holds_time_back_once_records_arrive(tmp_path):
    """The reader of inputs 2 and 3 goes idle (caught up), dies, and records arrive there
    (anonymous visitors who then log in on other partitions) before a new reader takes
    them over: the other partitions must not move on as if 2 and 3 were still empty."""
    records = known_customers(3000, 150, seed=29, partitions=PARTITIONS, by="crc32", anonymous=True)
    split = len(records) // 3
    cluster = Cluster(cluster_settings("crc32"))
    cluster.produce(records[:split], by="crc32", timestamp=2_000_000_000_000)
    cluster.start_worker({0, 1})
    doomed = cluster.start_worker({2, 3})
    cluster.drain(random.Random(1))
    cluster.crash(doomed)
    cluster.produce(records[split:], by="crc32", timestamp=2_000_000_000_000)
    cluster.drain(random.Random(2))  # partitions 2 and 3 have no reader meanwhile
    cluster.start_worker({2, 3})
    cluster.drain(random.Random(3))
    assert cluster.decisions() == offline_expectation(records, tmp_path)
    assert late_letters(cluster) == 0


def test_a_burst_on_inputs_counted_idle_is_not_passed_by_the_records_read_first(tmp_path):
    """Every input caught up and idle, the reader of inputs 2 and 3 dies, and a burst of
    older journeys arrives everywhere: the survivor reads all of its own input 0 before
    anything else, and the end offsets it asks before each batch keep 1, 2 and 3 holding
    time back (counted idle on end offsets asked before the burst, they let input 0 carry
    the watermark to its last event and close sessions stitches were still to reach)."""
    records = known_customers(3000, 150, seed=29, partitions=PARTITIONS, by="crc32", anonymous=True)
    split = len(records) // 3
    cluster = Cluster(cluster_settings("crc32"))
    cluster.produce(records[:split], by="crc32", timestamp=2_000_000_000_000)
    survivor = cluster.start_worker({0, 1})
    doomed = cluster.start_worker({2, 3})
    cluster.drain(random.Random(1))
    cluster.crash(doomed)
    cluster.produce(records[split:], by="crc32", timestamp=2_000_000_000_000)
    while cluster.read(survivor, EVENTS, 0, 100):
        pass
    cluster.start_worker({2, 3})
    cluster.drain(random.Random(2))
    assert cluster.decisions() == offline_expectation(records, tmp_path)
    assert late_letters(cluster) == 0
