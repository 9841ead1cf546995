"""What the query API and the journey map show, from a `Rollup`: the same for the live
page and for `journey report`.

Every view covers the last `span_ms` of event time up to the latest closed window
(None: everything held), summed over parts and windows.
"""

from __future__ import annotations

from typing import Any

from ..events import format_time
from ..vocabulary import Output
from .nodes import EXIT, TOUCHPOINTS
from .rollup import Rollup, friction, total
from .summary import node_summary

__all__ = ["ALL", "friction_view", "funnel_ids", "funnel_view", "paths_view", "voc_view"]

ALL = "(all)"
"""The stage or touchpoint of a figure summed over all of them."""


def _span(rollup: Rollup, span_ms: int | None) -> dict[str, Any]:
    start, end = rollup.windows(span_ms)
    return {
        "from": format_time(max(start, 0)) if rollup.last_end else None,
        "to": format_time(end) if rollup.last_end else None,
    }


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "durations"}


def paths_view(rollup: Rollup, dimension: str, span_ms: int | None) -> dict[str, Any]:
    """Steps between the dimension's nodes (largest first) and each node's visits and exits
    (for channels and stages, worked out from the steps: no support contacts)."""
    summed = rollup.summed(Output.PATHS, span_ms)
    steps = [_public(r) for k, r in summed.items() if k[0] == "step" and k[1] == dimension]
    nodes = [_public(r) for k, r in summed.items() if k[0] == "node" and k[1] == dimension]
    if dimension not in TOUCHPOINTS:
        nodes = _nodes_of(dimension, steps)
    steps.sort(key=lambda r: (-r["count"], r["from"], r["to"]))
    nodes.sort(key=lambda r: (-r["visits"], r["node"]))
    return {"dimension": dimension, **_span(rollup, span_ms), "steps": steps, "nodes": nodes}


def _nodes_of(dimension: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    visits: dict[str, int] = {}
    exits: dict[str, int] = {}
    for step in steps:
        if step["to"] == EXIT:
            exits[step["from"]] = exits.get(step["from"], 0) + step["count"]
        else:
            visits[step["to"]] = visits.get(step["to"], 0) + step["count"]
    unknown = {"support_contacts": None, "support_rate": None}  # no support data per node
    return [
        {"kind": "node", "dimension": dimension, "node": node,
         **node_summary(n, exits.get(node, 0), 0), **unknown}
        for node, n in visits.items()
    ]  # fmt: skip


def funnel_ids(rollup: Rollup) -> list[str]:
    return sorted({key[0] for key in rollup.summed(Output.FUNNELS, None)})


def funnel_view(rollup: Rollup, funnel: str, span_ms: int | None) -> dict[str, Any] | None:
    """A funnel's steps with conversion rates (None: no record of that funnel)."""
    total = rollup.summed(Output.FUNNELS, span_ms).get((funnel,))
    if total is None:
        return None
    steps = [_public(step) for step in total["steps"]]
    return {"funnel": funnel, **_span(rollup, span_ms), "steps": steps}


def voc_view(rollup: Rollup, span_ms: int | None) -> dict[str, Any]:
    """NPS and ratings by stage and touchpoint, by stage, by touchpoint and overall."""
    summed = rollup.summed(Output.VOC, span_ms)
    views: dict[str, Any] = {"by_stage_touchpoint": sorted(summed.values(), key=_voice_order)}
    for by, stage, touchpoint in (("by_stage", True, False), ("by_touchpoint", False, True),
                                  ("overall", False, False)):  # fmt: skip
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for (kind, s, t), record in summed.items():
            group = (kind, s if stage else ALL, t if touchpoint else ALL)
            regrouped = {**record, "stage": group[1], "touchpoint": group[2]}
            groups.setdefault(group, []).append(regrouped)
        rolled = [total(Output.VOC, records) for records in groups.values()]
        views[by] = sorted(rolled, key=_voice_order)
    return {**_span(rollup, span_ms), **views}


def _voice_order(record: dict[str, Any]) -> tuple[str, str, str]:
    return (record["kind"], record["stage"], record["touchpoint"])


def friction_view(rollup: Rollup, span_ms: int | None, every: bool = False) -> list[dict[str, Any]]:
    """The touchpoints whose exit or support-contact rate in the latest window stands out
    against the windows before it within the span (`every`: all those judged)."""
    judged = friction(rollup.per_window(Output.PATHS, span_ms, steps=False))
    return judged if every else [item for item in judged if item["flagged"]]
