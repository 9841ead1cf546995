"""Schema drift: the malformed part of an otherwise valid event is dropped (`JOURNEY_DRIFT`).

An event whose envelope is valid (id, type, time, ids) is still worth
processing when a nested part is malformed: an order item without an id, a
product with a negative price. With `omit` (the default, Segment Protocols'
"omit properties") the smallest part holding the error is removed and the
rest is processed; each drop is reported (a `partial` dead letter with the
original bytes, `journey_fields_dropped_total{field}`). With `block` the whole
event is refused, as before. Both runners apply the same drops, in the same
order, so they agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from ..domain import Event

__all__ = ["BLOCK", "DRIFT_POLICIES", "ENVELOPE", "OMIT", "Drop", "Part", "apply", "decode_again",
           "describe"]  # fmt: skip

OMIT = "omit"
BLOCK = "block"
DRIFT_POLICIES = (OMIT, BLOCK)

ENVELOPE = frozenset(
    {"schema_version", "event_id", "event_type", "occurred_at", "customer_id", "anonymous_id"}
)
"""Top-level fields without which an event cannot be placed or judged: never dropped."""

Part = tuple[str | int, ...]
"""A path into the event: ("order", "items", 2) is the third order item."""


class Drop(NamedTuple):
    part: Part
    """What was removed."""
    field: str
    """The field at fault, list indices written `[]` (`order.items[].id`): the metric label."""
    error: str


def part_to_drop(path: list[str]) -> Part | None:
    """The smallest droppable part holding an error at `path` (the validator's path, without
    its leading "data"), or None when the error is in the envelope."""
    if not path or path[0] in ENVELOPE:
        return None
    if path[0] == "order" and len(path) >= 3 and path[1] == "items":
        return ("order", "items", int(path[2]))
    if path[0] == "order" and len(path) >= 2:
        return ("order", path[1])
    return (path[0],)


def field_label(path: list[str]) -> str:
    """`["order", "items", "2", "id"]` -> `order.items[].id`."""
    return re.sub(r"\.\d+", "[]", ".".join(path))


def remove(data: dict[str, Any], part: Part) -> None:
    parent: Any = data
    for step in part[:-1]:
        parent = parent[step]
    del parent[part[-1]]


def apply(data: dict[str, Any], parts: Iterable[Part]) -> dict[str, Any]:
    """`data` with `parts` removed in order (as the decoder removed them)."""
    for part in parts:
        remove(data, part)
    return data


def decode_again(raw: bytes, parts: Iterable[Part]) -> Event:
    """The event of bytes validated before (after a route hop, in the offline second pass),
    with the parts the decoder dropped dropped again."""
    return Event.from_dict(apply(orjson.loads(raw), parts))


def _name(part: Part) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in part).lstrip(".")


def describe(drops: Iterable[Drop]) -> str:
    """The `error` of a `partial` dead letter."""
    return "; ".join(f"dropped {_name(drop.part)} ({drop.error})" for drop in drops)
