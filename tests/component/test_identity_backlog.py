"""Identity under a backlog: a device that identifies once (a pop-up e-mail) and goes on
anonymous-only, its partition read a day or more ahead of the customer's. The device's
events after the stitch belong to the customer, as in `journey process`."""

from __future__ import annotations

import random

import orjson
import pytest

from pipeline.topics import EVENTS, OUTPUT_TOPICS
from pipeline.worker.routing import PARTITIONERS

from ..support import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    clock_events,
    known_customers,
    offline_expectation,
    product,
)
from .cluster import PARTITIONS, Cluster, cluster_settings


def keys_on_two_partitions() -> tuple[str, str]:
    """A device id and a customer id that murmur2 puts on different partitions."""
    pick = PARTITIONERS["murmur2"]
    device = "a-device"
    customer = next(
        f"c-{n}" for n in range(100) if pick(f"c-{n}".encode(), 4) != pick(device.encode(), 4)
    )
    return device, customer


def popup_journey(device: str, customer: str) -> list[tuple[str, bytes]]:
    """The issue's journey: a page view, the pop-up e-mail (both ids), then anonymous-only
    events: a cart add, an order, and the next day another order."""

    def record(n: int, kind: str, at: int, identified: bool = False, **fields) -> tuple:
        event = {"event_id": f"e-{n}", "event_type": kind, "occurred_at": T0 + at,
                 "anonymous_id": device, **fields}  # fmt: skip
        if identified:
            event["customer_id"] = customer
        return (customer if identified else device, orjson.dumps(event))

    shoes = product("shoes", 80.0)
    order = {"id": "o-1", "value": 80.0, "currency": "EUR", "items": [shoes]}
    again = {**order, "id": "o-2"}
    return [
        record(1, "page_viewed", 3 * MINUTE),
        record(2, "newsletter_subscribed", 3 * MINUTE + 22_000, identified=True),
        record(3, "cart_item_added", 4 * MINUTE, product=shoes),
        record(4, "order_completed", 6 * MINUTE, order=order),
        record(5, "order_completed", DAY + 11 * MINUTE, order=again),
        *clock_events(T0 + DAY + 3 * HOUR, PARTITIONS),
    ]


def read_device_partition_first(cluster: Cluster, device: str) -> None:
    """The device's partition is read to its end before any other input is."""
    partition = PARTITIONERS["murmur2"](device.encode(), PARTITIONS)
    cluster.read(partition, EVENTS, partition, 10_000)
    cluster.drain(random.Random(1))


def test_a_devices_events_after_its_stitch_go_to_the_customer_when_read_a_day_ahead(tmp_path):
    device, customer = keys_on_two_partitions()
    records = popup_journey(device, customer)
    cluster = Cluster(cluster_settings())
    cluster.produce(records, by="murmur2", timestamp=2_000_000_000_000)
    for partition in range(PARTITIONS):
        cluster.start_worker({partition})
    read_device_partition_first(cluster, device)
    transitions = [
        (t["journey_key"], t["from_stage"], t["to_stage"], t["reason"])
        for t in cluster.output(OUTPUT_TOPICS["stage_transitions"])
        if not t["journey_key"].startswith("clock-")
    ]
    assert transitions == [
        (device, None, "awareness", "first-visit"),
        (customer, None, "consideration", "research"),
        (customer, "consideration", "purchase", "cart-activity"),
        (customer, "purchase", "retention", "repeat-order"),
    ]
    assert cluster.decisions() == offline_expectation(records, tmp_path)


@pytest.mark.parametrize(("producer", "setting"), [("murmur2", "murmur2"), ("crc32", "murmur2")])
@pytest.mark.parametrize("slow", [0, 3])
def test_identify_once_devices_give_the_oracles_decisions_with_a_partition_far_behind(
    producer, setting, slow, tmp_path
):
    """Half the visitors identify once and go on anonymous (some on a second device); one
    input partition is read only after all the others."""
    records = known_customers(3000, 150, 11, PARTITIONS, producer, True, identify_once=0.5)
    cluster = Cluster(cluster_settings(setting))
    cluster.produce(records, by=producer, timestamp=2_000_000_000_000)
    for partition in range(PARTITIONS):
        cluster.start_worker({partition})
    cluster.drain(random.Random(slow), slow=slow)
    expected = offline_expectation(records, tmp_path)
    assert sum(map(len, expected.values())) > 1000
    assert cluster.decisions() == expected
    held = sum(p.metrics.events.labels("held")._value.get() for p, _ in cluster.workers)
    assert held > 1000, "the devices' events waited for the watermark"
