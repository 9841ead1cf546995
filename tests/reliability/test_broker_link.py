"""The broker link cut and restored under load: the workers reconnect (a rebalance when
the cut outlasts the group session) and their decisions still equal `journey process`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from pipeline.kafka.broker import embedded_broker
from pipeline.topics import EVENTS

from ..integration.conftest import free_port, wait_until
from .checker import assert_equal, check
from .conftest import size
from .proxy import Proxy
from .test_scenarios import settle, stream

pytestmark = pytest.mark.integration

IDLE_AFTER = "30s"
"""The load runs about 15 hours of event time per second: a source that went idle while
the producer reconnects after a cut would come back hours behind the others (the limit
the README states). As in production, the idle time exceeds the producers' reconnect
time (librdkafka backs off up to 10 s)."""


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    listen = free_port()
    link = Proxy(listen)
    try:
        yield link
    finally:
        link.close()


@pytest.fixture
def bootstrap(proxy: Proxy) -> Iterator[str]:
    """The embedded broker, reached only through `proxy`."""
    with embedded_broker(proxy.target[1], advertised_port=proxy.port) as broker:
        yield broker.bootstrap


def broker_unreachable(pipeline, index: int) -> bool:
    status, _headers, body = pipeline.get(index, "/readyz")
    return status == 503 and body.get("reason") == "broker unreachable"


class PacedProducer(threading.Thread):
    """Produces `records` in order at `rate` per second through the proxied link, as a
    librdkafka client with idempotence (retries across a cut keep the order)."""

    def __init__(self, bootstrap: str, records: list[tuple[str | None, bytes]], rate: float):
        super().__init__(daemon=True)
        self.bootstrap, self.records, self.rate = bootstrap, records, rate
        self.sent = 0
        self.undelivered = -1

    def run(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True,
                             "linger.ms": 5})  # fmt: skip
        started = time.monotonic()
        for key, value in self.records:
            producer.produce(EVENTS, value=value, key=key.encode() if key else None)
            producer.poll(0)
            self.sent += 1
            ahead = started + self.sent / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        self.undelivered = producer.flush(300)


def test_the_broker_link_cut_and_restored_under_load(proxy, pipeline_factory, tmp_path):
    """Events keep coming while the link is cut (every connection closed, new ones
    refused) until both workers report the broker gone, then restored, several times."""
    records = stream(size(12_000, 200_000), "crc32", seed=71)
    pipeline = pipeline_factory()
    pipeline.settings["JOURNEY_IDLE_AFTER"] = IDLE_AFTER
    a, b = pipeline.start_worker(), pipeline.start_worker()
    pipeline.wait_ready(a, timeout=90)
    pipeline.wait_ready(b, timeout=90)
    load = PacedProducer(pipeline.bootstrap, records, rate=size(600, 4000))
    load.start()
    cuts = size(2, 4)
    for n in range(1, cuts + 1):
        wait_until(lambda n=n: load.sent >= len(records) * n // (cuts + 1), 300,
                   "the load to reach the next cut")  # fmt: skip
        proxy.cut()
        wait_until(lambda: broker_unreachable(pipeline, a) and broker_unreachable(pipeline, b),
                   60, "both workers to see the broker gone")  # fmt: skip
        proxy.restore()
        pipeline.wait_ready(a, timeout=120)
        pipeline.wait_ready(b, timeout=120)
    load.join(timeout=600)
    assert load.undelivered == 0, "the producer delivered every record"
    published = settle(pipeline, records, tmp_path, timeout=size(240, 1800))
    verdict = check("broker link cut and restored", f"{proxy.cuts} cuts under load", records,
                    published, tmp_path)  # fmt: skip
    assert_equal(verdict)
