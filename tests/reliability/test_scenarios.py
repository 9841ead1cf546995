"""The stream equals `journey process` on a real broker: backlogs produced by each
producer partitioner with no setting, workers joining, leaving and SIGKILLed under load,
duplicated and resent input, input out of event-time order within the allowed disorder,
a device with a clock in the future. `make test` runs
them at short sizes, `make test-reliability` at full size."""

from __future__ import annotations

import random
import signal

import orjson
import pytest
from confluent_kafka import Producer
from kafka import KafkaProducer

from pipeline.config import Settings
from pipeline.contract.scores import scores_evaluation
from pipeline.domain import JourneyPolicy, Output, RecordType
from pipeline.domain.propensity.policy import PropensityPolicy
from pipeline.offline.runner import process_records
from pipeline.policy import event_decoder
from pipeline.topics import EVENTS, OUTPUT_FILES, OUTPUT_TOPICS
from pipeline.worker.routing import PARTITIONERS

from ..integration.conftest import PARTITIONS, Pipeline, wait_for_outputs, wait_until
from ..support import known_customers, offline_expectation, read_jsonl, shuffled
from .checker import MODEL_ROWS, assert_equal, check, read_all
from .conftest import size

pytestmark = pytest.mark.integration


def produce(pipeline: Pipeline, records: list[tuple[str | None, bytes]], by: str) -> None:
    """Produce as a client of that partitioner's family would: librdkafka for crc32,
    kafka-python (murmur2) or explicit partitions as sarama picks them (fnv1a)."""
    if by == "crc32":
        producer = Producer({"bootstrap.servers": pipeline.bootstrap, "linger.ms": 5})
        for key, value in records:
            producer.produce(EVENTS, value=value, key=key.encode() if key else None)
            producer.poll(0)
        assert producer.flush(60) == 0, "librdkafka did not deliver every record"
        return
    client = KafkaProducer(bootstrap_servers=pipeline.bootstrap, linger_ms=5)
    for key, value in records:
        encoded = key.encode() if key else None
        partition = PARTITIONERS["fnv1a"](encoded, PARTITIONS) if by == "fnv1a" else None
        client.send(EVENTS, key=encoded, value=value, partition=partition)
    client.flush()
    client.close()


def settle(pipeline: Pipeline, records: list[tuple[str | None, bytes]], tmp, timeout: float):
    wait_for_outputs(pipeline, offline_expectation(records, tmp / "wait"), timeout)
    return read_all(pipeline)


def stream(
    events: int, by: str, seed: int, identify_once: float = 0.0
) -> list[tuple[str | None, bytes]]:
    """Generated journeys, visitors anonymous until they log in; with `identify_once`, that
    share of them identify once (a pop-up e-mail) and go on anonymous-only."""
    customers = events // 20
    return known_customers(events, customers, seed, PARTITIONS, by, True, identify_once)


IDENTIFY_ONCE = 0.3
"""The share of visitors whose devices identify once in the identity scenarios."""


@pytest.mark.parametrize("by", ["murmur2", "crc32", "fnv1a"])
def test_a_backlog_from_any_partitioner_with_no_setting(pipeline_factory, tmp_path, by):
    records = stream(size(4000, 200_000), by, seed=41)
    backlog(pipeline_factory, records, by, f"backlog, {by} producer", tmp_path)


def test_a_backlog_of_devices_that_identify_once(pipeline_factory, tmp_path):
    """Devices that leave an e-mail once and go on anonymous-only, some customers on two
    devices: one worker catching up reads a device's partition far ahead of its
    customer's, and the device's later events still go to the customer."""
    records = stream(size(4000, 200_000), "murmur2", seed=61, identify_once=IDENTIFY_ONCE)
    backlog(pipeline_factory, records, "murmur2", "backlog, identify once", tmp_path)


def backlog(pipeline_factory, records, by: str, scenario: str, tmp_path) -> None:
    """One worker catches up on `records`, produced beforehand by `by`'s client family."""
    pipeline = pipeline_factory()
    produce(pipeline, records, by)
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker, timeout=90)
    published = settle(pipeline, records, tmp_path, timeout=size(120, 1800))
    assert_equal(check(scenario, "none", records, published, tmp_path))
    if by != "murmur2":
        metrics = pipeline.metrics(worker)
        assert 'journey_events_consumed_total{outcome="rerouted"}' in metrics


@pytest.mark.parametrize(
    ("scenario", "identify_once"),
    [("join, leave, SIGKILL", 0.0), ("identify once, join, leave, SIGKILL", IDENTIFY_ONCE)],
)
def test_workers_joining_leaving_and_killed_under_load(
    pipeline_factory, tmp_path, scenario, identify_once
):
    records = stream(size(8000, 200_000), "crc32", seed=43, identify_once=identify_once)
    pipeline = pipeline_factory()
    pipeline.settings["JOURNEY_PROPENSITY_MIN_LABELS"] = str(MIN_LABELS)
    first = pipeline.start_worker()
    pipeline.wait_ready(first, timeout=90)
    rounds = size(2, 5)
    step = len(records) // (rounds + 1) + 1
    chunks = [records[i : i + step] for i in range(0, len(records), step)]
    faults = []
    live = [first]
    for n, chunk in enumerate(chunks):
        produce(pipeline, chunk, "crc32")
        if n == rounds:
            break
        joiner = pipeline.start_worker()
        pipeline.wait_ready(joiner, timeout=90)
        live.append(joiner)
        victim = live.pop(0)
        pipeline.stop(victim, signal.SIGKILL)
        faults.append("join+kill")
    published = settle(pipeline, records, tmp_path, timeout=size(240, 2400))
    verdict = check(scenario, f"{len(faults)}x join+SIGKILL", records, published, tmp_path)
    assert_equal(verdict)
    check_model(pipeline, live, records, published, tmp_path, scenario)


