"""What the journey analytics count and how: windows, top-N, page rules, funnels."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

from ..events import STAGES
from .nodes import PageRules

__all__ = [
    "STAGES_FUNNEL",
    "AnalyticsPolicy",
    "Funnel",
    "default_document",
    "funnels_from_dict",
]

STAGES_FUNNEL: Final = "stages"
"""The kind of funnel counted from stage entries, not from sessions' events."""


@dataclass(frozen=True, slots=True)
class Funnel:
    """Ordered steps, each a set of event types; or (kind `stages`) the journey stages."""

    id: str
    steps: tuple[tuple[str, frozenset[str]], ...]
    kind: str = "session"

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Funnel:
        if document.get("kind") == STAGES_FUNNEL:
            return cls(document["id"], tuple((s, frozenset()) for s in STAGES), STAGES_FUNNEL)
        steps = tuple((s["name"], frozenset(s["event_types"])) for s in document["steps"])
        if len(steps) < 2:
            raise ValueError(f"funnel {document['id']!r}: needs at least two steps")
        return cls(document["id"], steps)


@dataclass(frozen=True, slots=True)
class AnalyticsPolicy:
    """`close_after_ms`: how long after a window's end every session whose last event is
    in it has closed (gap + lateness; one running on past the end changes it later);
    `keep_ms`: how long after its end a window can still change (a session's longest
    run + gap + lateness), after which it leaves memory."""

    window_ms: int = 3_600_000
    top: int = 50
    pages: PageRules = field(default_factory=PageRules)
    funnels: tuple[Funnel, ...] = ()
    close_after_ms: int = 35 * 60_000
    keep_ms: int = 24 * 3_600_000 + 35 * 60_000

    @property
    def cap(self) -> int:
        """Distinct nodes kept exact per table in memory before the rest go to `(other)`."""
        return 4 * self.top


def default_document(name: str) -> dict[str, Any]:
    """A shipped default file of the domain package (`default_funnels`, `default_page_rules`)."""
    text = resources.files("pipeline.domain").joinpath(f"{name}.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def funnels_from_dict(document: dict[str, Any]) -> tuple[Funnel, ...]:
    """The funnels of a funnels document (`schemas/funnels.v1.json`)."""
    funnels = tuple(Funnel.from_dict(f) for f in document["funnels"])
    ids = [f.id for f in funnels]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"funnel ids must be unique; repeated: {', '.join(repeated)}")
    return funnels
