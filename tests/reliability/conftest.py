"""Reliability scenarios: the stream against the offline oracle under faults and traffic shapes.

Each scenario reports a row (scenario, events, faults, decisions expected, missing,
extra); the session ends with the table. `JOURNEY_RELIABILITY=full` runs the long
versions (`make test-reliability`); the default sizes keep `make test` short.
"""

from __future__ import annotations

import os

import pytest

from ..integration.conftest import bootstrap, pipeline_factory  # noqa: F401 (fixtures)
from .checker import ROWS

FULL = os.environ.get("JOURNEY_RELIABILITY") == "full"


def size(short: int, full: int) -> int:
    return full if FULL else short


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    header = ("scenario", "events", "faults", "expected", "missing", "extra", "late+")
    widths = [max(len(str(r[i])) for r in [header, *ROWS]) for i in range(len(header))]
    terminalreporter.section("reliability: decisions against journey process")
    for row in [header, *ROWS]:
        terminalreporter.write_line(
            "  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True))
        )
