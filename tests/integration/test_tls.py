"""Mutual TLS end to end on the embedded broker.

Tansu 0.6 takes `--cert`/`--key` but refuses them together, so it cannot serve
TLS itself: here it sits behind a TLS terminator that requires a client
certificate signed by the test CA (as a broker with `ssl.client.auth=required`
does) and forwards plain bytes. Tansu advertises the terminator's port, so
every connection of every client goes through TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import KafkaSettings
from pipeline.kafka.broker import embedded_broker
from pipeline.kafka.connection import client_options
from pipeline.topics import EVENTS

from ..certificates import KEY_PASSWORD, Certificates, make_certificates
from ..support import free_port, known_customers, offline_expectation, settings_from
from .conftest import JOURNEY, PARTITIONS, new_pipeline, wait_for_outputs

pytestmark = pytest.mark.integration


class TlsTerminator:
    """Accepts TLS connections that present a certificate of `ca` and pipes them to a port."""

    def __init__(self, target_port: int, certs: Certificates) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs.ca))
        context.load_cert_chain(certs.server_cert, certs.server_key)
        context.verify_mode = ssl.CERT_REQUIRED
        self.target_port = target_port
        self.clients: set[str] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        start = asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(10)
        self.port: int = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        subject = dict(pair[0] for pair in writer.get_extra_info("peercert")["subject"])
        self.clients.add(subject["commonName"])
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    def close(self) -> None:
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def mtls_env(certs: Certificates, bootstrap: str) -> dict[str, str]:
    return {
        "JOURNEY_KAFKA_BOOTSTRAP": bootstrap,
        "JOURNEY_KAFKA_SECURITY_PROTOCOL": "SSL",
        "JOURNEY_KAFKA_SSL_CAFILE": str(certs.ca),
        "JOURNEY_KAFKA_SSL_CERTFILE": str(certs.client_cert),
        "JOURNEY_KAFKA_SSL_KEYFILE": str(certs.client_key),
        "JOURNEY_KAFKA_SSL_PASSWORD": KEY_PASSWORD,
        "JOURNEY_PARTITIONS": str(PARTITIONS),
    }


@pytest.fixture
def tls_broker(certs: Certificates) -> Iterator[tuple[str, TlsTerminator]]:
    """A broker reachable only through mutual TLS: its address and the terminator."""
    port = free_port()
    terminator = TlsTerminator(port, certs)
    bootstrap = f"127.0.0.1:{terminator.port}"
    settings = settings_from(mtls_env(certs, bootstrap), KafkaSettings)
    try:
        with embedded_broker(port, terminator.port, client_options(settings)):
            yield bootstrap, terminator
    finally:
        terminator.close()


def journey(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(JOURNEY), *args], env={**os.environ, **env}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_the_tools_and_a_worker_work_over_mutual_tls(tls_broker, certs, tmp_path: Path):
    bootstrap, terminator = tls_broker
    env = mtls_env(certs, bootstrap)
    created = journey("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    listed = journey("topics", "list", env=env)
    assert listed.returncode == 0 and f"{EVENTS}\t" in listed.stdout, listed.stderr

    pipeline = new_pipeline(bootstrap, tmp_path, settings_from(env, KafkaSettings))
    pipeline.settings.update(env)
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker)
    records = known_customers(1500, 100, seed=5)
    pipeline.produce(records)
    expected = offline_expectation(records, tmp_path / "offline")
    assert wait_for_outputs(pipeline, expected, timeout=120) == expected
    pipeline.close()
    assert terminator.clients == {"journey-worker"}


def test_a_certificate_the_broker_does_not_trust_gets_one_line(tls_broker, certs):
    bootstrap, _terminator = tls_broker
    env = {
        **mtls_env(certs, bootstrap),
        "JOURNEY_KAFKA_SSL_CERTFILE": str(certs.stranger_cert),
        "JOURNEY_KAFKA_SSL_KEYFILE": str(certs.stranger_key),
        "JOURNEY_KAFKA_SSL_PASSWORD": "",
    }
    result = journey("topics", "list", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in (bootstrap, "no Kafka handshake", "JOURNEY_KAFKA_SSL_CERTFILE"):
        assert word in result.stderr
