"""One checker for every scenario: the decision ids on the output topics against
`journey process` on the same input."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pipeline.domain import Reason
from pipeline.topics import DEAD_LETTER, DECISION_TOPICS

from ..support import canonical, offline_expectation, read_jsonl

ROWS: list[tuple[Any, ...]] = []
"""(scenario, events, faults, decisions expected, missing, extra, late beyond offline)."""

MODEL_ROWS: list[tuple[Any, ...]] = []
"""(scenario, scores streamed, scores offline, events both scored, streamed ROC AUC on them,
offline's, sessions closed)."""

_IDS = ("transition_id", "alert_id", "session_id")


@dataclass
class Verdict:
    expected: int
    missing: list[bytes]
    extra: list[bytes]
    late_beyond_offline: int


def _decision_id(record: dict[str, Any]) -> str:
    kind = record.get("type", "transition")
    return kind + ":" + next(str(record[i]) for i in _IDS if record.get(i) is not None)


def check(
    scenario: str,
    faults: str,
    records: list[tuple[str | None, bytes]],
    published: dict[str, list[dict[str, Any]]],
    tmp: Path,
    received_at: int | None = None,
) -> Verdict:
    """Compare, record a row, and return the verdict (the caller asserts on it).

    Missing: a decision `journey process` makes that no output record carries. Extra: an
    output record the oracle does not write; a repeated record (at-least-once) is not
    extra, but two different records under one decision id are."""
    expected = offline_expectation(records, tmp, received_at)
    missing: list[bytes] = []
    extra: list[bytes] = []
    total = 0
    for topic, want in expected.items():
        got = canonical(published[topic])
        total += len(want)
        missing += sorted(set(want) - set(got))
        extra += sorted(set(got) - set(want))
        by_id: dict[str, set[bytes]] = defaultdict(set)
        for raw in set(got):
            by_id[_decision_id(orjson.loads(raw))].add(raw)
        extra += [b"two records under " + i.encode() for i, v in by_id.items() if len(v) > 1]
    offline_late = sum(d["reason"] == Reason.LATE for d in read_jsonl(tmp / "dead-letter.jsonl"))
    online_late = sum(d["reason"] == Reason.LATE for d in published[DEAD_LETTER])
    verdict = Verdict(total, missing, extra, max(0, online_late - offline_late))
    ROWS.append((scenario, len(records), faults, total, len(missing), len(extra),
                 verdict.late_beyond_offline))  # fmt: skip
    return verdict


def assert_equal(verdict: Verdict) -> None:
    shown = [r[:300] for r in (verdict.missing + verdict.extra)[:3]]
    assert not verdict.missing and not verdict.extra, (
        f"{len(verdict.missing)} missing, {len(verdict.extra)} extra of {verdict.expected}: {shown}"
    )
    assert verdict.late_beyond_offline == 0, "late dead letters beyond the oracle's"


def read_all(pipeline: Any) -> dict[str, list[dict[str, Any]]]:
    return {topic: pipeline.read(topic) for topic in (*DECISION_TOPICS.values(), DEAD_LETTER)}
