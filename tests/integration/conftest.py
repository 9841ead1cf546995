"""A real broker and real worker processes for end-to-end tests.

The broker is Kafka in a container (testcontainers) where a Docker engine
answers, otherwise the embedded Tansu broker. Workers are `journey worker`
subprocesses. Every wait polls a condition until a deadline.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.config import KafkaSettings
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.connection import client_options
from pipeline.topics import DECISION_TOPICS

from ..support import canonical, free_port
from .diagnosis import diagnosis

pytestmark = pytest.mark.integration

PARTITIONS = 4
JOURNEY = Path(sys.executable).parent / "journey"


@functools.cache
def _docker_answers() -> bool:
    """Whether a Docker engine answers its ping (then testcontainers' Kafka is used)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX)
            address: Any = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            sock = socket.socket()
            name, _, port = host.removeprefix("tcp://").partition(":")
            address = (name, int(port or 2375))
        else:
            return False
        with sock:
            sock.settimeout(2)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


@contextlib.contextmanager
def _broker() -> Iterator[str]:
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from pipeline.kafka.broker import embedded_broker

    with embedded_broker() as broker:
        yield broker.bootstrap


@pytest.fixture
def bootstrap() -> Iterator[str]:
    """A fresh broker per test: clean topics, and the in-memory broker's RSS stays small."""
    with _broker() as address:
        yield address


@pytest.fixture(scope="module")
def module_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One broker and pipeline shared by a module's tests (one feed, several checks)."""
    with _broker() as address:
        pipeline = new_pipeline(address, tmp_path_factory.mktemp("pipeline"))
        yield pipeline
        pipeline.close()


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def answers(process: subprocess.Popen[bytes], url: str, exited: Callable[[], str]) -> bool:
    """Whether `url` answers 2xx; a process that exited fails the test with `exited()`."""
    if process.poll() is not None:
        raise AssertionError(exited())
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except (urllib.error.URLError, OSError):
        return False


_app_ids = itertools.count()


@dataclass
class Pipeline:
    """One app id's topics on the broker, its workers, and clients to drive and read it."""

    bootstrap: str
    app_id: str
    tmp: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    """Further JOURNEY_* settings of its workers."""
    client: dict[str, Any] = field(default_factory=dict)
    """Connection options of the test's own clients (TLS, say)."""

    def env(self, port: int) -> dict[str, str]:
        return {
            **os.environ,
            "JOURNEY_KAFKA_BOOTSTRAP": self.bootstrap,
            "JOURNEY_APP_ID": self.app_id,
            "JOURNEY_WEB_PORT": str(port),
            "JOURNEY_ADVERTISED_URL": f"http://127.0.0.1:{port}",
            "JOURNEY_PARTITIONS": str(PARTITIONS),
            "JOURNEY_KAFKA_SESSION_TIMEOUT": "6s",
            "JOURNEY_IDLE_AFTER": "1s",
            "JOURNEY_DATA_DIR": str(self.tmp / f"data-{port}"),
            "JOURNEY_LOG_LEVEL": "warning",
            **self.settings,
        }

    def start_worker(self) -> int:
        """Start a worker; returns its index."""
        port = free_port()
        with (self.tmp / f"worker-{port}.log").open("wb") as log:
            process = subprocess.Popen(
                [str(JOURNEY), "worker"], env=self.env(port), stdout=log, stderr=subprocess.STDOUT
            )
        self.workers.append(process)
        self.ports.append(port)
        return len(self.workers) - 1

    def ready(self, index: int) -> bool:
        return answers(
            self.workers[index],
            f"{self.url(index)}/readyz",
            lambda: f"worker {index} exited: {self.log(index)[-2000:]}",
        )

    def wait_ready(self, index: int, timeout: float = 60) -> None:
        wait_until(lambda: self.ready(index), timeout, f"worker {index} to be ready")

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def metrics(self, index: int) -> str:
        with urllib.request.urlopen(f"{self.url(index)}/metrics", timeout=2) as response:
            return response.read().decode()

    def get(self, index: int, path: str, token: bool = True) -> tuple[int, dict[str, str], Any]:
        """GET `path` on a worker's web port: status, headers, JSON body. With `token`, the
        workers' JOURNEY_API_TOKEN (if set) goes along."""
        request = urllib.request.Request(f"{self.url(index)}{path}")
        if token and self.settings.get("JOURNEY_API_TOKEN"):
            request.add_header("Authorization", f"Bearer {self.settings['JOURNEY_API_TOKEN']}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), orjson.loads(error.read())

    def log(self, index: int) -> str:
        return (self.tmp / f"worker-{self.ports[index]}.log").read_text(errors="replace")

    def stop(self, index: int, sig: int = signal.SIGTERM) -> None:
        process = self.workers[index]
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def produce(self, records: list[tuple[str | None, bytes]]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5, **self.client)
        for key, value in records:
            producer.send(self.topic("events"), key=key.encode() if key else None, value=value)
        producer.flush()
        producer.close()

    def topic(self, name: str) -> str:
        from pipeline.topics import EVENTS

        return EVENTS if name == "events" else name

    def read(self, topic: str, timeout: float = 120) -> list[dict[str, Any]]:
        """Every record on `topic` so far, its JSON value."""
        return [orjson.loads(m.value) for m in self.records(topic, timeout)]

    def records(self, topic: str, timeout: float = 120) -> list[Any]:
        """Every record on `topic` so far: read until two polls in a row bring nothing while
        every partition's position is at its end offset, asked afresh each time (the embedded
        broker may report it behind what is readable; a quiet poll alone is not the end)."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, **self.client
        )
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        quiet_at_end = 0
        try:
            while quiet_at_end < 2:
                batch = consumer.poll(timeout_ms=500)
                for messages in batch.values():
                    records += messages
                ends = consumer.end_offsets(tps) if not batch else {}
                at_end = ends and all(consumer.position(tp) >= ends[tp] for tp in tps)
                quiet_at_end = quiet_at_end + 1 if at_end else 0
                if time.monotonic() > deadline:
                    raise AssertionError(f"{topic} was not read to its end in {timeout:.0f} s")
            return records
        finally:
            consumer.close()

    def close(self) -> None:
        for index in range(len(self.workers)):
            self.stop(index, signal.SIGKILL)


def new_pipeline(bootstrap: str, tmp: Path, settings: KafkaSettings | None = None) -> Pipeline:
    """A new app id's topics; `settings`: how to connect, when not in plain text."""
    app_id = f"it{os.getpid()}x{next(_app_ids)}"
    settings = (settings or KafkaSettings()).model_copy(
        update={"kafka_bootstrap": bootstrap, "app_id": app_id, "partitions": PARTITIONS}
    )
    ensure_topics(settings, bootstrap)
    return Pipeline(bootstrap, app_id, tmp, client=client_options(settings))


@pytest.fixture
def pipeline_factory(bootstrap: str, tmp_path: Path) -> Iterator[Callable[[], Pipeline]]:
    """Fresh topics per test: a new app id, and output topics read from a known baseline."""
    made: list[Pipeline] = []

    def make() -> Pipeline:
        pipeline = new_pipeline(bootstrap, tmp_path)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()


FINAL_OUTCOMES = ("ok", "duplicate", "late", "invalid")
"""The outcomes an inbound record ends with. A rerouted, forwarded, parked or held one is
counted again with one of them where it is finally applied; a redelivered one was before."""


def consumed(pipeline: Pipeline, worker: int) -> float:
    """Inbound records the worker has finished with: applied, or dead-lettered."""
    return sum(
        float(line.split()[-1])
        for line in pipeline.metrics(worker).splitlines()
        if line.startswith("journey_events_consumed_total{")
        and line.split('"')[1] in FINAL_OUTCOMES
    )


def published(pipeline: Pipeline) -> dict[str, list[bytes]]:
    return {topic: canonical(pipeline.read(topic)) for topic in DECISION_TOPICS.values()}


def wait_for_outputs(pipeline: Pipeline, expected: dict[str, list[bytes]], timeout: float):
    missing: dict[str, list[bytes]] = {}

    def complete():
        got = published(pipeline)
        missing.clear()
        missing.update({t: sorted(set(expected[t]) - set(got[t])) for t in expected})
        return None if any(missing.values()) else got

    try:
        return wait_until(complete, timeout, "every expected record on the output topics", every=1)
    except AssertionError as error:
        report = {t: (len(m), [r[:300] for r in m[:3]]) for t, m in missing.items() if m}
        lost = [r for m in missing.values() for r in m]
        raise AssertionError(
            f"{error}; missing (count, first ones): {report}\n{diagnosis(pipeline, lost)}"
        ) from None
