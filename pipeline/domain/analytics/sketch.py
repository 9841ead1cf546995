"""Fixed-size duration sketches: log-spaced buckets whose counts add up across parts.

A duration d (ms) falls in bucket `floor(log(d + 1) / log(GAMMA))`; a quantile is
read back as its bucket's middle, within 2.5 % of the true value. Buckets cover
1 ms to beyond a year in under 900 entries, so merging parts or windows is a sum
and a sketch never grows past that, whatever the traffic.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["Sketch", "add", "merge", "quantiles"]

GAMMA: Final = 1.05
_LOG_GAMMA: Final = math.log(GAMMA)

Sketch = dict[int, int]
"""Bucket index -> count."""


def add(sketch: Sketch, duration_ms: int) -> None:
    bucket = int(math.log(max(duration_ms, 0) + 1) / _LOG_GAMMA)
    sketch[bucket] = sketch.get(bucket, 0) + 1


def merge(into: Sketch, other: Sketch) -> None:
    for bucket, count in other.items():
        into[bucket] = into.get(bucket, 0) + count


def quantiles(sketch: Sketch, qs: tuple[float, ...]) -> list[int | None]:
    """The quantiles `qs` (ascending) in ms, in one pass (None for an empty sketch)."""
    total = sum(sketch.values())
    if not total:
        return [None] * len(qs)
    found: list[int | None] = []
    seen, want = 0, 0
    for bucket in sorted(sketch):
        seen += sketch[bucket]
        while want < len(qs) and seen > qs[want] * (total - 1):
            found.append(max(0, int(GAMMA ** (bucket + 0.5) + 0.5) - 1))
            want += 1
        if want == len(qs):
            return found
    raise AssertionError("unreachable: the ranks are within the total")
