"""Test helpers shared by the suites: events at readable times, scripted journeys, runs."""

from __future__ import annotations

import json
import os
import random
import socket
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from unittest import mock

import orjson

from pipeline.config import Settings, load
from pipeline.contract.records import published
from pipeline.domain import (
    Event,
    JourneyEngine,
    JourneyPolicy,
    Message,
    Output,
    Outputs,
    parse_time,
)
from pipeline.domain.analytics.rollup import Rollup
from pipeline.offline.runner import process_records
from pipeline.policy import event_decoder
from pipeline.tools.generate import generate
from pipeline.topics import OUTPUT_FILES, OUTPUT_TOPICS
from pipeline.worker.routing import partitioner

T0 = int(datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event(
    event_type: str,
    at: int,
    customer: str | None = "c-1",
    anonymous: str | None = None,
    event_id: str | None = None,
    **fields: Any,
) -> Event:
    """An event `at` milliseconds after T0; its default id is derived from what it is."""
    data: dict[str, Any] = {
        "event_id": event_id or f"e-{event_type}-{at}-{customer}-{anonymous}",
        "event_type": event_type,
        "occurred_at": T0 + at,
    }
    if customer:
        data["customer_id"] = customer
    if anonymous:
        data["anonymous_id"] = anonymous
    data.update(fields)
    return Event.from_dict(data)


def product(pid: str, price: float = 10.0, quantity: int = 1) -> dict[str, Any]:
    return {
        "id": pid,
        "name": pid.title(),
        "category": "test",
        "price": price,
        "quantity": quantity,
        "currency": "EUR",
    }


def order(oid: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": oid,
        "value": sum(i["price"] * i["quantity"] for i in items),
        "currency": "EUR",
        "items": [{**i, "product_id": i["id"]} for i in items],
    }


T = TypeVar("T")


def records(out: Outputs) -> list[tuple[str, str, dict[str, Any]]]:
    """(output, key, record) of everything in `out`, as published."""
    return list(published(out))


def complete(step: Coroutine[None, None, T]) -> T:
    """Run a coroutine that only ever yields to let the event loop turn (`asyncio.sleep(0)`),
    as the worker's `Processor.process` does, to its end without an event loop."""
    while True:
        try:
            step.send(None)
        except StopIteration as done:
            return cast(T, done.value)


class Mailbox:
    """A router for one engine under test: the keys `owns` accepts are here; messages to
    the others are kept in `sent`, in order."""

    def __init__(self, owns: Callable[[str], bool]) -> None:
        self._owns = owns
        self.sent: list[tuple[str, Message]] = []

    def owns(self, key: str) -> bool:
        return self._owns(key)

    def send(self, key: str, message: Message) -> None:
        self.sent.append((key, message))


class Run:
    """Records produced by running events through one engine, by output."""

    def __init__(
        self, events: list[Event], policy: JourneyPolicy | None = None, finish: bool = True
    ) -> None:
        self.engine = JourneyEngine(policy or JourneyPolicy())
        self.out = Outputs()
        self.outcomes = [self.engine.on_event(e, self.out, e.occurred_at).outcome for e in events]
        if finish:
            self.engine.on_eof(self.out)

    def of(self, output: str) -> list[dict[str, Any]]:
        return [record for name, _key, record in records(self.out) if name == output]

    @property
    def transitions(self) -> list[dict[str, Any]]:
        return self.of(Output.TRANSITIONS)

    @property
    def stages(self) -> list[tuple[str | None, str, str]]:
        return [(r["from_stage"], r["to_stage"], r["reason"]) for r in self.transitions]

    @property
    def sessions(self) -> list[dict[str, Any]]:
        return [r for r in self.of(Output.SESSIONS) if r["type"] == "session_closed"]

    @property
    def merges(self) -> list[dict[str, Any]]:
        return [r for r in self.of(Output.SESSIONS) if r["type"] == "session_merged"]

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return self.of(Output.CART_ALERTS)


def anonymous_then_login():
    return [
        event("page_viewed", 0, customer=None, anonymous="a-9"),
        event("cart_item_added", MINUTE, customer=None, anonymous="a-9", product=product("p")),
        event("logged_in", 2 * MINUTE, customer="c-9", anonymous="a-9"),
        event("product_viewed", 3 * MINUTE, customer=None, anonymous="a-9"),
    ]


SHOES = product("shoes", 80.0)
BAG = product("bag", 40.0)


def seed_journey():
    return [
        event(
            "ad_clicked", 0, channel="social", campaign={"source": "instagram", "medium": "paid"}
        ),
        event("page_viewed", 1 * MINUTE, channel="social", campaign={"source": "instagram"}),
        event("search_performed", 3 * MINUTE),
        event("product_viewed", 5 * MINUTE, product=SHOES),
        event("reviews_viewed", 7 * MINUTE, product=SHOES),
        event("cart_item_added", 9 * MINUTE, product=SHOES),
        event("cart_item_added", 10 * MINUTE, product=BAG),
        # the visitor leaves; two days later they come back and buy the shoes only
        event("cart_viewed", 2 * DAY),
        event("order_completed", 2 * DAY + 5 * MINUTE, order=order("o-1", SHOES)),
        event("onboarding_step_completed", 3 * DAY),
        event("review_submitted", 10 * DAY, rating=5),
        event("referral_sent", 10 * DAY + 2 * MINUTE),
        event("nps_submitted", 20 * DAY, nps_score=3),
    ]


ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "journey.json").read_text())


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


