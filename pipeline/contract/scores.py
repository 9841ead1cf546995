"""The published propensity scores against what their sessions did: read from the output
records (a `journey process` folder or the topics), the same for offline and stream."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..domain import RecordType
from ..domain.propensity.evaluation import evaluate
from ..domain.propensity.features import CHECKOUT_STEPS

__all__ = ["scored_outcomes", "scores_evaluation"]


def scored_outcomes(
    scores: Iterable[dict[str, Any]], sessions: Iterable[dict[str, Any]]
) -> tuple[list[float], list[float], list[bool]]:
    """(score, cart and checkout rule, converted) of every published score whose session
    closed, once per (model, event id): a restarted worker may publish one again."""
    converted: dict[str, bool] = {}
    survivor: dict[str, str] = {}
    for record in sessions:
        if record.get("type") == RecordType.SESSION_CLOSED:
            converted[record["session_id"]] = record["converted"]
        elif record.get("type") == RecordType.SESSION_MERGED:
            for merged in record["merged_session_ids"]:
                survivor[merged] = record["session_id"]
    seen: set[tuple[str, str]] = set()
    values: list[float] = []
    rules: list[float] = []
    labels: list[bool] = []
    for record in scores:
        key = (record["model"], record["event_id"])
        session_id = record["session_id"]
        for _ in range(len(survivor) + 1):  # a chain of merges ends
            if session_id in converted or session_id not in survivor:
                break
            session_id = survivor[session_id]
        if key in seen or session_id not in converted:
            continue
        seen.add(key)
        values.append(record["score"])
        rules.append(float(CHECKOUT_STEPS.index(record["checkout_step"])))
        labels.append(converted[session_id])
    return values, rules, labels


def scores_evaluation(
    scores: Iterable[dict[str, Any]], sessions: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    """`evaluate` of the published scores against their sessions' outcomes."""
    return evaluate(*scored_outcomes(scores, sessions))
