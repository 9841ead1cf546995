"""Prometheus metrics of the worker (`journey_` prefix, Prometheus naming conventions).

Labels are low-cardinality only: outcomes, reasons, stages, record types.
Never a customer, session or event id. Label sets are pre-initialised so every
series exists at zero from the start.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from .. import CORE_MODE, __version__
from ..domain import (
    NO_STAGE,
    STAGES,
    CartAbandoned,
    CartRecovered,
    Count,
    Decision,
    Outcome,
    Output,
    Reason,
    RecordType,
    Score,
    SessionClosed,
    StageChanged,
    Suppression,
)
from ..domain.propensity.policy import MODELS

__all__ = [
    "ALERTS_PUBLISHED",
    "ALERTS_SUPPRESSED",
    "DEAD_LETTERS",
    "EVENTS_CONSUMED",
    "OPEN_SESSIONS",
    "SESSIONS_CLOSED",
    "STAGE_TRANSITIONS",
    "HotHistogram",
    "Metrics",
]

disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series: no use here

# The series the terminal summary (`journey run`) reads, by the names it scrapes.
EVENTS_CONSUMED = "journey_events_consumed_total"
DEAD_LETTERS = "journey_dead_letters_total"
STAGE_TRANSITIONS = "journey_stage_transitions_total"
ALERTS_PUBLISHED = "journey_alerts_published_total"
ALERTS_SUPPRESSED = "journey_alerts_suppressed_total"
SESSIONS_CLOSED = "journey_sessions_closed_total"
OPEN_SESSIONS = "journey_open_sessions"

_SESSION_CLOSES = {Count.SESSIONS_CLOSED: "ended", Count.SESSIONS_OVER_CAP: "over_cap"}
_SESSION_COUNTS = (Count.SESSIONS_OPENED, *_SESSION_CLOSES)
_HOLD_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
"""Buckets of the times the worker is held: a batch's processing, a collector's pause."""
_CORE = tuple(
    v
    for k, v in vars(Count).items()
    if k.isupper() and not v.endswith("_") and v not in (*_SESSION_COUNTS, Count.ERASED)
)
_LATEST = " over the latest labels (JOURNEY_PROPENSITY_EVAL) of this worker's partitions,"
_BEFORE = " each scored before the model learned it"
_MODEL_FIGURES = {
    "auc": "ROC AUC (exact)" + _LATEST + _BEFORE + ".",
    "rule_auc": "ROC AUC of the model's baseline rule (session_purchase: cart and checkout;"
    " purchase_7d: orders in 28 days; churn_7d: days since seen) on the same labels.",
    "log_loss": "Log loss" + _LATEST + _BEFORE + ".",
    "brier": "Brier score" + _LATEST + _BEFORE + ".",
    "calibration_error": "Expected calibration error (ten bins)" + _LATEST + _BEFORE + ".",
    "lift_top_decile": "Conversion rate of the top tenth of scores over the overall rate"
    + _LATEST
    + _BEFORE
    + ".",
}
"""The model's evaluation gauges (`journey_propensity_*`), by the figure `evaluate` names."""
_FIGURE_OF = {"lift_top_decile": "lift_top_10"}
TABLES = ("journeys", "timers", "analytics_windows")
"""State tables whose sizes are reported (`journey_table_keys`)."""


class HotHistogram(Collector):
    """A label-less histogram cheap enough to observe once per event.

    Observations land in plain bucket counts (one `bisect`); the cumulative
    form Prometheus wants is built only when scraped. Meant for one thread
    (the worker's event loop serves `/metrics` too).
    """

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation)
        cumulative, total = [], 0
        for bound, count in zip(
            (*map(floatToGoString, self.bounds), "+Inf"), self.counts, strict=True
        ):
            total += count
            cumulative.append((bound, total))
        family.add_metric([], cumulative, self.sum)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation)


