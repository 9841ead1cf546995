"""Prometheus metrics of the worker (`journey_` prefix, Prometheus naming conventions).

Labels are low-cardinality only: outcomes, reasons, stages, record types.
Never a customer, session or event id. Label sets are pre-initialised so every
series exists at zero from the start.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

from . import __version__
from .domain import STAGES, Count, Outcome, Reason
from .positions import HOLE, REDELIVERED

__all__ = ["Metrics"]

disable_created_metrics()  # `_created` series double every counter for no use here

_OUTCOMES = (
    Outcome.OK,
    Outcome.DUPLICATE,
    Outcome.LATE,
    "invalid",
    "rerouted",
    Outcome.FORWARDED,
    Outcome.PARKED,
    REDELIVERED,
    HOLE,
)
_ALERTS = ("cart_abandoned", "cart_recovered")
_SESSIONS = ("session_closed", "session_merged")
_CORE = tuple(v for k, v in vars(Count).items() if k.isupper() and not v.endswith("_"))
_SUPPRESSIONS = ("no_consent", "cooldown")


class Metrics:
    """All metric families, in a registry of their own (one per worker process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "journey_events_consumed_total",
            "Inbound records by outcome (invalid ones are dead-lettered).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.dead_letters = Counter(
            "journey_dead_letters_total", "Records sent to the dead-letter topic, by reason.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.transitions = Counter(
            "journey_stage_transitions_total", "Stage transitions published.",
            ["from_stage", "to_stage"], registry=r,
        )  # fmt: skip
        self.alerts = Counter(
            "journey_alerts_published_total", "Cart alerts published, by type.",
            ["type"], registry=r,
        )  # fmt: skip
        self.suppressed = Counter(
            "journey_alerts_suppressed_total",
            "Abandoned carts not alerted: no marketing consent, or within the cooldown.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.sessions = Counter(
            "journey_sessions_published_total", "Session records published, by type.",
            ["type"], registry=r,
        )  # fmt: skip
        self.core = Counter(
            "journey_core_decisions_total",
            "What the journey core counted (sessions opened, capped state, ...).",
            ["decision"], registry=r,
        )  # fmt: skip
        self.cart_value = Counter(
            "journey_cart_value_total", "Cart value abandoned or recovered (order currency units).",
            ["type"], registry=r,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "journey_batch_seconds", "Time to process and publish one batch of records.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r,
        )  # fmt: skip
        self.batch_size = Histogram(
            "journey_batch_records", "Records per processed batch.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500), registry=r,
        )  # fmt: skip
        self.seeks = Counter(
            "journey_input_seeks_total",
            "Seeks back to the position the state expects (records were skipped).",
            registry=r,
        )
        self.stuck = Gauge(
            "journey_input_partitions_stuck",
            "Input partitions that seeks back to their position have not brought back.",
            registry=r,
        )
        self.journeys = Gauge(
            "journey_active_journeys", "Journeys held by this worker.", registry=r
        )
        self.open_sessions = Gauge(
            "journey_open_sessions", "Sessions open on this worker.", registry=r
        )
        self.open_carts = Gauge("journey_open_carts", "Non-empty carts on this worker.", registry=r)
        self.partitions = Gauge(
            "journey_assigned_partitions", "Input partitions assigned to this worker.", registry=r
        )
        self.last_processed = Gauge(
            "journey_last_processed_timestamp_seconds",
            "Wall-clock time the worker last finished a batch.", registry=r,
        )  # fmt: skip
        self.watermark = Gauge(
            "journey_watermark_timestamp_seconds",
            "Highest event time seen (lowest over this worker's partitions).", registry=r,
        )  # fmt: skip
        Info("journey_build", "Version of the running worker.", registry=r).info(
            {"version": __version__}
        )
        self._preinitialise()

    def _preinitialise(self) -> None:
        for outcome in _OUTCOMES:
            self.events.labels(outcome)
        for reason in Reason.ALL:
            self.dead_letters.labels(reason)
        for to_stage in STAGES:
            for from_stage in ("none", *STAGES):
                if from_stage != to_stage:
                    self.transitions.labels(from_stage, to_stage)
        for kind in _ALERTS:
            self.alerts.labels(kind)
            self.cart_value.labels(kind)
        for kind in _SESSIONS:
            self.sessions.labels(kind)
        for reason in _SUPPRESSIONS:
            self.suppressed.labels(reason)
        for decision in _CORE:
            self.core.labels(decision)

    def count_records(self, records: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Count published outputs by their type."""
        for _output, _key, record in records:
            kind = record.get("type")
            if kind in _ALERTS:
                self.alerts.labels(kind).inc()
                value = record["recovered_value"] if kind == "cart_recovered" else record["value"]
                self.cart_value.labels(kind).inc(value)
            elif kind in _SESSIONS:
                self.sessions.labels(kind).inc()
            else:
                self.transitions.labels(record["from_stage"] or "none", record["to_stage"]).inc()

    def count_core(self, counts: dict[str, int]) -> None:
        for name, n in counts.items():
            if name.startswith(Count.SUPPRESSED):
                self.suppressed.labels(name.removeprefix(Count.SUPPRESSED)).inc(n)
            else:
                self.core.labels(name).inc(n)
