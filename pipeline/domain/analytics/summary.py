"""The figures a reader sees, derived from the counts that add up across parts and windows.

Records carry both: the counts (steps, sketches, answer distributions) so parts and
windows merge by summing, and these derived figures (quantiles, rates, NPS).
"""

from __future__ import annotations

import math
from typing import Any, Final

from . import sketch
from .facts import NPS

__all__ = ["LOW_N", "buckets", "durations", "node_summary", "voice_summary"]

LOW_N: Final = 30
"""Fewer answers than this make a score `low_n`: shown, but not to be trusted alone."""


def buckets(counts: sketch.Sketch) -> list[tuple[int, int]]:
    """A sketch as records carry it: (bucket, count) pairs in bucket order."""
    return sorted(counts.items())


def durations(counts: sketch.Sketch) -> dict[str, Any]:
    pairs = buckets(counts)
    p50, p90 = sketch.quantiles(pairs, (0.5, 0.9))
    return {"p50_ms": p50, "p90_ms": p90, "durations": pairs}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def node_summary(visits: int, exits: int, support: int) -> dict[str, Any]:
    return {
        "visits": visits,
        "exits": exits,
        "exit_rate": _rate(exits, visits),
        "support_contacts": support,
        "support_rate": _rate(support, visits),
    }


def voice_summary(kind: str, distribution: list[int]) -> dict[str, Any]:
    """NPS (promoters 9-10, passives 7-8, detractors 0-6; NPS = 100 x (P - D) / n, with its
    standard error) or ratings (1-5: count, mean, distribution)."""
    n = sum(distribution)
    figures: dict[str, Any] = {"responses": n, "distribution": distribution, "low_n": n < LOW_N}
    if kind == NPS:
        promoters, passives = sum(distribution[9:]), sum(distribution[7:9])
        detractors = n - promoters - passives
        p, d = (promoters / n, detractors / n) if n else (0.0, 0.0)
        figures |= {
            "promoters": promoters,
            "passives": passives,
            "detractors": detractors,
            "nps": round(100 * (p - d), 2) if n else None,
            "nps_se": round(100 * math.sqrt((p + d - (p - d) ** 2) / n), 2) if n else None,
            "mean_rating": None,
        }
    else:
        total = sum((value + 1) * count for value, count in enumerate(distribution))
        figures |= {
            "promoters": None,
            "passives": None,
            "detractors": None,
            "nps": None,
            "nps_se": None,
            "mean_rating": round(total / n, 3) if n else None,
        }
    return figures
