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


def quantiles(buckets: list[tuple[int, int]], qs: tuple[float, ...]) -> list[int | None]:
    """The quantiles `qs` (ascending) in ms of a sketch's (bucket, count) pairs in bucket
    order, in one pass (None for an empty sketch)."""
    if len(buckets) < 2:  # most steps of a window part: one bucket, or none
        return [_middle(buckets[0][0]) if buckets else None] * len(qs)
    total = sum(count for _bucket, count in buckets)
    found: list[int | None] = []
    seen, want = 0, 0
    for bucket, count in buckets:
        seen += count
        while want < len(qs) and seen > qs[want] * (total - 1):
            found.append(_middle(bucket))
            want += 1
        if want == len(qs):
            return found
    raise AssertionError("unreachable: the ranks are within the total")


def _middle(bucket: int) -> int:
    """The duration a bucket stands for: its middle."""
    return max(0, int(GAMMA ** (bucket + 0.5) + 0.5) - 1)
