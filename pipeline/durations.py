"""Durations as people write them (`30m`, `24h`, `7d`, `500ms`, `90` seconds) and back."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(text: str) -> int:
    """'30m', '24h', '7d', '500ms' or plain seconds ('90') to milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; expected e.g. 30m, 24h, 7d, 500ms or 90 (s)")
    return int(float(match.group(1)) * _UNITS[match.group(2) or "s"])


def format_duration(ms: int) -> str:
    """Milliseconds as `parse_duration` reads them back, in the largest whole unit."""
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
