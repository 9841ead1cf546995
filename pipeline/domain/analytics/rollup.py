"""Reading the analytics back: each part's latest record, parts and windows summed.

Records of one (window, key) may come in parts; a part may write a record again
when a late fact changes it (a paths record lists every step and node it ever listed). The
total of a key is the sum over parts of its counts in each part's latest record.
`Rollup` keeps those counts and answers sliding views (the last 24 h, 7 d...)
summed over the windows they cover. A reader of the topics hands it the paths
records unparsed (`add_unread`): they are most of the records, and a view parses
only the windows it covers, the latest record of each key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from ..events import parse_time
from ..vocabulary import Output
from . import sketch
from .nodes import TOUCHPOINTS
from .summary import durations, node_summary, voice_summary
from .table import paths_key_window

__all__ = ["FRICTION_MIN_VISITS", "Rollup", "entries", "friction", "total"]

FRICTION_MIN_VISITS = 30
"""Visits in a window below which a touchpoint's rates are not judged."""

Key = tuple[str, ...]


def entries(output: str, record: dict[str, Any]) -> list[tuple[Key, dict[str, Any]]]:
    """What a record counts, by key (equal across parts, window aside), as a sum needs it:
    a paths record's every listed step and node, a funnel, a voice key."""
    if output == Output.PATHS:
        dim = record["dimension"]
        frm = record.get("from")  # version 2: a record per `from`, or one of the nodes
        return [
            (("node", dim, n["node"]), {"kind": "node", "dimension": dim, "node": n["node"],
             "visits": n["visits"], "exits": n["exits"],
             "support_contacts": n["support_contacts"]})
            for n in record.get("nodes", ())
        ] + [
            (("step", dim, s.get("from", frm), s["to"]), {"kind": "step", "dimension": dim,
             "from": s.get("from", frm), "to": s["to"], "count": s["count"],
             "durations": _pairs(s["durations"])})
            for s in record.get("steps", ())
        ]  # fmt: skip
    if output == Output.FUNNELS:
        return [((record["funnel"],), _counts_of(output, record))]
    return [((record["kind"], record["stage"], record["touchpoint"]), _counts_of(output, record))]


