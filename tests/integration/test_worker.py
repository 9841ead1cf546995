"""The worker on a real broker: exact records, equivalence with `journey process`,
SIGKILL and restart, two workers splitting and handing over partitions."""

from __future__ import annotations

import signal

import orjson
import pytest

from pipeline.topics import DEAD_LETTER, OUTPUT_TOPICS
from pipeline.worker.routing import partitioner

from ..support import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    clock_events,
    event,
    known_customers,
    offline_expectation,
    product,
    seed_journey,
)
from .conftest import PARTITIONS, Pipeline, consumed, wait_for_outputs, wait_until

pytestmark = pytest.mark.integration


def test_scripted_journey_gives_exact_records_and_dead_letters(pipeline_factory, tmp_path):
    pipeline = pipeline_factory()
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker)
    journey = [(e.key, orjson.dumps(e.data)) for e in seed_journey()]
    malformed = [
        ("c-1", b'{"event_id": "x1", "event_type": "page_vi'),
        ("c-1", orjson.dumps({"event_id": "x2", "event_type": "page_viewed",
                              "customer_id": "c-1"})),
        ("c-1", orjson.dumps({"event_id": "x3", "event_type": "page_viewed", "customer_id": "c-1",
                              "occurred_at": "soon"})),
        (None, b"[]"),
    ]  # fmt: skip
    records = [*journey, *malformed, *clock_events(T0 + 21 * DAY)]
    pipeline.produce(records)
    expected = offline_expectation(records, tmp_path / "offline")
    got = wait_for_outputs(pipeline, expected, timeout=90)
    assert got == expected, "the worker publishes exactly what journey process writes"

    transitions = [orjson.loads(r) for r in got[OUTPUT_TOPICS["stage_transitions"]]]
    assert sorted(t["to_stage"] for t in transitions) == sorted(
        ["awareness", "consideration", "purchase", "retention", "advocacy", "retention"]
    )
    alerts = [orjson.loads(r) for r in got[OUTPUT_TOPICS["cart_alerts"]]]
    assert sorted(a["type"] for a in alerts) == ["cart_abandoned", "cart_recovered"]
    assert len({a["alert_id"] for a in alerts}) == 1
    sessions = [orjson.loads(r) for r in got[OUTPUT_TOPICS["sessions"]]]
    assert sorted(s["event_count"] for s in sessions) == [1, 1, 2, 2, 7]

    dead = wait_until(lambda: (d := pipeline.read(DEAD_LETTER)) and len(d) >= 4 and d,
                      30, "four dead letters")  # fmt: skip
    assert sorted(d["reason"] for d in dead) == [
        "bad_timestamp", "malformed_json", "missing_field", "not_an_object"
    ]  # fmt: skip
    assert all(d["topic"] == "clickstream.events" and d["offset"] is not None for d in dead)


def stitches_pending(pipeline: Pipeline, worker: int) -> float:
    """Identity stitches asked for whose anonymous journey has not arrived yet."""
    counts = {
        line.split('"')[1]: float(line.split()[-1])
        for line in pipeline.metrics(worker).splitlines()
        if line.startswith('journey_core_decisions_total{decision="identities_')
    }
    return counts["identities_stitched"] - counts["identities_absorbed"]


def test_generated_stream_matches_journey_process(pipeline_factory, tmp_path):
    pipeline = pipeline_factory()
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker)
    records = known_customers(5000, 300, seed=11)
    pipeline.produce(records)
    expected = offline_expectation(records, tmp_path / "offline")
    assert sum(map(len, expected.values())) > 1000
    got = wait_for_outputs(pipeline, expected, timeout=120)
    assert got == expected


def test_identity_stitching_across_partitions(pipeline_factory, tmp_path):
    """An anonymous visitor (one partition) logs in as a customer (another partition):
    the open session and cart move under the customer, later device events follow.

    Steps are paced as in real time: each is consumed, and its stitch has moved
    the anonymous journey, before the next user action."""
    pipeline = pipeline_factory()
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker)
    partition_of = partitioner(PARTITIONS)
    customer = next(f"c-{n}" for n in range(100) if partition_of(f"c-{n}") != partition_of("a-9"))
    item = {"product_id": "p", "price": 10.0, "quantity": 1}
    steps = [
        [
            event("page_viewed", 0, customer=None, anonymous="a-9", channel="social"),
            event("product_viewed", MINUTE, customer=None, anonymous="a-9", product=product("p")),
            event("cart_item_added", 2 * MINUTE, customer=None, anonymous="a-9",
                  product=product("p")),
        ],
        [event("logged_in", 3 * MINUTE, customer=customer, anonymous="a-9")],
        [event("cart_viewed", 4 * MINUTE, customer=None, anonymous="a-9")],
        [event("order_completed", 2 * HOUR, customer=customer,
               order={"id": "o-1", "items": [item]})],
    ]  # fmt: skip
    everything: list[tuple[str, bytes]] = []
    for step in steps:  # paced as in real time: each step is consumed before the next
        records = [(e.key, orjson.dumps(e.data)) for e in step]
        everything += records
        pipeline.produce(records)
        sent = len(everything)
        wait_until(lambda sent=sent: consumed(pipeline, worker) >= sent
                   and not stitches_pending(pipeline, worker), 30,
                   "the step to be consumed, its identity stitches done")  # fmt: skip
    clock = clock_events(T0 + DAY)
    everything += clock
    pipeline.produce(clock)
    expected = offline_expectation(everything, tmp_path / "offline")
    got = wait_for_outputs(pipeline, expected, timeout=60)
    assert got == expected
    closed = [orjson.loads(r) for r in got[OUTPUT_TOPICS["sessions"]]]
    closed = [s for s in closed if s["type"] == "session_closed"]
    assert sorted((s["journey_key"], s["event_count"]) for s in closed) == [
        (customer, 1), (customer, 5)
    ]  # fmt: skip
    alerts = [orjson.loads(r) for r in got[OUTPUT_TOPICS["cart_alerts"]]]
    assert sorted(a["type"] for a in alerts) == ["cart_abandoned", "cart_recovered"]
    assert all(a["journey_key"] == customer and a["anonymous_id"] == "a-9" for a in alerts)
    assert all(a["contactable"] for a in alerts)


