"""`journey broker` never leaves its broker behind: stopped on SIGTERM (as docker,
systemd and Kubernetes stop things), killed with it on SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import JOURNEY, wait_until

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