CLOCK = "clock-"


def clock_events(at: int, partitions: int = 4, by: str = "murmur2") -> list[tuple[str, bytes]]:
    """One event per partition (as the partitioner `by` places keys) at `at`, moving every
    partition's watermark there."""
    partition_of = partitioner(partitions, by)
    keys: dict[int, str] = {}
    n = 0
    while len(keys) < partitions:
        keys.setdefault(partition_of(f"{CLOCK}{n}"), f"{CLOCK}{n}")
        n += 1
    return [
        (key, orjson.dumps({"event_id": f"tick-{key}-{at}", "event_type": "heartbeat",
                            "occurred_at": at, "anonymous_id": key}))
        for key in keys.values()
    ]  # fmt: skip


SCORED = ("purchase_propensity",)
"""Fields a partition's propensity model fills in: per-partition models score apart from
the oracle's one model (`schemas/propensity.v1.json`), so decisions compare without them."""


def canonical(records: list[dict]) -> list[bytes]:
    return sorted(
        orjson.dumps({k: v for k, v in r.items() if k not in SCORED}, option=orjson.OPT_SORT_KEYS)
        for r in records
        if not str(r.get("journey_key", "")).startswith(CLOCK)
    )


def offline_expectation(
    records: list[tuple[str, bytes]], tmp: Path, received_at: int | None = None
) -> dict[str, list[bytes]]:
    """The records `journey process` writes for the same input, by output topic."""
    values = [value for _key, value in records]
    process_records(values, JourneyPolicy(), tmp, event_decoder(Settings()), received_at)
    return offline_decisions(tmp)


def offline_decisions(out_dir: Path) -> dict[str, list[bytes]]:
    """The decision records `journey process` wrote to `out_dir`, by topic, canonical."""
    return {
        OUTPUT_TOPICS[output]: canonical(read_jsonl(out_dir / OUTPUT_FILES[output]))
        for output in Output.DECISIONS
    }


def known_customers(
    events: int,
    customers: int,
    seed: int,
    partitions: int = 4,
    by: str = "murmur2",
    anonymous: bool = False,
    identify_once: float = 0.0,
) -> list[tuple[str, bytes]]:
    """A generated stream (by default every event carries its customer id), then the clock
    events."""
    stream = list(
        generate(events, customers, seed=seed, anonymous=anonymous, identify_once=identify_once)
    )
    end = max(r.occurred_at for r in stream)
    return [(r.key, r.value) for r in stream] + clock_events(end + 3 * HOUR, partitions, by)


def shuffled(
    records: list[tuple[str | None, bytes]],
    seed: int,
    partitions: int = 4,
    within: int = 4 * MINUTE,
) -> list[tuple[str | None, bytes]]:
    """Each record up to `within` out of event-time order; the trailing clock events (one per
    partition) stay last."""
    rng = random.Random(seed)

    def jittered(record: tuple[str | None, bytes]) -> int:
        return parse_time(orjson.loads(record[1])["occurred_at"]) + rng.randrange(0, within)

    return [*sorted(records[:-partitions], key=jittered), *records[-partitions:]]


def analytics_windows(records: dict[str, list[dict[str, Any]]]) -> dict[str, dict[int, Any]]:
    """Per analytics output, per window, every key's total: each part's latest record summed."""
    rollup = Rollup()
    for output, found in records.items():
        rollup.add_all(output, found)
    return {output: rollup.per_window(output, None) for output in Output.ANALYTICS}


def offline_analytics(out_dir: Path) -> dict[str, dict[int, Any]]:
    """The analytics `journey process` wrote to `out_dir`, per output and window."""
    return analytics_windows(
        {output: read_jsonl(out_dir / OUTPUT_FILES[output]) for output in Output.ANALYTICS}
    )


def settled(now: int) -> int:
    """The time before which the stream, at `now`, has written every window as it will stay:
    no session reaches back into it any more (the longest session, the gap, the lateness),
    and its last change is written (at most a window length later)."""
    settings = Settings()
    reach = settings.session_max + settings.session_gap + settings.lateness
    return now - reach - settings.analytics_window


def assert_settled_windows_equal(
    online: dict[str, dict[int, Any]], offline: dict[str, dict[int, Any]], settled_before: int
) -> int:
    """Every window ending before `settled_before` (no open session can reach back into it)
    is the same online as offline; returns how many were compared."""
    window_ms = Settings().analytics_window
    compared = 0
    for output in Output.ANALYTICS:
        for start, totals in sorted(offline[output].items()):
            if start + window_ms <= settled_before:
                assert online[output].get(start) == totals, f"{output} window {start} differs"
                compared += 1
    return compared


def settings_from(env: Mapping[str, str], group: type[Any] = Settings) -> Any:
    """Settings read, the way the commands read them, from exactly these variables."""
    others = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    with mock.patch.dict(os.environ, {**others, **env}, clear=True):
        return load(group)
