"""`journey broker` and `journey run` never leave processes behind: stopped on SIGTERM
(as docker, systemd and Kubernetes stop things), killed with them on SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .conftest import JOURNEY, free_port, wait_until

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def _start_broker() -> tuple[subprocess.Popen[bytes], int]:
    command = subprocess.Popen(
        [str(JOURNEY), "broker", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert command.stdout is not None
    bootstrap = command.stdout.readline().decode().strip()
    assert bootstrap.startswith("127.0.0.1:"), f"first line is the bootstrap: {bootstrap!r}"
    children = _children(command.pid)
    assert len(children) == 1, f"one broker process under journey broker: {children}"
    return command, children[0]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_embedded_broker_dies_with_journey_broker(sig):
    command, tansu = _start_broker()
    try:
        assert _alive(tansu)
        command.send_signal(sig)
        command.wait(timeout=30)
        wait_until(lambda: not _alive(tansu), 15, f"the broker to be gone after {sig.name}")
    finally:
        if _alive(tansu):
            os.kill(tansu, signal.SIGKILL)
        command.kill()
        command.wait()
        assert command.stdout is not None
        command.stdout.close()


def _descendants(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def _consuming(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as answer:
            text = answer.read().decode()
    except OSError:
        return False
    return any(
        line.startswith('journey_events_consumed_total{outcome="ok"}') and float(line.split()[-1])
        for line in text.splitlines()
    )


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_journey_run_leaves_no_process_behind(sig, tmp_path):
    """`make run`'s command: broker, worker and generator; all gone when it is stopped."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "JOURNEY_KAFKA_BOOTSTRAP"}
    env |= {"JOURNEY_WEB_PORT": str(port), "JOURNEY_DATA_DIR": str(tmp_path / "data")}
    with (tmp_path / "run.log").open("wb") as log:
        command = subprocess.Popen(
            [str(JOURNEY), "run", "--count", "100000", "--rate", "500"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    spawned: list[int] = []
    try:
        wait_until(lambda: _consuming(port), 120, "the worker of journey run to consume")
        assert command.poll() is None
        spawned = _descendants(command.pid)
        assert len(spawned) >= 2, f"a broker and a worker under journey run: {spawned}"
        command.send_signal(sig)
        command.wait(timeout=60)
        wait_until(lambda: not any(map(_alive, spawned)), 30,
                   f"every process of journey run to be gone after {sig.name}")  # fmt: skip
    finally:
        command.kill()
        command.wait()
        for pid in filter(_alive, spawned):
            os.kill(pid, signal.SIGKILL)
