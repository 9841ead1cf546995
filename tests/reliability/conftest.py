"""Reliability scenarios: the stream against the offline oracle under faults and traffic shapes.

Each scenario reports a row (scenario, events, faults, decisions expected, missing,
extra); the session ends with the table. `JOURNEY_RELIABILITY=full` runs the long
versions (`make test-reliability`); the default sizes keep `make test` short.
"""

from __future__ import annotations

import os

import pytest

from ..integration.conftest import bootstrap, pipeline_factory  # noqa: F401 (fixtures)
from .checker import MODEL_ROWS, ROWS

FULL = os.environ.get("JOURNEY_RELIABILITY") == "full"


def size(short: int, full: int) -> int:
    return full if FULL else short


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    header = ("scenario", "events", "faults", "expected", "missing", "extra", "late+")
    _table(terminalreporter, "reliability: decisions against journey process", header, ROWS)
    header = ("scenario", "streamed", "offline", "both scored", "AUC stream", "AUC offline",
              "sessions closed")  # fmt: skip
    rows = [(*r[:4], f"{r[4]:.4f}", f"{r[5]:.4f}", r[6]) for r in MODEL_ROWS]
    _table(terminalreporter, "reliability: the propensity model against journey process",
           header, rows)  # fmt: skip


def _table(reporter: pytest.TerminalReporter, title: str, header: tuple, rows: list) -> None:
    if not rows:
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    reporter.section(title)
    for row in [header, *rows]:
        reporter.write_line("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)))
