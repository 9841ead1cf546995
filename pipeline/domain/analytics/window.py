"""One tumbling window's counts in one part: paths, touchpoint nodes, funnels, voice.

Counting is exact up to `policy.cap` distinct nodes per table; past it further
nodes are counted under `(other)`, so memory stays bounded and totals add up.
`changed` names the groups to write again (a dimension's paths, a funnel, a
voice key); `shown` the steps and nodes already listed on their own, which stay
listed (a part's latest record of a group holds every entry it ever listed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import sketch
from .nodes import EXIT, OTHER, START

__all__ = ["Step", "Window"]

_OWN = frozenset({OTHER, START, EXIT})

Step = list[Any]
"""[count, duration sketch]"""


def _held(table: dict[str, Any], name: str, cap: int, new: Callable[[], Any]) -> tuple[str, Any]:
    """`name`'s entry, created if missing; `(other)`'s when the table is full (`(start)` and
    `(exit)` always fit). Returns the name it is held under and the entry."""
    entry = table.get(name)
    if entry is None:
        if len(table) >= cap and name not in _OWN:
            name = OTHER
            entry = table.get(name)
        if entry is None:
            entry = table[name] = new()
    return name, entry


def _new_step() -> Step:
    return [0, {}]


def _new_node() -> list[int]:
    return [0, 0, 0]


@dataclass(slots=True)
class Window:
    start: int
    due: int = 0
    """When its changes are to be written next (its close, then once per window length)."""
    paths: dict[str, dict[str, dict[str, Step]]] = field(default_factory=dict)
    """dimension -> from -> to -> [steps, sketch of ms between the two nodes]"""
    nodes: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    """dimension -> node -> [visits, exits, visits followed by a support contact]"""
    funnels: dict[str, list[Step]] = field(default_factory=dict)
    """funnel id -> per step [entered, sketch of ms from the previous step]"""
    voice: dict[str, list[int]] = field(default_factory=dict)
    """"kind|stage|touchpoint" -> answers per value (0..10 for NPS, 1..5 at 0..4 for ratings)"""
    changed: set[tuple[str, ...]] = field(default_factory=set)
    """Groups changed since last written: (p, dim), (f, id), (v, key)."""
    shown: set[tuple[str, ...]] = field(default_factory=set)
    """Steps and nodes listed on their own so far: (p, dim, from, to), (n, dim, node)."""

    def step(self, cap: int, dim: str, frm: str, to: str, ms: int | None) -> None:
        """Count a step; `cap`: the policy's, distinct nodes held per table."""
        froms = self.paths.setdefault(dim, {})
        frm, tos = _held(froms, frm, cap, dict)
        to, entry = _held(tos, to, cap, _new_step)
        entry[0] += 1
        if ms is not None:
            sketch.add(entry[1], ms)
        self.changed.add(("p", dim))

    def visit(self, cap: int, dim: str, node: str, exit_: bool, support: bool) -> None:
        node, entry = _held(self.nodes.setdefault(dim, {}), node, cap, _new_node)
        entry[0] += 1
        entry[1] += exit_
        entry[2] += support
        self.changed.add(("p", dim))

    def enter(self, funnel: str, steps: int, index: int, ms: int | None) -> None:
        entries = self.funnels.get(funnel)
        if entries is None:
            entries = self.funnels[funnel] = [[0, {}] for _ in range(steps)]
        entries[index][0] += 1
        if ms is not None:
            sketch.add(entries[index][1], ms)
        self.changed.add(("f", funnel))

    def answer(self, key: str, size: int, index: int) -> None:
        self.voice.setdefault(key, [0] * size)[index] += 1
        self.changed.add(("v", key))

    def to_data(self) -> list[Any]:
        """Plain data; the sketches keep their int keys (encode with non-string keys)."""
        return [self.start, self.due, self.paths, self.nodes, self.funnels, self.voice,
                list(self.changed), list(self.shown)]  # fmt: skip

    @classmethod
    def from_data(cls, data: list[Any]) -> Window:
        start, due, paths, nodes, funnels, voice, changed, shown = data

        def steps(entry: list[Any]) -> Step:
            return [entry[0], {int(b): c for b, c in entry[1].items()}]

        return cls(
            start,
            due,
            {
                d: {f: {t: steps(e) for t, e in tos.items()} for f, tos in froms.items()}
                for d, froms in paths.items()
            },  # fmt: skip
            nodes,
            {f: [steps(e) for e in entries] for f, entries in funnels.items()},
            voice,
            {tuple(entry) for entry in changed},
            {tuple(entry) for entry in shown},
        )
