"""What the journey core tells the analytics, as plain tuples in `Outputs.facts`.

- `(SESSION, trail)`: a session closed; its trail entries are
  `(time, event_type, page path, channel, stage after the event)`.
- `(STAGE, at, stage)`: a journey entered `stage` by a rule (lapses are not entries).
- `(VOICE, at, kind, stage, touchpoint, value)`: an NPS answer or a review rating,
  with the stage the journey held before the answer's own effect.
"""

from __future__ import annotations

from typing import Any, Final

from ..events import Event
from .nodes import url_path

__all__ = ["NPS", "RATING", "SESSION", "STAGE", "VOICE", "trail_entry", "trail_order", "voice"]

SESSION: Final = "session"
STAGE: Final = "stage"
VOICE: Final = "voice"

NPS: Final = "nps"
RATING: Final = "rating"
_ANSWERS: Final = {"nps_submitted": (NPS, "nps_score"), "review_submitted": (RATING, "rating")}


def trail_entry(event: Event, stage: str | None) -> tuple[Any, ...]:
    page = event.data.get("page")
    path = url_path(page.get("url")) if isinstance(page, dict) else None
    return (event.occurred_at, event.event_type, path, event.channel, stage)


def trail_order(entry: tuple[Any, ...]) -> tuple[Any, ...]:
    """A total order of trail entries (time first), whatever order events arrived in."""
    return (entry[0], entry[1], entry[2] or "", entry[3] or "", entry[4] or "")


def voice(event: Event, stage: str | None) -> tuple[Any, ...] | None:
    """The VOICE fact of an NPS answer or a review, or None for any other event."""
    answer = _ANSWERS.get(event.event_type)
    if answer is None:
        return None
    kind, name = answer
    value = event.data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    properties = event.data.get("properties")
    touchpoint = properties.get("touchpoint") if isinstance(properties, dict) else None
    if not isinstance(touchpoint, str) or not touchpoint:
        touchpoint = event.channel or "(none)"
    return (VOICE, event.occurred_at, kind, stage, touchpoint, value)