def test_sigkill_and_restart_loses_no_alert(pipeline_factory, tmp_path):
    pipeline = pipeline_factory()
    first = pipeline.start_worker()
    pipeline.wait_ready(first)
    records = known_customers(12_000, 600, seed=23)
    half = len(records) // 2
    pipeline.produce(records[:half])
    wait_until(lambda: len(pipeline.read(OUTPUT_TOPICS["cart_alerts"])) > 20, 60,
               "the first alerts before the kill")  # fmt: skip
    pipeline.stop(first, signal.SIGKILL)
    pipeline.produce(records[half:])
    second = pipeline.start_worker()
    pipeline.wait_ready(second, timeout=90)
    expected = offline_expectation(records, tmp_path / "offline")
    got = wait_for_outputs(pipeline, expected, timeout=150)
    for topic in expected:
        assert set(got[topic]) == set(expected[topic]), f"{topic}: a record is missing or foreign"
    alerts = [orjson.loads(r) for r in got[OUTPUT_TOPICS["cart_alerts"]]]
    by_id: dict[str, set[bytes]] = {}
    for raw, alert in zip(got[OUTPUT_TOPICS["cart_alerts"]], alerts, strict=True):
        by_id.setdefault(alert["alert_id"] + alert["type"], set()).add(raw)
    assert all(len(v) == 1 for v in by_id.values()), "a duplicate carries identical content"


def test_two_workers_split_partitions_and_a_leaver_hands_over(pipeline_factory, tmp_path):
    pipeline = pipeline_factory()
    a, b = pipeline.start_worker(), pipeline.start_worker()
    pipeline.wait_ready(a, timeout=90)
    pipeline.wait_ready(b, timeout=90)

    def assigned(index: int) -> int:
        text = pipeline.metrics(index)
        line = next(x for x in text.splitlines() if x.startswith("journey_assigned_partitions "))
        return int(float(line.split()[1]))

    wait_until(lambda: assigned(a) + assigned(b) == PARTITIONS and assigned(a) and assigned(b),
               60, "both workers to own partitions")  # fmt: skip
    records = known_customers(10_000, 500, seed=31)
    half = len(records) // 2
    pipeline.produce(records[:half])
    wait_until(lambda: len(pipeline.read(OUTPUT_TOPICS["stage_transitions"])) > 100, 60,
               "output from both workers")  # fmt: skip
    pipeline.stop(b)
    wait_until(lambda: assigned(a) == PARTITIONS, 60, "the survivor to take every partition")
    pipeline.produce(records[half:])
    expected = offline_expectation(records, tmp_path / "offline")
    got = wait_for_outputs(pipeline, expected, timeout=150)
    for topic in expected:
        assert set(got[topic]) == set(expected[topic]), f"{topic}: a record is missing or foreign"


def test_a_changelog_of_another_state_format_stops_the_worker_with_one_line(pipeline_factory):
    """Recovery runs in the consumer's rebalance callback, whose errors the client would
    only log: the worker must stop, not consume on without the state."""
    from kafka import KafkaProducer

    from pipeline.topics import changelog_topic

    pipeline = pipeline_factory()
    producer = KafkaProducer(bootstrap_servers=pipeline.bootstrap, **pipeline.client)
    old = orjson.dumps([0, ["c-1", "c-1", None, None, {}, False, 0, 0]])  # no format version
    producer.send(changelog_topic(pipeline.app_id), key=b"c-1", value=old, partition=0)
    producer.flush()
    producer.close()
    worker = pipeline.start_worker()
    process = pipeline.workers[worker]
    wait_until(lambda: process.poll() is not None, 60, "the worker to stop")
    assert process.returncode == 1
    last = pipeline.log(worker).strip().splitlines()[-1]
    assert last.startswith("Error: the changelog's record b'c-1' has no format version"), last
    assert "JOURNEY_APP_ID" in last and "Traceback" not in pipeline.log(worker)
