"""What a scenario that timed out waiting for decisions leaves behind: the journeys of the
missing decisions as the changelog holds them (their stitch and hold state), and the
route records that name them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson

from pipeline.domain import JourneyState, format_time
from pipeline.topics import changelog_topic, route_topic
from pipeline.worker.changelog import Replay
from pipeline.worker.event_time import Alignment
from pipeline.worker.routing import MARK, open_envelope


def _summary(state: JourneyState) -> dict[str, Any]:
    return {
        "awaiting": state.awaiting, "asked": [a.anonymous_id for a in state.asked],
        "early": [e.anonymous_id for e in state.early], "alias_of": state.alias_of,
        "stitch_to": state.stitch_to and state.stitch_to.customer,
        "anonymous_ids": state.anonymous_ids, "held": len(state.held),
        "parked": len(state.parked), "events": state.event_count, "clock": state.clock,
        "sessions": [(s.session_id, s.ended_at, s.event_count) for s in state.sessions],
    }  # fmt: skip


SHOWN = 12
"""Journeys of missing decisions shown at most (with their anonymous ids)."""


def diagnosis(pipeline: Any, missing: list[bytes]) -> str:
    """The journeys behind the first of `missing` (canonical output records)."""
    keys: set[str] = set()
    for raw in missing:
        record = orjson.loads(raw)
        if len(keys) < SHOWN:
            keys |= {
                record[f] for f in ("journey_key", "customer_id", "anonymous_id") if record.get(f)
            }
    replays: dict[int, Replay] = defaultdict(Replay)
    for message in pipeline.records(changelog_topic(pipeline.app_id)):
        replays[message.partition].read(message.key, message.value)
    lines = []
    for partition, replay in sorted(replays.items()):
        for key in sorted(keys):
            value = replay.committed.get(key.encode())
            if value is not None:
                state = JourneyState.from_data(orjson.loads(value)[2])
                lines.append(f"state {key} (partition {partition}): {_summary(state)}")
            if key.encode() in replay.tail:
                lines.append(f"  {key} also written after the last commit marker")
    for record in pipeline.read("journey.sessions"):
        if record.get("journey_key") in keys:
            lines.append(f"published {record.get('type', 'closed')} {record['journey_key']} "
                         f"{record['session_id']} {record['started_at']}..{record['ended_at']} "
                         f"{record['event_count']}")  # fmt: skip
    for raw in missing:
        record = orjson.loads(raw)
        if record.get("journey_key") in keys and "session_id" in record and "ended_at" in record:
            lines.append(f"missing {record.get('type', 'closed')} {record['journey_key']} "
                         f"{record['session_id']} {record.get('started_at')}..{record['ended_at']} "
                         f"{record['event_count']}")  # fmt: skip
    routed = pipeline.records(route_topic(pipeline.app_id))
    for message in routed:
        if message.key is not None and message.key.decode() in keys:
            kind = open_envelope(message.value).kind
            lines.append(f"route {message.partition}@{message.offset}: {kind} {message.key!r}")
    return "\n".join(lines + _times_at_arrival(routed, keys))


def _times_at_arrival(routed: list[Any], keys: set[str]) -> list[str]:
    """For each route record naming `keys`, the watermark its partition had from the marks
    read before it (idle sources counted idle), and the last mark of each source then."""
    sources = 1 + max((m.partition for m in routed), default=0)
    alignments: dict[int, Alignment] = {}
    last: dict[int, dict[int, tuple[int, list[Any]]]] = defaultdict(dict)
    lines = []
    for message in sorted(routed, key=lambda m: (m.partition, m.offset)):
        partition = message.partition
        alignment = alignments.setdefault(partition, Alignment(partition, sources))
        envelope = open_envelope(message.value)
        if envelope.kind == MARK:
            for mark in envelope.header["marks"]:
                alignment.mark(*mark)
                last[partition][mark[0]] = (message.offset, mark[1:])
        elif message.key is not None and message.key.decode() in keys:
            marks = " ".join(
                f"{s}@{at}:wm={format_time(m[0])},engine={format_time(m[1])},idle={m[2]}"
                for s, (at, m) in sorted(last[partition].items())
            )
            lines.append(f"time at {partition}@{message.offset} ({envelope.kind} "
                         f"{message.key!r}): {format_time(alignment.value)}; {marks}")  # fmt: skip
    return lines
