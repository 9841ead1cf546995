"""The state changelog: what a partition's state is written as, and how it is read back.

One compacted topic, `{app}-journeys-changelog`, partition N holding partition
N's state: one record per journey (key: the journey key; a tombstone once the
journey is removed), one per input position
(`\\x00position/{topic}/{partition}`), and one for the partition's event time
(`\\x00clock/{partition}`: its source's progress, its aligned watermark and its
analytics' horizon), and one per analytics window held
(`\\x00window/{partition}/{start}`; a tombstone once it leaves memory), and one for
the partition's propensity models (`\\x00model/{partition}`) and their evaluations
(`\\x00evaluation/{partition}`, every 1,000 labels). Every
value is `[STATE_FORMAT, partition, data]`; recovery refuses another format with
an error that says what to do, rather than misread it.

A partition's writes are whole only together: a journey asking for an anonymous
one and the anonymous one moving to it, a state and the input position it
holds. A round of writes is sent in order and ends with a commit marker
(`\\x00commit/{partition}`), so a worker killed while its writes were half
delivered leaves records after the last marker; recovery sets them aside,
writes each of their keys' committed value again (or a tombstone) and a
marker, and takes over the state as of the last whole round. The marker also
holds the route messages the round backs, sent once it is written (journeys
moving to their customers): recovery sends them again, as the worker may have
died before they got out.

Recovery appends a one-record fence to each partition it is about to read and
reads up to it, so no record is missed whatever high watermark the broker
reports (the embedded broker under-reports it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ..contract.codec import encode
from ..domain import JourneyState
from ..domain.analytics import Window
from .publisher import Message

__all__ = [
    "FENCE_KEY",
    "STATE_FORMAT",
    "StateFormatError",
    "Recovered",
    "Recovery",
    "Replay",
    "clock_write",
    "commit_write",
    "position_write",
    "read_to_fences",
    "recover",
    "recovered",
    "state_write",
    "model_write",
    "window_write",
]

STATE_FORMAT = 2
"""The version of the changelog's values; bump it with any change to what they hold (2: the
journeys' propensity history and the partition's propensity models)."""


class StateFormatError(RuntimeError):
    """The changelog holds state this build cannot read; the message says what to do."""


FENCE_KEY = b"\x00recovery-fence"
"""Key of the fence tombstones (no journey key starts with a NUL byte)."""
_POSITION = b"\x00position/"
_CLOCK = b"\x00clock/"
_WINDOW = b"\x00window/"
_COMMIT = b"\x00commit/"
_MODEL = b"\x00model/"
_EVALUATION = b"\x00evaluation/"


def state_write(topic: str, partition: int, key: str, state: JourneyState | None) -> Message:
    """A journey's state, or a tombstone when it was removed (None)."""
    value = None if state is None else encode([STATE_FORMAT, partition, state.to_data()])
    return (topic, key.encode(), value, partition)


def position_write(topic: str, partition: int, input_topic: str, expected: int) -> Message:
    key = _POSITION + f"{input_topic}/{partition}".encode()
    return (topic, key, encode([STATE_FORMAT, partition, expected]), partition)


def window_write(topic: str, partition: int, start: int, window: Window | None) -> Message:
    """An analytics window's counts, or a tombstone when it left memory (None)."""
    data = None if window is None else [STATE_FORMAT, partition, window.to_data()]
    value = None if data is None else orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    return (topic, _WINDOW + f"{partition}/{start}".encode(), value, partition)


def model_write(topic: str, partition: int, models: list[Any], evaluation: bool = False) -> Message:
    """The partition's propensity models as they learned so far, or (`evaluation`) their
    evaluations' latest labels."""
    value = encode([STATE_FORMAT, partition, models])
    key = (_EVALUATION if evaluation else _MODEL) + str(partition).encode()
    return (topic, key, value, partition)


def clock_write(topic: str, partition: int, clock: dict[str, Any]) -> Message:
    value = encode([STATE_FORMAT, partition, clock])
    return (topic, _CLOCK + str(partition).encode(), value, partition)


def commit_write(topic: str, partition: int, moves: list[Message]) -> Message:
    """The last write of a partition's round: the writes before it are whole, and back
    `moves` (route messages whose text is JSON)."""
    sent = [[t, (k or b"").decode(), (v or b"").decode(), p] for t, k, v, p in moves]
    value = encode([STATE_FORMAT, partition, sent])
    return (topic, _COMMIT + str(partition).encode(), value, partition)


