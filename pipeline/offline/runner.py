"""`journey process`: the journey core over a file, writing the same records as the topics.

Two passes: validate every record (invalid ones go straight to the dead-letter
file) keeping the valid ones' bytes, then process them in event-time order
with the engine, each at its own event time. Ties keep the file's order, but
for one rule the worker keeps too: at equal times an event carrying a customer
id goes before an anonymous-only one, so a device's events at the very time of
its identity stitch belong to the customer. At the end,
time moves past every session gap and cart timeout, so every session closes
and every open cart is judged. This is the oracle the stream worker is held to.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ..contract.codec import EventDecoder, dead_letter, late_error
from ..contract.drift import Part, decode_again, describe
from ..contract.records import encoded, score_record
from ..domain import (
    Event,
    InvalidEvent,
    JourneyEngine,
    JourneyPolicy,
    Output,
    Outputs,
    Reason,
)
from ..topics import DEAD_LETTER_FILE, OUTPUT_FILES
from .formats import FORMATS, InputRecord

__all__ = ["Summary", "process_records"]

_Valid = tuple[int, bool, int, bytes, tuple[Part, ...]]
"""A valid record: its event time, whether it is anonymous-only, its line in the input, its
bytes, the parts dropped from it (sorted as they are, the first three order the run)."""


@dataclass(slots=True)
class Summary:
    records: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    outputs: Counter[str] = field(default_factory=Counter)
    to_stage: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    fields_dropped: Counter[str] = field(default_factory=Counter)
    core: Counter[str] = field(default_factory=Counter)
    rule_matches: dict[str, int] = field(default_factory=dict)
    """Events matched by each stage rule, every rule listed (0: it never fired)."""
    propensity: list[dict[str, Any]] | None = None
    """The propensity models' labels and evaluation at the end (None: off)."""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "events_by_outcome": dict(self.outcomes),
            "records_by_output": dict(self.outputs),
            "transitions_by_stage": dict(self.to_stage),
            "dead_letters_by_reason": dict(self.dead_letters),
            "fields_dropped": dict(self.fields_dropped),
            "counters": dict(sorted(self.core.items())),
            "matches_by_rule": self.rule_matches,
            "propensity": self.propensity,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.records / self.seconds) if self.seconds else None,
        }

    def render(self) -> str:
        lines = [f"records read: {self.records} in {self.seconds:.1f} s"]
        for title, counts in (
            ("events by outcome", self.outcomes),
            ("records written", self.outputs),
            ("stage transitions by new stage", self.to_stage),
            ("dead letters by reason (dead-letter.jsonl)", self.dead_letters),
            ("malformed parts dropped, by field", self.fields_dropped),
        ):
            lines.append(f"{title}:")
            lines += [f"  {name:<32} {n:>10}" for name, n in sorted(counts.items())] or ["  (none)"]
        lines.append("matches by stage rule:")
        lines += [
            f"  {rule:<32} {n:>10}" + ("  never matched" if not n else "")
            for rule, n in self.rule_matches.items()
        ]
        if self.propensity is not None:
            lines.append("propensity models (over the latest labels, each scored before it was"
                         " learned):")  # fmt: skip
            lines += [_model_line(model) for model in self.propensity]
        refused = self.outcomes["invalid"]
        if refused * 2 > self.records:
            lines.append(
                f"{refused:,} of {self.records:,} records refused: is the input's --format right?"
                f" (one of {', '.join(FORMATS)}; dead-letter.jsonl says why each was refused)"
            )
        return "\n".join(lines)


def _model_line(model: dict[str, Any]) -> str:
    def figure(name: str) -> str:
        value = model[name]
        return "–" if value is None else f"{value:.4f}"

    return (
        f"  {model['model']:<17} {model['positive']:>8,} positive {model['negative']:>8,}"
        f" negative; ROC AUC {figure('auc')} (rule {figure('rule_auc')}), log loss"
        f" {figure('log_loss')}, Brier {figure('brier')}, calibration error"
        f" {figure('calibration_error')}"
    )


