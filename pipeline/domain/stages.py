"""Stage engine: rules turn events into stage signals; live signals give the current stage.

Each rule names a stage, the event types it applies to and conditions on the
event (`nps_score >= 9`) or on the customer (`customer.has_purchased == true`).
The first matching rule in file order wins. A `signal` rule records a signal
for its stage at the event's time; a `demote` rule (refund, detractor NPS, bad
review) clears every signal above its stage, taking the customer back to it.

A stage holds while its latest signal is inside that stage's window. The
current stage is the highest stage with a live signal; when signals age out the
customer moves back (a lapse). A journey that once had a stage never drops below
awareness.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from importlib import resources
from pathlib import Path
from typing import Any

from .events import STAGES, Event

__all__ = [
    "LAPSE",
    "Condition",
    "Rule",
    "StageRules",
    "current_stage",
    "default_rules",
    "default_rules_document",
    "next_expiry",
    "stage_rank",
]

LAPSE = "lapse"
"""The `reason` of a transition caused by signals ageing out."""

_DAY_MS = 86_400_000
_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
_OPS = ("==", "!=", ">", ">=", "<", "<=", "in", "exists", "absent")
_CUSTOMER = "customer."


def stage_rank(stage: str | None) -> int:
    """Position in the stage order; -1 for no stage yet."""
    return -1 if stage is None else _RANK[stage]


@dataclass(frozen=True, slots=True)
class Condition:
    """`field op value`; `customer.*` fields read the customer's facts, others the event."""

    field: str
    op: str
    value: Any = None
    path: tuple[str, ...] = dataclass_field(init=False)
    """The event field's dotted name split once (`campaign.source`: campaign, source)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", tuple(self.field.split(".")))

    def holds(self, event: Event, facts: dict[str, Any]) -> bool:
        if self.field.startswith(_CUSTOMER):
            actual = facts.get(self.field[len(_CUSTOMER) :])
        else:
            actual = event.field(self.path)
        op = self.op
        if op == "exists":
            return actual is not None
        if op == "absent":
            return actual is None
        if op == "==":
            return bool(actual == self.value)
        if op == "!=":
            return bool(actual != self.value)
        if op == "in":
            return actual in self.value
        if not isinstance(actual, int | float) or isinstance(actual, bool):
            return False
        if op == ">":
            return bool(actual > self.value)
        if op == ">=":
            return bool(actual >= self.value)
        if op == "<":
            return bool(actual < self.value)
        return bool(actual <= self.value)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    stage: str
    event_types: frozenset[str]
    conditions: tuple[Condition, ...] = ()
    demote: bool = False

    def matches(self, event: Event, facts: dict[str, Any]) -> bool:
        for condition in self.conditions:  # noqa: SIM110 (a loop: no generator per event)
            if not condition.holds(event, facts):
                return False
        return True


@dataclass(frozen=True, slots=True)
class StageRules:
    """A validated rules file, indexed by event type."""

    rules: tuple[Rule, ...]
    windows_ms: dict[str, int]
    by_type: dict[str, tuple[Rule, ...]]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageRules:
        """Build from a rules document; raises ValueError naming the offending entry."""
        windows = data.get("windows_days", {})
        missing = [s for s in STAGES if s not in windows]
        if missing:
            raise ValueError(f"stage rules: windows_days lacks {missing}; expected all of {STAGES}")
        rules: list[Rule] = []
        seen: set[str] = set()
        for entry in data.get("rules", []):
            rule_id = entry.get("id")
            if not rule_id or rule_id in seen:
                raise ValueError(f"stage rules: rule id {rule_id!r} is missing or repeated")
            seen.add(rule_id)
            if entry.get("stage") not in _RANK:
                raise ValueError(
                    f"stage rules: rule {rule_id!r} has stage {entry.get('stage')!r};"
                    f" expected one of {STAGES}"
                )
            conditions = []
            for cond in entry.get("when", []):
                if cond.get("op") not in _OPS:
                    raise ValueError(
                        f"stage rules: rule {rule_id!r} uses op {cond.get('op')!r};"
                        f" expected one of {_OPS}"
                    )
                conditions.append(Condition(cond["field"], cond["op"], cond.get("value")))
            rules.append(
                Rule(
                    id=rule_id,
                    stage=entry["stage"],
                    event_types=frozenset(entry["event_types"]),
                    conditions=tuple(conditions),
                    demote=entry.get("effect", "signal") == "demote",
                )
            )
        by_type: dict[str, list[Rule]] = {}
        for rule in rules:
            for event_type in sorted(rule.event_types):
                by_type.setdefault(event_type, []).append(rule)
        return cls(
            rules=tuple(rules),
            windows_ms={s: int(float(windows[s]) * _DAY_MS) for s in STAGES},
            by_type={t: tuple(rs) for t, rs in by_type.items()},
        )

    @classmethod
    def from_path(cls, path: Path) -> StageRules:
        return cls.from_dict(json.loads(path.read_text()))

    def match(self, event: Event, facts: dict[str, Any]) -> Rule | None:
        """The first rule that applies to `event` for a customer with `facts`."""
        for rule in self.by_type.get(event.event_type, ()):
            if rule.matches(event, facts):
                return rule
        return None

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type some rule applies to."""
        return frozenset(self.by_type)


def default_rules_document() -> dict[str, Any]:
    """The shipped default rules, as a document (see `default_stage_rules.json`)."""
    text = resources.files(__package__).joinpath("default_stage_rules.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def default_rules() -> StageRules:
    return StageRules.from_dict(default_rules_document())


def current_stage(
    signals: dict[str, int], now: int, windows_ms: dict[str, int], known: bool
) -> str | None:
    """The highest stage whose latest signal is still inside its window at `now`."""
    for stage in reversed(STAGES):
        at = signals.get(stage)
        if at is not None and now < at + windows_ms[stage]:
            return stage
    return STAGES[0] if known else None


def next_expiry(
    signals: dict[str, int], stage: str | None, windows_ms: dict[str, int]
) -> int | None:
    """When the current stage's latest signal leaves its window (None: nothing to lapse)."""
    if stage is None or stage not in signals:
        return None
    return signals[stage] + windows_ms[stage]
