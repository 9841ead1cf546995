"""`journey run` (what `make run` starts): broker, topics, a worker and the generator, watched live.

The worker is a `journey worker` subprocess on the same broker, exactly as it is
deployed; the generator produces from a thread; the terminal shows a summary
built from the worker's own /metrics and the latest alerts from the alert
topic, refreshed every second, until Ctrl-C stops everything in order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..config import Settings
from ..domain import STAGES, RecordType
from ..kafka.admin import ensure_topics
from ..kafka.broker import die_with_parent
from ..topics import OUTPUT_TOPICS
from ..worker.metrics import (
    ALERTS_PUBLISHED,
    ALERTS_SUPPRESSED,
    DEAD_LETTERS,
    EVENTS_CONSUMED,
    OPEN_SESSIONS,
    SESSIONS_CLOSED,
    STAGE_TRANSITIONS,
)
from .generate import generate
from .producer import Pacing, SendRecord, send_records
from .tail import describe_bytes, follow

__all__ = ["Demo", "run_live"]


@dataclass
class Demo:
    """What the live run generates: `count` events of `customers` journeys at `rate` per second."""

    count: int = 2_000_000
    customers: int = 2_000
    rate: float = 500.0
    malformed: float = 0.005
    seed: int = 7


@dataclass
class _Shared:
    """State the background threads fill and the screen reads."""

    stop: threading.Event = field(default_factory=threading.Event)
    sent: int = 0
    alerts: deque[str] = field(default_factory=lambda: deque(maxlen=6))
    error: str | None = None


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _metrics(port: int) -> Samples:
    """The worker's samples by (name, labels); empty while it is not serving yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


_FINAL_OUTCOMES = ("ok", "duplicate", "late", "invalid")
"""Outcomes that end a record's way (parked, forwarded and rerouted ones come back)."""


def _consumed(samples: Samples) -> float:
    return sum(_total(samples, EVENTS_CONSUMED, outcome=o) for o in _FINAL_OUTCOMES)


def _total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


_ROWS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("sessions open", OPEN_SESSIONS, {}),
    ("sessions closed", SESSIONS_CLOSED, {}),
    *((f"  transitions to {stage}", STAGE_TRANSITIONS, {"to_stage": stage}) for stage in STAGES),
    ("carts abandoned (alerted)", ALERTS_PUBLISHED, {"type": RecordType.CART_ABANDONED}),
    ("carts recovered", ALERTS_PUBLISHED, {"type": RecordType.CART_RECOVERED}),
    ("alerts suppressed", ALERTS_SUPPRESSED, {}),
    ("dead letters", DEAD_LETTERS, {}),
)


def _screen(
    shared: _Shared, samples: Samples, rate: float, worker_log: Path, map_url: str
) -> Group:
    table = Table(title="journey-pipeline, live", show_header=False, min_width=60)
    table.add_column("what")
    table.add_column("value", justify="right")
    if not samples:
        table.add_row("worker", f"starting (log: {worker_log})")
    table.add_row("journey map (open in a browser)", map_url)
    consumed = _consumed(samples)
    table.add_row("events sent by the generator", f"{shared.sent:,}")
    table.add_row("events consumed by the worker", f"{consumed:,.0f}  ({rate:,.0f}/s)")
    for label, name, labels in _ROWS:
        table.add_row(label, f"{_total(samples, name, **labels):,.0f}")
    lines = [Text("latest cart alerts:", style="bold")]
    lines += [Text(line) for line in shared.alerts] or [Text("  (none yet)")]
    if shared.error:
        lines.append(Text(shared.error, style="red"))
    lines.append(Text("Ctrl-C stops the generator, the worker and the broker.", style="dim"))
    return Group(table, *lines)


def _generate(shared: _Shared, demo: Demo, settings: Settings, bootstrap: str) -> None:
    def records() -> Iterator[SendRecord]:
        for record in generate(demo.count, demo.customers, demo.seed, malformed=demo.malformed):
            if shared.stop.is_set():
                return
            yield SendRecord(record.key, record.value, record.occurred_at)

    def sent(n: int) -> None:
        shared.sent = n

    try:
        send_records(
            records(), settings, bootstrap, Pacing(rate=demo.rate), on_sent=sent,
            stamp_event_time=True,
        )  # fmt: skip
    except Exception as error:  # shown on screen; the run goes on until Ctrl-C
        shared.error = f"generator stopped: {error}"


def _watch_alerts(shared: _Shared, settings: Settings, bootstrap: str) -> None:
    topic = OUTPUT_TOPICS["cart_alerts"]
    try:
        done = lambda _quiet: shared.stop.is_set()  # noqa: E731
        for record in follow(settings, bootstrap, topic, from_beginning=True, done=done):
            shared.alerts.append(describe_bytes(record))
    except Exception as error:
        shared.error = f"alert watcher stopped: {error}"


def _start_worker(bootstrap: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "JOURNEY_KAFKA_BOOTSTRAP": bootstrap}
    journey = Path(sys.executable).parent / "journey"
    command = [str(journey)] if journey.exists() else [sys.executable, "-m", "pipeline.cli"]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [*command, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )  # fmt: skip


def run_live(settings: Settings, bootstrap: str, demo: Demo) -> None:
    """Run until Ctrl-C (or until the worker exits), then stop everything."""
    ensure_topics(settings, bootstrap)
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"worker-{settings.web_port}.log"  # one per run on a host
    worker = _start_worker(bootstrap, log_path)
    shared = _Shared()
    threads = [
        threading.Thread(target=_generate, args=(shared, demo, settings, bootstrap), daemon=True),
        threading.Thread(target=_watch_alerts, args=(shared, settings, bootstrap), daemon=True),
    ]
    for thread in threads:
        thread.start()
    console = Console(stderr=False)
    last = (time.monotonic(), 0.0)
    map_url = f"http://127.0.0.1:{settings.web_port}/"
    screen = _screen(shared, {}, 0.0, log_path, map_url)
    try:
        with Live(screen, console=console, refresh_per_second=2, auto_refresh=False) as live:
            while worker.poll() is None:
                time.sleep(1)
                samples = _metrics(settings.web_port)
                consumed = _consumed(samples)
                now = time.monotonic()
                rate = (consumed - last[1]) / (now - last[0]) if samples else 0.0
                last = (now, consumed)
                screen = _screen(shared, samples, max(rate, 0.0), log_path, map_url)
                live.update(screen, refresh=console.is_terminal)
        print(f"the worker exited with {worker.returncode}; see {log_path}", file=sys.stderr)
        raise SystemExit(worker.returncode or 1)
    except KeyboardInterrupt:
        pass
    finally:
        shared.stop.set()
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for thread in threads:
            thread.join(timeout=5)
