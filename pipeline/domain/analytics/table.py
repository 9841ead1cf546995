"""The windowed analytics tables of one part (a partition, or a whole file offline).

Facts from the core are counted into tumbling event-time windows; a window's
records are written when time passes its end plus `close_after_ms` (every session
whose last event is in it has closed), with `"final": true`, and written again
when a later fact (a session that ran on past its end closing, a late answer)
changes it. A window leaves memory `keep_ms` after its end; a fact for a window
already gone is counted (`too_late`) and not applied, so a part's latest record
never loses counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from ..events import STAGES, format_time
from ..vocabulary import NO_STAGE, PATHS_SCHEMA_VERSION, SCHEMA_VERSION, Output
from . import sketch
from .facts import NPS, SESSION, STAGE, VOICE, trail_order
from .nodes import DIMENSIONS, EXIT, OTHER, START, TOUCHPOINTS
from .policy import STAGES_FUNNEL, AnalyticsPolicy
from .summary import buckets, durations, voice_summary
from .window import Step, Window

__all__ = ["AnalyticsTable", "Record", "paths_key", "paths_key_window"]

SUPPORT: Final = "support_contacted"
_NEVER: Final = 2**63
_PAGES_MEMO: Final = 10_000
_RETRY_MS: Final = 5 * 60_000
"""Event time after which a window kept past its time is looked at again."""
_PAGE: Final = 1 + DIMENSIONS.index("page")

Record = tuple[str, str, dict[str, Any]]
"""(output, key, record), as `Outputs.analytics` holds them."""

_PATHS_GROUPS: Final = ("p", "n")
"""`Window.changed` entries of a dimension's paths: (p, dim); a window an earlier build
changelogged also names (p, dim, from) and (n, dim)."""


def paths_key(dimension: str, window_start: int, part: int) -> str:
    """The Kafka key of a paths record: `{dimension}/{window start ms}/{part}`."""
    return f"{dimension}/{window_start}/{part}"


def paths_key_window(key: bytes) -> int | None:
    """The window start (ms) of a paths record's key (`paths_key`); None for another key."""
    fields = key.split(b"/")
    return int(fields[1]) if len(fields) == 3 and fields[1].isdigit() else None