class Rollup:
    """Each part's latest counts per (output, window, key), and sums over them."""

    def __init__(
        self,
        keep_ms: int | None = None,
        read_record: Callable[[bytes], None] | None = None,
    ) -> None:
        """`keep_ms`: windows ending this long before the latest one are forgotten;
        `read_record`: parses a paths record `add_unread` kept and `add`s it."""
        self.keep_ms = keep_ms
        self.read_record = read_record
        self.latest: dict[tuple[str, int], dict[tuple[Key, int], dict[str, Any]]] = {}
        """(output, window start) -> (key, part) -> the key's counts in the part's latest record"""
        self.unread: dict[int, dict[bytes, bytes]] = {}
        """Window start -> record key -> the latest paths record not parsed yet."""
        self.window_ms = 0
        self.last_end = 0
        self._parsed: dict[str, int] = {}

    def add(self, output: str, record: dict[str, Any]) -> None:
        start, end = self._times(record["window_start"]), self._times(record["window_end"])
        self.window_ms = end - start
        if self._forgotten(start):
            return  # older than what is kept
        window = self.latest.get((output, start))
        if window is None:
            window = self.latest[output, start] = {}
        part = record["part"]
        for key, counts in entries(output, record):
            window[key, part] = counts
        if end > self.last_end:
            self.last_end = end
            if self.keep_ms is not None:
                for gone in [w for w in self.latest if self._forgotten(w[1])]:
                    del self.latest[gone]
                for unread in [s for s in self.unread if self._forgotten(s)]:
                    del self.unread[unread]

    def add_unread(self, key: bytes, value: bytes) -> bool:
        """A paths record as its topic holds it, parsed by `read_record` once a view covers
        its window, unless a later record of its key replaces it or its window is forgotten
        first. False, for the caller to parse it now: a key not of `table.paths_key`'s
        making, or a window ending after every window read so far (it moves the views)."""
        if self.read_record is None:
            raise ValueError("this rollup has no `read_record` for the records it keeps unread")
        start = paths_key_window(key)
        if start is None or not self.window_ms or start + self.window_ms > self.last_end:
            return False
        if not self._forgotten(start):
            self.unread.setdefault(start, {})[key] = value
        return True

    def _forgotten(self, start: int) -> bool:
        """Whether the window starting at `start` ends `keep_ms` or more before the latest
        (never before a record has been read: the latest end is then 0)."""
        keep = self.keep_ms
        return keep is not None and start + self.window_ms + keep <= self.last_end

    def read_unread(self, since: int | None, limit: int | None = None) -> bool:
        """Parse the unread records of the windows starting at `since` or later (None: all),
        at most `limit` of them; returns whether some are left."""
        read_record = self.read_record
        if read_record is None:  # nothing is kept unread without a way to read it
            return False
        for start in [s for s in self.unread if since is None or s >= since]:
            values = self.unread.pop(start, None)  # None: forgotten by a record just read
            while values:
                if limit == 0:
                    if not self._forgotten(start):
                        self.unread[start] = values
                    return True
                if limit is not None:
                    limit -= 1
                read_record(values.pop(next(iter(values))))
        return False

    def _times(self, text: str) -> int:
        """A window bound in ms (memoised: records share a few bounds)."""
        known = self._parsed.get(text)
        if known is None:
            if len(self._parsed) > 10_000:
                self._parsed.clear()
            known = self._parsed[text] = parse_time(text)
        return known

    def add_all(self, output: str, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.add(output, record)

    def windows(self, span_ms: int | None) -> tuple[int, int]:
        """The [start, end) the last `span_ms` of event time cover (None: all held)."""
        end = self.last_end
        if span_ms is None:
            starts = [start for _output, start in self.latest] + list(self.unread)
            return (min(starts, default=end), end)
        return (end - span_ms, end)

    def records(
        self, output: str, span_ms: int | None, steps: bool = True
    ) -> dict[int, dict[Key, list[dict[str, Any]]]]:
        """Per window start, per key, the counts of the parts' latest records within the
        span (`_counts_of`); `steps=False`: no paths steps (nodes only)."""
        if output == Output.PATHS:
            self.read_unread(None if span_ms is None else self.last_end - span_ms)
        since, _end = self.windows(span_ms)
        found: dict[int, dict[Key, list[dict[str, Any]]]] = {}
        for (kind, start), window in self.latest.items():
            if kind == output and start >= since:
                by_key = found.setdefault(start, {})
                for (key, _part), record in window.items():
                    if steps or key[0] != "step":
                        by_key.setdefault(key, []).append(record)
        return found

    def summed(self, output: str, span_ms: int | None) -> dict[Key, dict[str, Any]]:
        """Every key's records within the span summed into one, derived figures recomputed."""
        grouped: dict[Key, list[dict[str, Any]]] = {}
        for by_key in self.records(output, span_ms).values():
            for key, parts in by_key.items():
                grouped.setdefault(key, []).extend(parts)
        return {key: total(output, records) for key, records in grouped.items()}

    def per_window(
        self, output: str, span_ms: int | None, steps: bool = True
    ) -> dict[int, dict[Key, dict[str, Any]]]:
        """Like `summed`, one sum per window."""
        result: dict[int, dict[Key, dict[str, Any]]] = {}
        for start, by_key in sorted(self.records(output, span_ms, steps).items()):
            result[start] = {key: total(output, parts) for key, parts in by_key.items()}
        return result


_WINDOW_FIELDS = ("window_start", "window_end", "part", "final", "schema_version")
_DERIVED = frozenset({
    *_WINDOW_FIELDS, "responses", "low_n", "promoters", "passives", "detractors", "nps",
    "nps_se", "mean_rating",
})  # fmt: skip
"""What `total` works out again of a funnels or voice record: its window (in the key it is
kept under) and the figures derived from its counts (a paths entry keeps its counts only)."""


def _counts_of(output: str, record: dict[str, Any]) -> dict[str, Any]:
    """What a sum needs of a funnels or voice record, kept for as long as its window: what
    it counts and its counts (a funnel's steps as (name, entered, duration pairs)), without
    the window bounds and the derived figures."""
    kept = {k: v for k, v in record.items() if k not in _DERIVED}
    if output == Output.FUNNELS:
        kept["steps"] = tuple(
            (s["name"], s["entered"], _pairs(s["durations"])) for s in record["steps"]
        )
    else:
        kept["distribution"] = tuple(record["distribution"])
    return kept


def _pairs(durations: Iterable[Any]) -> tuple[tuple[int, int], ...]:
    """A sketch's (bucket, count) pairs (lists read from JSON, or tuples) as tuples: with
    nothing but numbers, strings and tuples in them, the counts a worker keeps for weeks
    drop out of the cyclic collector's scans (CPython stops tracking such tuples and
    dicts), so its full collections stay short however much it holds."""
    return tuple((bucket, count) for bucket, count in durations)


def total(output: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Records of one key (any parts, any windows) summed, derived figures recomputed."""
    summed = _fresh(output, records[0])
    for record in records:
        _add(output, summed, record)
    return _derive(output, summed)


def _fresh(output: str, record: dict[str, Any]) -> dict[str, Any]:
    total = {k: v for k, v in record.items() if k not in _WINDOW_FIELDS}
    if output == Output.PATHS:
        if record["kind"] == "node":
            total.update(visits=0, exits=0, support_contacts=0)
        else:
            total.update(count=0, durations={})
    elif output == Output.FUNNELS:
        total["steps"] = [
            {"name": name, "entered": 0, "durations": {}} for name, _n, _d in record["steps"]
        ]
    else:
        total["distribution"] = [0] * len(record["distribution"])
    return total


def _add(output: str, total: dict[str, Any], record: dict[str, Any]) -> None:
    if output == Output.PATHS:
        if record["kind"] == "node":
            for name in ("visits", "exits", "support_contacts"):
                total[name] += record[name]
        else:
            total["count"] += record["count"]
            sketch.merge(total["durations"], dict(record["durations"]))
    elif output == Output.FUNNELS:
        for into, (_name, entered, pairs) in zip(total["steps"], record["steps"], strict=True):
            into["entered"] += entered
            sketch.merge(into["durations"], dict(pairs))
    else:
        for value, count in enumerate(record["distribution"]):
            total["distribution"][value] += count


def _derive(output: str, total: dict[str, Any]) -> dict[str, Any]:
    if output == Output.PATHS:
        if total["kind"] == "node":
            counts = (total["visits"], total["exits"], total["support_contacts"])
            return {**total, **node_summary(*counts)}
        return {**total, **durations(total["durations"])}
    if output == Output.FUNNELS:
        steps, first = [], None
        for n, step in enumerate(total["steps"]):
            figures = durations(step["durations"])
            entered = step["entered"]
            first = entered if first is None else first
            before = total["steps"][n - 1]["entered"] if n else entered
            steps.append({
                "name": step["name"],
                "entered": entered,
                "conversion_from_previous": round(entered / before, 4) if before else None,
                "conversion_from_start": round(entered / first, 4) if first else None,
                "p50_ms_from_previous": figures["p50_ms"],
                "durations": figures["durations"],
            })  # fmt: skip
        return {**total, "steps": steps}
    return {**total, **voice_summary(total["kind"], total["distribution"])}


def friction(
    windows: dict[int, dict[Key, dict[str, Any]]], dimensions: tuple[str, ...] = TOUCHPOINTS
) -> list[dict[str, Any]]:
    """The exit and support-contact rates of the latest window's touchpoints against their
    own trailing baseline (the windows before it, pooled), for touchpoints with at least
    `FRICTION_MIN_VISITS` visits now and some before. `flagged`: the rate is above the
    baseline by more than 3 standard errors and 10 points."""
    if not windows:
        return []
    starts = sorted(windows)
    latest, before = windows[starts[-1]], [windows[s] for s in starts[:-1]]
    found = []
    for key, now in sorted(latest.items()):
        if key[0] != "node" or key[1] not in dimensions or now["visits"] < FRICTION_MIN_VISITS:
            continue
        visits = sum(w[key]["visits"] for w in before if key in w)
        if not visits:
            continue
        for measure, count in (("exit_rate", "exits"), ("support_rate", "support_contacts")):
            base = sum(w[key][count] for w in before if key in w) / visits
            error = math.sqrt(max(base * (1 - base), 1e-9) / now["visits"])
            found.append({
                "dimension": key[1], "node": key[2], "measure": measure, "rate": now[measure],
                "baseline": round(base, 4), "visits": now["visits"],
                "flagged": now[measure] > base + max(3 * error, 0.10),
            })  # fmt: skip
    return found
