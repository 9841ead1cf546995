"""The route hop: which partition owns a journey, and the envelope records travel in.

A journey lives on the input partition the producers' partitioner picks for
its key (`JOURNEY_INPUT_PARTITIONER`), so with the right setting an event is
processed where it arrives. What must go elsewhere travels through the route
topic to the owning partition:

- an event that arrived on another partition (a producer with another
  partitioner), or one of a device stitched to a customer (forwarded);
- the two steps of an identity stitch (detach, absorb);
- requests to erase a journey (`journey forget`), applied in order with the
  events before them;
- each source partition's event-time progress (`pipeline.worker.event_time`).

An envelope is a small JSON header, a newline, and the payload: for an event
the record's bytes exactly as produced, so a dead letter written after the hop
still carries the original bytes, topic, partition and offset.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from kafka.partitioner.default import murmur2

from ..contract.drift import Part, decode_again
from ..domain import Absorb, Detach, Event, Forget, Forward, Message

__all__ = [
    "ABSORB",
    "DETACH",
    "EVENT",
    "FORGET",
    "MARK",
    "PARTITIONERS",
    "Origin",
    "PartitionerGuess",
    "RouteTopic",
    "Routed",
    "by_key",
    "fnv1a",
    "message_of",
    "open_envelope",
    "partitioner",
    "seal",
]


def _murmur2(key: bytes, partitions: int) -> int:
    """Java clients, kafka-python, aiokafka, franz-go: positive murmur2 mod partitions."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def _crc32(key: bytes, partitions: int) -> int:
    """librdkafka's default (`consistent_random` for keyed records): CRC32 mod partitions."""
    return zlib.crc32(key) % partitions


def fnv1a(key: bytes) -> int:
    """32-bit FNV-1a."""
    digest = 0x811C9DC5
    for byte in key:
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return digest


def _fnv1a(key: bytes, partitions: int) -> int:
    """sarama's default hash partitioner: int32(FNV-1a) % partitions (Go's truncated
    remainder), then its absolute value."""
    digest = fnv1a(key)
    signed = digest - (1 << 32) if digest & 0x80000000 else digest
    return abs(signed) % partitions


PARTITIONERS: dict[str, Callable[[bytes, int], int]] = {
    "murmur2": _murmur2,
    "crc32": _crc32,
    "fnv1a": _fnv1a,
}
"""Producers' partitioners for keyed records, by `JOURNEY_INPUT_PARTITIONER` name."""


@lru_cache(maxsize=1 << 16)
def by_key(key: bytes, partitions: int) -> int:
    """The partition the Java client's default partitioner picks (output topics are keyed so;
    cached: outputs are keyed by journey key, and murmur2 is pure Python here)."""
    return _murmur2(key, partitions)


def partitioner(partitions: int, name: str = "murmur2") -> Callable[[str], int]:
    """The owning partition of a journey key under the producers' partitioner `name`, cached."""
    pick = PARTITIONERS[name]

    @lru_cache(maxsize=1 << 18)
    def partition_of(key: str) -> int:
        return pick(key.encode(), partitions)

    return partition_of


class Origin(NamedTuple):
    """A record as it was produced to the input topic."""

    raw: bytes
    topic: str
    partition: int
    offset: int
    timestamp: int
    drops: tuple[Part, ...] = ()
    """Malformed parts the decoder dropped from it (`pipeline.contract.drift`)."""

    def event(self) -> Event:
        """The event, decoded again after a hop (it was validated where it was read)."""
        return decode_again(self.raw, self.drops)


@dataclass(frozen=True, slots=True)
class Routed:
    """An opened envelope: its header fields and, for an event, the original record."""

    kind: str
    header: dict[str, Any]
    origin: Origin | None


EVENT = "event"
DETACH = "detach"
ABSORB = "absorb"
MARK = "mark"
FORGET = "forget"
"""Envelope kinds: an event, the two steps of a stitch, a source's event-time progress, a
request to erase a journey (`journey forget`)."""


def seal(header: dict[str, Any], origin: Origin | None = None) -> bytes:
    """An envelope: `header` (with `kind`) and, for an event, its original record."""
    if origin is None:
        return orjson.dumps(header) + b"\n"
    where = {"topic": origin.topic, "partition": origin.partition, "offset": origin.offset,
             "timestamp": origin.timestamp}  # fmt: skip
    if origin.drops:
        where["drops"] = origin.drops
    return orjson.dumps({**header, "origin": where}) + b"\n" + origin.raw


