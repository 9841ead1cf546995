"""`journey report OUTDIR`: the journey map of a `journey process` output folder, as one
static HTML file (to backtest stage rules, funnels and page rules on past data), with the
propensity scores' calibration against their sessions' outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ..contract.scores import scores_evaluation
from ..domain import Output
from ..domain.analytics import DIMENSIONS
from ..domain.analytics.rollup import Rollup
from ..domain.analytics.views import friction_view, funnel_ids, funnel_view, paths_view, voc_view
from ..domain.propensity.policy import SESSION_PURCHASE
from ..domain.propensity.scorer import PUBLISHED
from ..durations import parse_duration
from ..topics import OUTPUT_FILES
from ..worker.map_page import SPANS, map_page

__all__ = ["ReportError", "write_report"]


class ReportError(ValueError):
    """A folder that holds no analytics to report."""


def read_analytics(out_dir: Path) -> Rollup:
    rollup = Rollup()
    files = [OUTPUT_FILES[o] for o in Output.ANALYTICS]
    missing = [name for name in files if not (out_dir / name).exists()]
    if missing:
        raise ReportError(
            f"{out_dir}: no {', '.join(missing)}; run `journey process --output-dir {out_dir}`"
            " with JOURNEY_ANALYTICS=on (the default) first"
        )
    for output in Output.ANALYTICS:
        with (out_dir / OUTPUT_FILES[output]).open("rb") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    rollup.add(output, orjson.loads(line))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                    raise ReportError(
                        f"{out_dir / OUTPUT_FILES[output]}:{number}: not an analytics record"
                        f" ({error})"
                    ) from None
    return rollup


def report_data(rollup: Rollup) -> dict[str, Any]:
    """Per span the page offers, what the API would answer."""
    data: dict[str, Any] = {}
    for span in SPANS:
        ms = None if span == "all" else parse_duration(span)
        data[span] = {
            "paths": {dim: paths_view(rollup, dim, ms) for dim in DIMENSIONS},
            "funnels": {f: funnel_view(rollup, f, ms) for f in funnel_ids(rollup)},
            "voc": voc_view(rollup, ms),
            "friction": friction_view(rollup, ms),
        }
    return data


def read_propensity(out_dir: Path) -> dict[str, Any] | None:
    """The published scores against their sessions' outcomes (None: no scores file, the
    model was off)."""
    scores, sessions = (out_dir / OUTPUT_FILES[o] for o in (Output.PROPENSITY, Output.SESSIONS))
    if not scores.exists() or not sessions.exists():
        return None
    figures = scores_evaluation(read_records(scores), read_records(sessions))
    return {"over": PUBLISHED, "models": [{"model": SESSION_PURCHASE, **figures}]}


def read_records(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as handle:
        return [orjson.loads(line) for line in handle]


def write_report(out_dir: Path, target: Path) -> dict[str, Any]:
    """Write the page for `out_dir`'s analytics and propensity scores to `target`; returns
    its data."""
    data = {**report_data(read_analytics(out_dir)), "propensity": read_propensity(out_dir)}
    target.write_text(map_page(orjson.dumps(data).decode()))
    return data