class AnalyticsTable:
    def __init__(self, policy: AnalyticsPolicy, part: int = 0) -> None:
        self.policy = policy
        self.part = part
        self.windows: dict[int, Window] = {}
        self.horizon = 0
        """The latest settled time of a `close`: windows ending `keep_ms` before it are gone."""
        self.too_late = 0
        self.next_pass = _NEVER
        """When `close` next has a window to write or drop."""
        self.urgent: set[int] = set()
        """Windows kept past their time (a fact may still come) whose changes go out at once."""
        self.dirty: set[int] = set()
        """Window starts changed (or removed) since the shell last persisted them."""
        self._pages: dict[str, str] = {}
        self.closed_at = 0
        """The time of the last `close`."""

    def window(self, t: int) -> Window | None:
        size = self.policy.window_ms
        start = t - t % size
        found = self.windows.get(start)
        if found is None:
            if start + size + self.policy.keep_ms <= self.horizon:
                self.too_late += 1
                return None
            found = self.windows[start] = Window(
                start, due=start + size + self.policy.close_after_ms
            )
        self.dirty.add(start)
        if start + size + self.policy.keep_ms <= self.closed_at:
            self.urgent.add(start)
        else:
            self.next_pass = min(self.next_pass, found.due)
        return found

    def add(self, facts: Iterable[tuple[Any, ...]]) -> None:
        for fact in facts:
            kind = fact[0]
            if kind == SESSION:
                self._session(sorted(fact[1], key=trail_order))
            elif kind == STAGE:
                self._stage(fact[1], fact[2])
            elif kind == VOICE:
                self._voice(*fact[1:])

    def _session(self, trail: list[tuple[Any, ...]]) -> None:
        policy = self.policy
        cap = policy.cap
        supports = [i for i, entry in enumerate(trail) if entry[1] == SUPPORT]
        last_support = supports[-1] if supports else -1
        windows: dict[int, Window | None] = {}

        def window_of(t: int) -> Window | None:
            start = t - t % policy.window_ms
            if start not in windows:
                windows[start] = self.window(t)
            return windows[start]

        last = window_of(trail[-1][0])
        for column, dim in enumerate(DIMENSIONS, 1):
            touchpoint = dim in TOUCHPOINTS
            # the current run of equal nodes: its node, first time and index, and window
            node_of_run, since, first_index, run_window = START, -1, -1, None
            for i, entry in enumerate(trail):
                node = entry[column]
                if node is None:
                    continue
                if column == _PAGE:
                    node = self._page(node)
                if first_index >= 0 and node == node_of_run:
                    continue
                t = entry[0]
                window, ms = window_of(t), t - since if first_index >= 0 else None
                if window is not None:
                    window.step(cap, dim, node_of_run, node, ms)
                if touchpoint and run_window is not None:  # the run before this one ended
                    run_window.visit(cap, dim, node_of_run, False, last_support > first_index)
                node_of_run, since, first_index, run_window = node, t, i, window
            if first_index < 0:
                continue
            if touchpoint and run_window is not None:
                run_window.visit(cap, dim, node_of_run, True, last_support > first_index)
            if last is not None:
                last.step(cap, dim, node_of_run, EXIT, None)
        first = window_of(trail[0][0])
        if first is None:
            return
        for funnel in policy.funnels:
            if funnel.kind == STAGES_FUNNEL:
                continue
            k, since, steps = 0, 0, funnel.steps
            for entry in trail:
                if entry[1] in steps[k][1]:
                    first.enter(funnel.id, len(steps), k, entry[0] - since if k else None)
                    since, k = entry[0], k + 1
                    if k == len(steps):
                        break

    def _page(self, path: str) -> str:
        """A URL path's page node (memoised: sites have far fewer paths than events)."""
        node = self._pages.get(path)
        if node is None:
            if len(self._pages) >= _PAGES_MEMO:
                self._pages.clear()
            node = self._pages[path] = self.policy.pages.node(path)
        return node

    def _stage(self, at: int, stage: str) -> None:
        window = self.window(at)
        if window is None:
            return
        for funnel in self.policy.funnels:
            if funnel.kind == STAGES_FUNNEL:
                window.enter(funnel.id, len(STAGES), STAGES.index(stage), None)

    def _voice(self, at: int, kind: str, stage: str | None, touchpoint: str, value: int) -> None:
        window = self.window(at)
        if window is not None:
            size, index = (11, value) if kind == NPS else (5, value - 1)
            window.answer(f"{kind}|{stage or NO_STAGE}|{touchpoint}", size, index)

    def close(self, now: int, settled: int | None = None) -> list[Record]:
        """The records of what changed in windows that `now` has closed: when a window
        closes, then at most once per window length while later facts change it (at once
        past `keep_ms`). A window leaves memory `keep_ms` past its end by `settled`
        (default `now`: the earliest time a fact may still come for)."""
        policy = self.policy
        settled = now if settled is None else min(settled, now)
        self.horizon = max(self.horizon, settled)
        self.closed_at = max(self.closed_at, now)
        self.urgent.clear()
        written: list[Record] = []
        self.next_pass = _NEVER
        for start in sorted(self.windows):
            window = self.windows[start]
            end = start + policy.window_ms
            if end + policy.close_after_ms > now:
                self.next_pass = min(self.next_pass, end + policy.close_after_ms)
                break
            leaving = end + policy.keep_ms <= settled
            late = end + policy.keep_ms <= now  # kept past its time: a change goes out at once
            if window.changed and (window.due <= now or late):
                written += self._write(window, now)
            if leaving:
                del self.windows[start]
                self.dirty.add(start)
                continue
            if window.changed:
                self.next_pass = min(self.next_pass, window.due)
            if end + policy.keep_ms > now:
                self.next_pass = min(self.next_pass, end + policy.keep_ms)
            else:  # kept past its time for a fact still to come: look again a little later
                self.next_pass = min(self.next_pass, now + _RETRY_MS)
        return written

    def write_urgent(self, now: int) -> list[Record]:
        """The changes of windows kept past their time, between two passes of `close`."""
        written: list[Record] = []
        for start in sorted(self.urgent):
            window = self.windows.get(start)
            if window is not None and window.changed:
                written += self._write(window, now)
        self.urgent.clear()
        return written

    def _write(self, window: Window, now: int) -> list[Record]:
        """A window's changed records; its next changes wait a window length."""
        window.due = now + self.policy.window_ms
        self.dirty.add(window.start)
        return self.records(window)

    def closing_all(self) -> int:
        """A time at which every window held is closed and gone (the end of a file)."""
        last = max(self.windows, default=0) + self.policy.window_ms
        return max(self.horizon, last + max(self.policy.close_after_ms, self.policy.keep_ms))

    def take_dirty(self) -> list[tuple[int, Window | None]]:
        """Windows changed since the last call (None: removed), for a changelog."""
        dirty, self.dirty = self.dirty, set()
        return [(start, self.windows.get(start)) for start in sorted(dirty)]

    def restore(self, windows: Iterable[Window], horizon: int) -> None:
        self.horizon = horizon
        for window in windows:
            self.windows[window.start] = window
        self.next_pass = 0  # the next tally works out what is due

    def records(self, window: Window) -> list[Record]:
        """The records of the window's changed groups: a dimension's paths (every step with
        its `to` nodes listed, a touchpoint dimension's nodes), a funnel, a voice key."""
        base = {
            "schema_version": SCHEMA_VERSION,
            "window_start": format_time(window.start),
            "window_end": format_time(window.start + self.policy.window_ms),
            "part": self.part,
            "final": True,
        }
        prefix = f"{window.start}|{self.part}|"
        out: list[Record] = []
        funnels = {f.id: f for f in self.policy.funnels}
        dimensions: set[str] = set()
        for entry in sorted(window.changed):  # a set: sorted, for the same order every run
            if entry[0] in _PATHS_GROUPS:
                dimensions.add(entry[1])
            elif entry[0] == "f" and entry[1] in funnels:
                counts = window.funnels[entry[1]]
                named = [name for name, _types in funnels[entry[1]].steps]
                record = {**base, "funnel": entry[1], "steps": [
                    {"name": name, "entered": entered, **_from_previous(sketch_)}
                    for name, (entered, sketch_) in zip(named, counts, strict=True)
                ]}  # fmt: skip
                out.append((Output.FUNNELS, f"{prefix}{entry[1]}", record))
            elif entry[0] == "v":
                answer, stage, touchpoint = entry[1].split("|", 2)
                record = {**base, "kind": answer, "stage": stage, "touchpoint": touchpoint,
                          **voice_summary(answer, window.voice[entry[1]])}  # fmt: skip
                out.append((Output.VOC, f"{prefix}{entry[1]}", record))
        for dim in sorted(dimensions):
            out.append((Output.PATHS, paths_key(dim, window.start, self.part), {
                **base, "schema_version": PATHS_SCHEMA_VERSION, "dimension": dim,
                "steps": self._steps(window, dim), "nodes": self._nodes(window, dim),
            }))  # fmt: skip
        window.changed = set()
        return out

    def _steps(self, window: Window, dim: str) -> list[dict[str, Any]]:
        """A dimension's steps as a paths record lists them: by `from`, largest `to` first."""
        steps = []
        for frm, tos in sorted(window.paths.get(dim, {}).items()):
            for to, (count, spans) in self._listed(window, ("p", dim, frm), tos, _merge_steps):
                steps.append({"from": frm, "to": to, "count": count, "durations": buckets(spans)})
        return steps

    def _nodes(self, window: Window, dim: str) -> list[dict[str, Any]]:
        """A touchpoint dimension's nodes, most visited first (none for the others)."""
        return [
            {"node": node, "visits": visits, "exits": exits, "support_contacts": support}
            for node, (visits, exits, support) in self._listed(
                window, ("n", dim), window.nodes.get(dim, {}), _sum
            )
        ]

    def _listed(
        self, window: Window, group: tuple[str, ...], table: dict[str, Any], merge: Any
    ) -> list[tuple[str, Any]]:
        """A group's entries to list, largest first: the `top` largest, `(exit)`, and every
        entry listed before (it stays listed, so a part's latest record of the group holds
        all it ever listed); then `(other)`, the sum of the rest, once it has anything."""
        shown = window.shown
        listed, rest, named = [], [], 0
        for name, entry in sorted(table.items(), key=lambda item: (-item[1][0], item[0])):
            if name == OTHER:  # what the table could not hold on its own
                rest.append(entry)
                continue
            key = group + (name,)
            if key in shown or name == EXIT or named < self.policy.top:
                listed.append((name, entry))
                shown.add(key)
            else:
                rest.append(entry)
            named += name != EXIT
        if rest or group + (OTHER,) in shown:
            listed.append((OTHER, merge(rest)))
            shown.add(group + (OTHER,))
        return listed


def _merge_steps(entries: list[Step]) -> Step:
    merged: Step = [0, {}]
    for count, counts in entries:
        merged[0] += count
        sketch.merge(merged[1], counts)
    return merged


def _sum(entries: list[list[int]]) -> list[int]:
    return [sum(entry[i] for entry in entries) for i in range(3)]


def _from_previous(counts: dict[int, int]) -> dict[str, Any]:
    figures = durations(counts)
    return {"p50_ms_from_previous": figures["p50_ms"], "durations": figures["durations"]}