def open_envelope(value: bytes) -> Routed:
    """The inverse of `seal` (JSON never holds a raw newline, so the first one ends the header)."""
    head, _, payload = value.partition(b"\n")
    header: dict[str, Any] = orjson.loads(head)
    where = header.pop("origin", None)
    if where is not None and "drops" in where:
        where["drops"] = tuple(tuple(part) for part in where["drops"])
    origin = None if where is None else Origin(payload, **where)
    return Routed(header["kind"], header, origin)


class RouteTopic:
    """The worker's `Router`: a journey key is here when the engine's partition owns it; a
    message to any other goes on the route topic, to the partition that owns its key.

    A journey moving to its customer (`Absorb`) goes once the state it leaves behind is
    written (`moves`): sent before, it could outlive that state, and the partition, back
    to an earlier state after a crash, would move the journey again with other content."""

    def __init__(
        self,
        topic: str,
        partition: int,
        partition_of: Callable[[str], int],
        outbox: list[tuple[str, bytes | None, bytes | None, int | None]],
        moves: list[tuple[str, bytes | None, bytes | None, int | None]],
    ) -> None:
        """`outbox`: the batch's messages; `moves`: the partition's messages sent once its
        state is written."""
        self.topic = topic
        self.partition = partition
        self.partition_of = partition_of
        self.outbox = outbox
        self.moves = moves

    def owns(self, key: str) -> bool:
        return self.partition_of(key) == self.partition

    def send(self, key: str, message: Message) -> None:
        origin: Origin | None = None
        if isinstance(message, Forward):
            if not isinstance(message.source, Origin):
                raise TypeError(f"a forwarded event travels as its record, not {message.source!r}")
            header: dict[str, Any] = {"kind": EVENT, "key": key}
            origin = message.source
        elif isinstance(message, Detach):
            header = {"kind": DETACH, "customer": message.customer, "at": message.at}
        elif isinstance(message, Absorb):
            header = {"kind": ABSORB, "moved": message.moved, "at": message.at}
            self.moves.append((self.topic, key.encode(), seal(header), self.partition_of(key)))
            return
        else:
            header = {"kind": FORGET}
        self.outbox.append((self.topic, key.encode(), seal(header, origin), self.partition_of(key)))


def message_of(routed: Routed, key: bytes | None) -> tuple[str, Message]:
    """The journey key and engine message a route record carries (not a mark)."""
    header = routed.header
    if routed.kind == EVENT:
        assert routed.origin is not None
        return header["key"], Forward(routed.origin.event(), routed.origin)
    target = (key or b"").decode()
    if routed.kind == DETACH:
        return target, Detach(header["customer"], header["at"])
    if routed.kind == ABSORB:
        return target, Absorb(header["moved"], header["at"])
    if routed.kind == FORGET:
        return target, Forget()
    raise ValueError(f"unknown route record kind {routed.kind!r}")


GUESS_AFTER = 200
"""Rerouted keyed records looked at before saying which partitioner the producers use."""


class PartitionerGuess:
    """Which known partitioner put the rerouted records where they arrived (said once)."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.candidates = set(PARTITIONERS)
        self.seen = 0
        self.verdict: str | None = None

    def observe(self, key: bytes | None, partition: int) -> str | None:
        """Look at one rerouted record; returns the sentence to log, once, when there is one."""
        if self.verdict is not None or key is None:
            return None
        for name in list(self.candidates):
            if PARTITIONERS[name](key, self.partitions) != partition:
                self.candidates.discard(name)
        self.seen += 1
        if self.seen < GUESS_AFTER and self.candidates:
            return None
        if len(self.candidates) == 1:
            name = next(iter(self.candidates))
            self.verdict = (
                f"input records arrive on the partitions the {name} partitioner picks for their"
                f" keys: set JOURNEY_INPUT_PARTITIONER={name} to process them without the route hop"
            )
        else:
            self.verdict = (
                "input records arrive on partitions no known partitioner picks for their keys"
                f" ({', '.join(PARTITIONERS)}): they take the route hop"
            )
        return self.verdict