@dataclass
class Replay:
    """One changelog partition read in order: what its commit markers vouch for."""

    committed: dict[bytes, bytes] = field(default_factory=dict)
    """The latest value of each key, as of the last commit marker."""
    tail: dict[bytes, bytes | None] = field(default_factory=dict)
    """Written after the last commit marker (None: a tombstone)."""
    marker: tuple[bytes, bytes] | None = None
    """The last commit marker (key, value); None: the log has none."""

    def read(self, key: bytes, value: bytes | None) -> None:
        if key.startswith(_COMMIT) and value is not None:
            self.marker = (key, value)  # read once the log is: only the last one counts
            self._commit()
        elif key != FENCE_KEY:
            self.tail[key] = value

    def moves(self) -> list[Message]:
        """The route messages the last whole round backs."""
        if self.marker is None:
            return []
        _partition, sent = _versioned(self.marker[0], orjson.loads(self.marker[1]))
        return [(t, k.encode(), v.encode(), p) for t, k, v, p in sent]

    def close(self, topic: str, partition: int) -> list[Message]:
        """At the end of the log: the writes that undo a round left half written (each key's
        committed value again, or a tombstone) and the marker after them. A log with no
        marker was written by a build that wrote none: all of it counts, and the marker
        makes it so from now on."""
        if self.marker is None:
            self._commit()
            return [commit_write(topic, partition, [])]
        if not self.tail:
            return []
        undo = [(topic, key, self.committed.get(key), partition) for key in self.tail]
        self.tail.clear()
        return [*undo, commit_write(topic, partition, self.moves())]

    def _commit(self) -> None:
        for key, value in self.tail.items():
            if value is None:
                self.committed.pop(key, None)
            else:
                self.committed[key] = value
        self.tail.clear()


@dataclass
class Recovered:
    """One partition's state as the changelog holds it."""

    states: list[JourneyState] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    """Next expected offset by input topic."""
    clock: dict[str, Any] | None = None
    """`source` (its input's progress), `alignment` (its watermark), `horizon` (analytics)."""
    windows: list[Window] = field(default_factory=list)
    models: list[Any] | None = None
    """The propensity models' `to_data` (None: none written yet)."""
    evaluations: list[Any] | None = None
    """Their evaluations' labels as last written (None: none)."""


@dataclass
class Recovery:
    """What recovery takes over and what it sends before anything else."""

    partitions: dict[int, Recovered]
    closing: list[Message]
    """State writes that close the rounds the last owner left half written."""
    moves: list[Message]
    """Route messages the last whole rounds back, sent again (once `closing` is written)."""
    set_aside: int
    """Records of half written rounds that `closing` undoes."""


def recover(replays: dict[int, Replay], topic: str) -> Recovery:
    """The partitions' state as of their last whole round."""
    latest: dict[bytes, bytes] = {}
    closing: list[Message] = []
    moves: list[Message] = []
    set_aside = 0
    for partition, replay in sorted(replays.items()):
        set_aside += len(replay.tail) if replay.marker is not None else 0
        closing += replay.close(topic, partition)
        moves += replay.moves()
        latest.update(replay.committed)
    return Recovery(recovered(latest, set(replays)), closing, moves, set_aside)


def recovered(latest: dict[bytes, bytes], partitions: set[int]) -> dict[int, Recovered]:
    """The state of `partitions` from the changelog's latest value per key."""
    restored = {p: Recovered() for p in partitions}
    for key, value in latest.items():
        partition, data = _versioned(key, orjson.loads(value))
        part = restored.get(partition)
        if part is None:
            continue
        if key.startswith(_POSITION):
            topic = key[len(_POSITION) :].decode().rpartition("/")[0]
            part.positions[topic] = data
        elif key.startswith(_CLOCK):
            part.clock = data
        elif key.startswith(_WINDOW):
            part.windows.append(Window.from_data(data))
        elif key.startswith(_MODEL):
            part.models = data
        elif key.startswith(_EVALUATION):
            part.evaluations = data
        else:
            part.states.append(JourneyState.from_data(data))
    return restored


def _versioned(key: bytes, value: list[Any]) -> tuple[int, Any]:
    if len(value) == 3 and value[0] == STATE_FORMAT:
        return value[1], value[2]
    found = f"format {value[0]}" if len(value) == 3 else "no format version (an earlier build)"
    raise StateFormatError(
        f"the changelog's record {key!r} has {found}; this build reads format {STATE_FORMAT}."
        " Start with a new JOURNEY_APP_ID (the state is rebuilt from the input topic's"
        " retention), or run the build that wrote it"
    )


class ChangelogReader(Protocol):
    """The part of a Kafka consumer recovery uses."""

    def assign(self, partitions: list[Any]) -> None: ...

    async def seek_to_beginning(self, *partitions: Any) -> Any: ...

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]: ...


async def read_to_fences(
    reader: ChangelogReader,
    fence: Callable[[int], Awaitable[int]],
    topic_partition: Callable[[int], Any],
    partitions: set[int],
) -> dict[int, Replay]:
    """`partitions` read in order up to a fence appended to each (`fence(partition)`
    appends one and returns its offset)."""
    fences = {topic_partition(p): await fence(p) for p in sorted(partitions)}
    replays = {p: Replay() for p in partitions}
    reader.assign(list(fences))
    await reader.seek_to_beginning(*fences)
    remaining = dict(fences)
    while remaining:
        batch = await reader.getmany(timeout_ms=1000, max_records=10_000)
        for tp, records in batch.items():
            replay = replays[tp.partition]
            for record in records:
                replay.read(record.key, record.value)
            if tp in remaining and records[-1].offset >= remaining[tp]:
                del remaining[tp]
    return replays
