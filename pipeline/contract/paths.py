"""Reading `journey.paths` as a consumer of the topic: parts and windows merged.

A paths record (`schemas/paths.v3.json`) holds one part's steps and nodes of one
dimension in one window, and a part writes it again, whole, when later facts
change it. `merge_paths` keeps each part's latest record of a (dimension, window)
and sums the parts and windows into the figures the query API shows: step counts
and duration quantiles, node visits, exits and their rates. Version 2 records
(one per step's `from`) merge the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..domain import Output
from ..domain.analytics.rollup import Rollup
from ..domain.analytics.views import paths_view

__all__ = ["merge_paths"]


def merge_paths(records: Iterable[dict[str, Any]], dimension: str) -> dict[str, Any]:
    """The steps and nodes of `dimension` over every window of `records` (in the order
    the topic holds them, so a part's later record replaces its earlier one), summed over
    parts and windows, as `GET /paths?window=all` answers."""
    rollup = Rollup()
    rollup.add_all(Output.PATHS, records)
    return paths_view(rollup, dimension, None)