MIN_LABELS = 20
"""Sessions of each outcome a partition's model learns before it publishes, in the
scenarios that check the propensity model (small, so the short runs publish too)."""


def check_model(pipeline, live, records, published, tmp, scenario: str) -> None:
    """On the events both scored, the streamed scores rank sessions as well as `journey
    process`'s (ROC AUC within 0.02; the models differ: one per partition against one), and
    the workers' models learned every closed session, none twice, through the SIGKILLs."""
    policy = JourneyPolicy(propensity=PropensityPolicy(min_labels=MIN_LABELS))
    process_records([value for _key, value in records], policy, tmp / "model",
                    event_decoder(Settings()))  # fmt: skip
    offline = read_jsonl(tmp / "model" / OUTPUT_FILES[Output.PROPENSITY])
    online = pipeline.read(OUTPUT_TOPICS[Output.PROPENSITY])
    both = {s["event_id"] for s in offline} & {s["event_id"] for s in online}
    sessions = published[OUTPUT_TOPICS[Output.SESSIONS]]
    offline_figures = scores_evaluation([s for s in offline if s["event_id"] in both], sessions)
    online_figures = scores_evaluation([s for s in online if s["event_id"] in both], sessions)
    closed = {s["session_id"] for s in sessions if s["type"] == RecordType.SESSION_CLOSED}
    MODEL_ROWS.append((scenario, len(online), len(offline), online_figures["labels"],
                       online_figures["auc"], offline_figures["auc"], len(closed)))  # fmt: skip
    assert online_figures["labels"] > len(online) / 2
    assert abs(online_figures["auc"] - offline_figures["auc"]) <= 0.02, (
        online_figures, offline_figures)  # fmt: skip

    def learned() -> float:
        return sum(
            float(line.split()[-1])
            for worker in live
            for line in pipeline.metrics(worker).splitlines()
            if line.startswith('journey_propensity_labels{model="session_purchase"')
        )

    wait_until(lambda: learned() == len(closed), 60, f"the models to learn {len(closed)} labels")


def test_duplicated_and_replayed_input(pipeline_factory, tmp_path):
    """At-least-once producers: single records sent twice, and a batch sent again after
    it (a retried produce), as a producer that lost its acknowledgements does."""
    records = stream(size(3000, 50_000), "murmur2", seed=47)
    rng = random.Random(1)
    twice = set(rng.sample(range(len(records) - 4), len(records) // 20))
    retried = range(len(records) // 3, len(records) // 3 + size(200, 2000))
    traffic: list[tuple[str | None, bytes]] = []
    for n, record in enumerate(records):
        traffic += [record, record] if n in twice else [record]
        if n == retried[-1]:
            traffic += [records[i] for i in retried]
    pipeline = pipeline_factory()
    produce(pipeline, traffic, "murmur2")
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker, timeout=90)
    published = settle(pipeline, traffic, tmp_path, timeout=size(120, 900))
    faults = f"{len(twice)} sent twice, {len(retried)} resent"
    assert_equal(check("duplicated and replayed", faults, traffic, published, tmp_path))


def test_input_out_of_order_within_the_allowed_disorder(pipeline_factory, tmp_path):
    """Each record up to 4 minutes out of event-time order, identity stitches included, a
    librdkafka producer and no partitioner setting; the workers allow 5 minutes."""
    records = shuffled(stream(size(4000, 100_000), "crc32", seed=53), 2, PARTITIONS)
    pipeline = pipeline_factory()
    pipeline.settings["JOURNEY_MAX_DISORDER"] = "5m"
    produce(pipeline, records, "crc32")
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker, timeout=90)
    published = settle(pipeline, records, tmp_path, timeout=size(120, 1800))
    verdict = check("out of order by up to 4 min", "disorder", records, published, tmp_path)
    assert_equal(verdict)


def test_a_device_with_a_clock_73_years_ahead(pipeline_factory, tmp_path):
    records = stream(size(3000, 50_000), "crc32", seed=59)
    wrong = {"event_id": "from-2099", "event_type": "cart_item_added",
             "occurred_at": "2099-06-01T00:00:00Z", "anonymous_id": "a-broken-clock"}  # fmt: skip
    middle = len(records) // 3
    traffic = [*records[:middle], ("a-broken-clock", orjson.dumps(wrong)), *records[middle:]]
    pipeline = pipeline_factory()
    produce(pipeline, traffic, "crc32")
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker, timeout=90)
    published = settle(pipeline, traffic, tmp_path, timeout=size(120, 900))
    assert_equal(check("clock 73 years ahead", "1 event", traffic, published, tmp_path))
    future = [d for d in published["clickstream.dead-letter"] if d["reason"] == "future_timestamp"]
    assert len(future) == 1 and future[0]["topic"] == EVENTS
