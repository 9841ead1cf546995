"""Test helpers: build events at readable times and run them through the core."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.domain import Event, JourneyEngine, JourneyPolicy, Output, Outputs

T0 = int(datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


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


class Run:
    """Records produced by running events through one engine, by output."""

    def __init__(
        self, events: list[Event], policy: JourneyPolicy | None = None, finish: bool = True
    ) -> None:
        self.engine = JourneyEngine(policy or JourneyPolicy())
        self.out = Outputs()
        self.outcomes = [self.engine.ingest(e, self.out).outcome for e in events]
        if finish:
            self.engine.finish(self.out)

    def of(self, output: str) -> list[dict[str, Any]]:
        return [record for name, _key, record in self.out.records if name == output]

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
