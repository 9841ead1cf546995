"""The state gauges: journeys by stage, open sessions and carts, table sizes, the
watermark, stuck inputs, read from the assigned partitions every second; the propensity
model's evaluation, every 15 seconds (an exact AUC sorts its latest labels)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from ..domain import NO_STAGE, STAGES
from ..domain.propensity.scorer import report
from .compact_states import CompactStates
from .metrics import Metrics
from .partition import Assigned
from .positions import Positions

__all__ = ["update_gauges", "update_model_gauges"]


def update_gauges(metrics: Metrics, assigned: Iterable[Assigned], positions: Positions) -> None:
    assigned = list(assigned)
    summaries = [cast(CompactStates, a.engine.states).summary() for a in assigned]
    metrics.table_keys.labels("journeys").set(sum(len(a.engine.states) for a in assigned))
    for stage in (NO_STAGE, *STAGES):
        metrics.stages.labels(stage).set(
            sum(s.stages[None if stage == NO_STAGE else stage] for s in summaries)
        )
    metrics.table_keys.labels("timers").set(sum(len(a.engine.timers) for a in assigned))
    windows = [len(a.engine.analytics.windows) for a in assigned if a.engine.analytics]
    metrics.table_keys.labels("analytics_windows").set(sum(windows))
    metrics.open_sessions.set(sum(s.sessions for s in summaries))
    metrics.open_carts.set(sum(s.carts for s in summaries))
    metrics.stuck.set(len(positions.stuck()))
    marks = [a.alignment.value for a in assigned if a.alignment.value]
    if marks:
        metrics.watermark.set(min(marks) / 1000)


def update_model_gauges(metrics: Metrics, assigned: Iterable[Assigned]) -> None:
    """The propensity models' labels and evaluation over the assigned partitions."""
    models = [a.engine.propensity for a in assigned if a.engine.propensity is not None]
    if models:
        metrics.set_models(report(models))