class _Files:
    """The four output files, one JSON record per line."""

    def __init__(self, out_dir: Path, stack: ExitStack, summary: Summary) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.summary = summary
        self.handles: dict[str, IO[bytes]] = {
            name: stack.enter_context((out_dir / file).open("wb"))
            for name, file in {**OUTPUT_FILES, "dead_letter": DEAD_LETTER_FILE}.items()
        }

    def write(self, out: Outputs) -> None:
        """Write the records in `out` and take them out of it (its counts stay, for
        `count`: one tally for the run, not one per event)."""
        summary = self.summary
        for decision in out.decisions:
            output, _key, record = encoded(decision)
            self.handles[output].write(orjson.dumps(record) + b"\n")
            summary.outputs[record.get("type", output)] += 1
            if output == Output.TRANSITIONS:
                summary.to_stage[record["to_stage"]] += 1
        for output, _key, record in out.analytics:
            self.handles[output].write(orjson.dumps(record) + b"\n")
            summary.outputs[output] += 1
        if out.scores:
            scores = self.handles[Output.PROPENSITY]
            for score in out.scores:
                scores.write(orjson.dumps(score_record(score)) + b"\n")
            summary.outputs[Output.PROPENSITY] += len(out.scores)
        out.decisions.clear()
        out.analytics.clear()
        out.scores.clear()

    def count(self, out: Outputs) -> None:
        """Add the run's counters and rule matches to the summary."""
        self.summary.core.update(out.counts)
        matches = self.summary.rule_matches
        for rule, n in out.rule_matches.items():
            matches[rule] += n

    def dead(self, reason: str, error: str, raw: bytes, line: int, event: Event | None) -> None:
        record = dead_letter(
            reason, error, raw, received_at=int(time.time() * 1000), offset=line, event=event
        )
        self.handles["dead_letter"].write(orjson.dumps(record) + b"\n")
        self.summary.dead_letters[reason] += 1
        self.summary.outputs["dead_letter"] += 1


def _progress(total: int | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} / {task.total:,}" if total else "{task.completed:,}"),
        TimeRemainingColumn(),
        disable=not sys.stderr.isatty(),
        transient=True,
    )


def process_records(
    records: Iterable[InputRecord | bytes],
    policy: JourneyPolicy,
    out_dir: Path,
    decoder: EventDecoder,
    received_at: int | None = None,
) -> Summary:
    """Run the journey core over raw records and write the output files.

    `received_at` (epoch ms, default now) is when the records count as received,
    for the clock-skew guard. With `policy.analytics`, the windowed analytics are written
    too, as one part (`part` 0).
    """
    summary = Summary(rule_matches={rule.id: 0 for rule in policy.rules.rules})
    received_at = int(time.time() * 1000) if received_at is None else received_at
    started = time.perf_counter()
    with ExitStack() as stack:
        files = _Files(out_dir, stack, summary)
        progress = stack.enter_context(_progress(None))
        reading = progress.add_task("validating", total=None)
        valid: list[_Valid] = []
        for index, record in enumerate(records):
            item = record if isinstance(record, InputRecord) else InputRecord(index + 1, record)
            line, raw, problem = item.line, item.value, item.problem
            summary.records += 1
            if problem is not None:
                summary.outcomes["invalid"] += 1
                files.dead(Reason.MALFORMED_ROW, problem, raw, line, None)
                continue
            try:
                decoded = decoder.decode(raw, received_at)
            except InvalidEvent as error:
                summary.outcomes["invalid"] += 1
                files.dead(error.reason, str(error), raw, line, None)
                continue
            event, drops = decoded
            if drops:
                summary.fields_dropped.update(drop.field for drop in drops)
                files.dead(Reason.PARTIAL, describe(drops), raw, line, event)
            anonymous = event.customer_id is None
            valid.append((event.occurred_at, anonymous, line, raw, decoded.parts))
            if index % 10_000 == 0:
                progress.update(reading, completed=index)
        progress.remove_task(reading)
        valid.sort(key=lambda entry: (entry[0], entry[1], entry[2]))
        working = progress.add_task("processing", total=len(valid))
        engine = JourneyEngine(policy)
        _run(valid, engine, files, summary, lambda n: progress.update(working, completed=n))
        if engine.propensity is not None:
            summary.propensity = engine.propensity.report()
    summary.seconds = time.perf_counter() - started
    return summary


def _decoded(valid: list[_Valid]) -> Iterator[tuple[int, bytes, Event]]:
    for _t, _anonymous, line, raw, parts in valid:
        yield line, raw, decode_again(raw, parts)


def _run(
    valid: list[_Valid],
    engine: JourneyEngine,
    files: _Files,
    summary: Summary,
    advance_bar: Any,
) -> None:
    out = Outputs()
    for n, (line, raw, event) in enumerate(_decoded(valid), 1):
        step = engine.on_event(event, out, event.occurred_at)
        summary.outcomes[step.outcome] += 1
        if step.late_by is not None:
            files.dead(Reason.LATE, late_error(step.late_by), raw, line, event)
        files.write(out)
        if n % 10_000 == 0:
            advance_bar(n)
    engine.on_eof(out)
    files.write(out)
    files.count(out)