class Metrics:
    """All metric families, in a registry of their own (one per worker process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            EVENTS_CONSUMED,
            "Inbound records by outcome (invalid ones are dead-lettered).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.dead_letters = Counter(
            DEAD_LETTERS, "Records sent to the dead-letter topic, by reason.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.erasures = Counter(
            "journey_erasures_total", "Journeys erased on request (`journey forget`).",
            registry=r,
        )  # fmt: skip
        self.fields_dropped = Counter(
            "journey_fields_dropped_total",
            "Malformed parts dropped from events that were processed without them"
            " (JOURNEY_DRIFT=omit), by the field at fault.",
            ["field"], registry=r,
        )  # fmt: skip
        self.transitions = Counter(
            STAGE_TRANSITIONS, "Stage transitions published.",
            ["from_stage", "to_stage"], registry=r,
        )  # fmt: skip
        self.alerts = Counter(
            ALERTS_PUBLISHED, "Cart alerts published, by type.",
            ["type"], registry=r,
        )  # fmt: skip
        self.suppressed = Counter(
            ALERTS_SUPPRESSED,
            "Abandoned carts not alerted: no marketing consent, or within the cooldown.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.sessions_opened = Counter(
            "journey_sessions_opened_total", "Sessions opened.", registry=r
        )
        self.sessions_closed = Counter(
            SESSIONS_CLOSED,
            "Sessions closed and published: ended (gap, length cap) or over_cap (too many open).",
            ["reason"], registry=r,
        )  # fmt: skip
        self.session_duration = HotHistogram(
            "journey_session_duration_seconds", "Length of closed sessions, first to last event.",
            (0, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 86400), r,
        )  # fmt: skip
        self.session_events = HotHistogram(
            "journey_session_events", "Events per closed session.",
            (1, 2, 3, 5, 10, 20, 50, 100, 250, 1000), r,
        )  # fmt: skip
        self.processing_latency = HotHistogram(
            "journey_processing_latency_seconds",
            "From an input event's Kafka timestamp until its outputs, state and offset are saved.",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), r,
        )  # fmt: skip
        self.event_time_lag = HotHistogram(
            "journey_event_time_lag_seconds",
            "Wall clock minus event time when an event is processed.",
            (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600, 86400, 604800), r,
        )  # fmt: skip
        self.consumer_lag = Gauge(
            "journey_consumer_lag_records",
            "Records on an assigned partition not processed yet (high watermark minus position).",
            ["topic", "partition"], registry=r,
        )  # fmt: skip
        self.table_keys = Gauge(
            "journey_table_keys", "Keys held in a state table on this worker.",
            ["table"], registry=r,
        )  # fmt: skip
        self.rule_matches = Counter(
            "journey_rule_matches_total",
            "Events matched, by stage rule (a rule that stays at 0 never fires).",
            ["rule"], registry=r,
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
            buckets=_HOLD_SECONDS, registry=r,
        )  # fmt: skip
        self.gc_pauses = Histogram(
            "journey_gc_pause_seconds",
            "Time the cyclic garbage collector held the worker, by generation (2: full).",
            ["generation"], buckets=_HOLD_SECONDS, registry=r,
        )  # fmt: skip
        self.batch_size = Histogram(
            "journey_batch_records", "Records per processed batch.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500), registry=r,
        )  # fmt: skip
        self.state_writes = Counter(
            "journey_state_writes_total", "Journey states written to the changelog.", registry=r
        )
        self.state_write_bytes = Counter(
            "journey_state_write_bytes_total", "Bytes of journey states written to the changelog.",
            registry=r,
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
        self.open_sessions = Gauge(OPEN_SESSIONS, "Sessions open on this worker.", registry=r)
        self.stages = Gauge(
            "journey_journeys_by_stage",
            "Journeys held by this worker, by current stage (none: no stage yet).",
            ["stage"], registry=r,
        )  # fmt: skip
        self.open_carts = Gauge("journey_open_carts", "Non-empty carts on this worker.", registry=r)
        self.partitions = Gauge(
            "journey_assigned_partitions", "Input partitions assigned to this worker.", registry=r
        )
        self.last_processed = Gauge(
            "journey_last_processed_timestamp_seconds",
            "Wall-clock time the worker last finished a batch of input records.", registry=r,
        )  # fmt: skip
        self.watermark = Gauge(
            "journey_watermark_timestamp_seconds",
            "Highest event time seen (lowest over this worker's partitions).", registry=r,
        )  # fmt: skip
        self.scores = Counter(
            "journey_propensity_scores_total", "Propensity scores published, by model.",
            ["model"], registry=r,
        )  # fmt: skip
        self.model_labels = Gauge(
            "journey_propensity_labels",
            "Examples the models of this worker's partitions learned, by outcome (positive: the"
            " session converted, the customer bought or was not seen in 7 days).",
            ["model", "outcome"], registry=r,
        )  # fmt: skip
        self.model_figures = {
            figure: Gauge(f"journey_propensity_{figure}", text, ["model"], registry=r)
            for figure, text in _MODEL_FIGURES.items()
        }
        self.analytics_records = Counter(
            "journey_analytics_records_total",
            "Analytics records published (a window's part closing, or changing after), by output.",
            ["output"], registry=r,
        )  # fmt: skip
        self.touchpoint_rate = Gauge(
            "journey_touchpoint_rate",
            "Exit or support-contact rate of a touchpoint in the latest closed analytics window,"
            " the whole pipeline's (every worker reports the same).",
            ["dimension", "node", "measure"], registry=r,
        )  # fmt: skip
        self.touchpoint_baseline = Gauge(
            "journey_touchpoint_baseline_rate",
            "The same rate over the trailing windows before it (the touchpoint's own baseline).",
            ["dimension", "node", "measure"], registry=r,
        )  # fmt: skip
        self.touchpoint_friction = Gauge(
            "journey_touchpoint_friction",
            "1 while a touchpoint's rate stands out against its baseline (>= 30 visits, above"
            " it by more than 3 standard errors and 10 points), else 0.",
            ["dimension", "node", "measure"], registry=r,
        )  # fmt: skip
        ProcessCollector(registry=r)  # process_resident_memory_bytes, CPU, open fds
        PlatformCollector(registry=r)
        Info(
            "journey_build",
            "Version of the running worker, and its journey core's build.",
            registry=r,
        ).info({"version": __version__, "core": "compiled" if CORE_MODE == "compiled" else "pure"})
        self._preinitialise()

    def _preinitialise(self) -> None:
        for generation in ("0", "1", "2"):
            self.gc_pauses.labels(generation)
        for outcome in Outcome.ALL:
            self.events.labels(outcome)
        for reason in Reason.ALL:
            self.dead_letters.labels(reason)
        for to_stage in STAGES:
            for from_stage in (NO_STAGE, *STAGES):
                if from_stage != to_stage:
                    self.transitions.labels(from_stage, to_stage)
        for kind in RecordType.ALERTS:
            self.alerts.labels(kind)
            self.cart_value.labels(kind)
        for reason in _SESSION_CLOSES.values():
            self.sessions_closed.labels(reason)
        for table in TABLES:
            self.table_keys.labels(table)
        for stage in (NO_STAGE, *STAGES):
            self.stages.labels(stage)
        for reason in Suppression.ALL:
            self.suppressed.labels(reason)
        for decision in _CORE:
            self.core.labels(decision)
        for output in Output.ANALYTICS:
            self.analytics_records.labels(output)
        for model in MODELS:
            self.scores.labels(model)
            for outcome in ("positive", "negative"):
                self.model_labels.labels(model, outcome)
            for gauge in self.model_figures.values():
                gauge.labels(model).set(float("nan"))  # no figure before both outcomes are seen

    def count_outcomes(self, outcomes: dict[str, int]) -> None:
        for outcome, n in outcomes.items():
            self.events.labels(outcome).inc(n)

    def set_models(self, report: list[dict[str, Any]]) -> None:
        """The models' labels and evaluation (`propensity.scorer.report` over this worker's
        partitions); a figure with no value yet is NaN."""
        for figures in report:
            model = figures["model"]
            self.model_labels.labels(model, "positive").set(figures["positive"])
            self.model_labels.labels(model, "negative").set(figures["negative"])
            for figure, gauge in self.model_figures.items():
                value = figures[_FIGURE_OF.get(figure, figure)]
                gauge.labels(model).set(float("nan") if value is None else value)

    def count_decisions(
        self,
        decisions: Iterable[Decision],
        analytics: Iterable[tuple[str, str, Any]],
        scores: Iterable[Score] = (),
    ) -> None:
        """Count a batch's decisions by type, its analytics records by output and its
        propensity scores by model: tallied in plain integers, added to the series once per
        label."""
        for model, n in Tally(score.model for score in scores).items():
            self.scores.labels(model).inc(n)
        alerts: Tally[str] = Tally()
        values: dict[str, float] = {}
        transitions: Tally[tuple[str, str]] = Tally()
        for decision in decisions:
            if isinstance(decision, StageChanged):
                transitions[decision.from_stage or NO_STAGE, decision.to_stage] += 1
                continue
            if isinstance(decision, SessionClosed):
                session = decision.session
                self.session_duration.observe((session.ended_at - session.started_at) / 1000)
                self.session_events.observe(session.event_count)
                continue
            if isinstance(decision, CartAbandoned):
                kind, value = RecordType.CART_ABANDONED, decision.judgement.value
            elif isinstance(decision, CartRecovered):
                kind, value = RecordType.CART_RECOVERED, decision.recovery.recovered_value
            else:
                continue
            alerts[kind] += 1
            values[kind] = values.get(kind, 0.0) + value
        for kind, n in alerts.items():
            self.alerts.labels(kind).inc(n)
            self.cart_value.labels(kind).inc(values[kind])
        for (from_stage, to_stage), n in transitions.items():
            self.transitions.labels(from_stage, to_stage).inc(n)
        for output, n in Tally(output for output, _key, _record in analytics).items():
            self.analytics_records.labels(output).inc(n)

    def know_rules(self, rule_ids: Iterable[str]) -> None:
        """Every stage rule's series, at zero until it matches."""
        for rule in rule_ids:
            self.rule_matches.labels(rule)

    def count_rule_matches(self, matches: dict[str, int]) -> None:
        for rule, n in matches.items():
            self.rule_matches.labels(rule).inc(n)

    def count_core(self, counts: dict[str, int]) -> None:
        for name, n in counts.items():
            if name == Count.SESSIONS_OPENED:
                self.sessions_opened.inc(n)
            elif name in _SESSION_CLOSES:
                self.sessions_closed.labels(_SESSION_CLOSES[name]).inc(n)
            elif name == Count.ERASED:
                self.erasures.inc(n)
            elif name.startswith(Count.SUPPRESSED):
                self.suppressed.labels(name.removeprefix(Count.SUPPRESSED)).inc(n)
            else:
                self.core.labels(name).inc(n)
