"""Bytes in and out: orjson decoding, JSON Schema validation, dead-letter records.

The JSON Schemas in `schemas/` are the contract. An inbound event's bytes pass
the schema's constraints as msgspec types (`event_shape`, in C); one they cannot
vouch for goes through the compiled schema (fastjsonschema), and each failure
is mapped to a dead-letter reason code. A malformed nested part is dropped
rather than the event refused, unless `JOURNEY_DRIFT=block` (`drift`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import fastjsonschema
import orjson

from ..domain import SCHEMA_VERSION, Event, InvalidEvent, Reason, format_time
from .drift import DRIFT_POLICIES, OMIT, Drop, Part, field_label, part_to_drop, remove
from .event_shape import plainly_valid

__all__ = [
    "SCHEMA_DIR",
    "Decoded",
    "EventDecoder",
    "dead_letter",
    "encode",
    "late_error",
    "load_schema",
]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
EVENT_SCHEMA = "clickstream-event.v1"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema from `schemas/` by name, e.g. `session.v1`."""
    document: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    return document


def encode(value: Any) -> bytes:
    """orjson's encoding, in bytes of their own size.

    The bytes orjson returns keep the whole buffer it wrote into (4 KiB at
    least): harmless for a line written at once, a tenfold memory cost for
    bytes that wait in a queue or a table. The copy is cheap next to that.
    """
    return memoryview(orjson.dumps(value)).tobytes()


def _reason(error: fastjsonschema.JsonSchemaValueException) -> str:
    if error.name == "data.schema_version":
        return Reason.UNKNOWN_SCHEMA_VERSION
    if error.rule == "required" or (error.rule == "anyOf" and error.name == "data"):
        return Reason.MISSING_FIELD
    if error.rule == "type":
        return Reason.WRONG_TYPE
    return Reason.INVALID_FIELD


def _message(error: fastjsonschema.JsonSchemaValueException) -> str:
    if error.rule == "anyOf" and error.name == "data":
        return "event needs customer_id or anonymous_id (a non-empty string)"
    name = error.name or "data"
    field = name.removeprefix("data.").removeprefix("data")
    text = error.message.replace(name, field or "event", 1)
    if error.rule in ("required", "anyOf"):
        return text
    return f"{text} (got {error.value!r})"


_MAX_DROPS = 20
"""Malformed parts dropped from one event at most; beyond, the event is refused."""


class EventDecoder:
    """Record bytes to a validated `Event`; raises `InvalidEvent` with a reason code.

    An event stamped more than `max_skew_ms` after the record was received (its
    Kafka timestamp; offline, the wall clock) comes from a device with a wrong
    clock: it is refused (`future_timestamp`) before it can move any watermark.
    """

    def __init__(self, max_bytes: int, max_skew_ms: int, drift: str = OMIT) -> None:
        if drift not in DRIFT_POLICIES:
            raise ValueError(f"drift policy {drift!r} is not one of {', '.join(DRIFT_POLICIES)}")
        self.max_bytes = max_bytes
        self.max_skew_ms = max_skew_ms
        self.drift = drift
        self._validate: Callable[[Any], Any] = fastjsonschema.compile(load_schema(EVENT_SCHEMA))

    def decode(self, raw: bytes, received_at: int) -> Decoded:
        """The event in `raw`, a record received at `received_at` (epoch ms), with the parts
        dropped from it under the `omit` drift policy."""
        decoded = self._decode(raw)
        event = decoded.event
        ahead = event.occurred_at - received_at
        if ahead > self.max_skew_ms:
            raise InvalidEvent(
                Reason.FUTURE_TIMESTAMP,
                f"occurred_at {format_time(event.occurred_at)} is {ahead / 3_600_000:.1f} h after"
                f" the record was received ({format_time(received_at)}); at most"
                f" {self.max_skew_ms / 3_600_000:g} h ahead is accepted (JOURNEY_MAX_CLOCK_SKEW)",
            )
        return decoded

    def _decode(self, raw: bytes) -> Decoded:
        if len(raw) > self.max_bytes:
            raise InvalidEvent(
                Reason.OVERSIZE, f"record is {len(raw)} bytes; the limit is {self.max_bytes}"
            )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise InvalidEvent(Reason.MALFORMED_JSON, f"not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise InvalidEvent(
                Reason.NOT_AN_OBJECT, f"expected a JSON object, got {type(data).__name__}"
            )
        if plainly_valid(raw):
            return Decoded(Event.from_dict(data), ())
        drops: list[Drop] = []
        while True:
            try:
                self._validate(data)
                return Decoded(Event.from_dict(data), tuple(drops))
            except fastjsonschema.JsonSchemaValueException as error:
                path = [str(p) for p in error.path[1:]]
                part = part_to_drop(path) if self.drift == OMIT else None
                if part is None or len(drops) == _MAX_DROPS:
                    raise InvalidEvent(_reason(error), _message(error)) from None
                drops.append(Drop(part, field_label(path), _message(error)))
                remove(data, part)


class Decoded(NamedTuple):
    event: Event
    drops: tuple[Drop, ...]
    """Malformed parts removed from the event (`JOURNEY_DRIFT=omit`), in order."""

    @property
    def parts(self) -> tuple[Part, ...]:
        """What was removed, in order: for `drift.decode_again` after a hop."""
        return tuple(drop.part for drop in self.drops)


def dead_letter(
    reason: str,
    error: str,
    original: bytes,
    *,
    received_at: int,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    event: Event | None = None,
) -> dict[str, Any]:
    """A `clickstream.dead-letter` record (see `schemas/dead-letter.v1.json`)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "reason": reason,
        "error": error,
        "original": base64.b64encode(original).decode("ascii"),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "received_at": format_time(received_at),
        "event_id": event.event_id if event else None,
        "journey_key": event.key if event else None,
    }


def late_error(late_by: int) -> str:
    """The `error` text of a `late` dead letter."""
    return f"event is {late_by} ms behind the watermark"
