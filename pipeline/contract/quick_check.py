"""A hand-written check of the event schema's constraints, for the hot path.

`plainly_valid(data)` is True only for an event the JSON Schema
(`schemas/clickstream-event.v1.json`) certainly accepts; it is several times
cheaper than the compiled schema. False means "not sure": the decoder then
runs the full schema, which accepts the event or says exactly what is wrong.
A property test holds this to the schema (never True where the schema says
no). Fields the schema does not name are unconstrained, so they are not read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["plainly_valid"]

Check = Callable[[Any], bool]


def _string(low: int, high: int) -> Check:
    return lambda v: type(v) is str and low <= len(v) <= high


def _id_or_null(v: Any) -> bool:
    return v is None or (type(v) is str and 0 < len(v) <= 200)


def _str(v: Any) -> bool:
    return type(v) is str


def _str_or_null(v: Any) -> bool:
    return v is None or type(v) is str


def _str_or_int(v: Any) -> bool:
    return type(v) is str or type(v) is int


def _amount(v: Any) -> bool:
    return (type(v) is float or type(v) is int) and v >= 0


def _int_between(low: int, high: int) -> Check:
    return lambda v: type(v) is int and low <= v <= high


def _object(fields: dict[str, Check]) -> Check:
    def check(v: Any) -> bool:
        if type(v) is not dict:
            return False
        for name, value in v.items():
            field_check = fields.get(name)
            if field_check is not None and not field_check(value):
                return False
        return True

    return check


_CHANNELS = frozenset(("web", "app", "email", "social", "ads", "search", "store", "support",
                       "other"))  # fmt: skip
_PRODUCT = _object({
    "id": _str_or_int, "product_id": _str_or_int, "name": _str_or_null,
    "category": _str_or_null, "price": _amount, "currency": _str,
    "quantity": _int_between(1, 2**63),
})  # fmt: skip


def _items(v: Any) -> bool:
    return type(v) is list and len(v) <= 500 and all(_PRODUCT(item) for item in v)


_FIELDS: dict[str, Check] = {
    "schema_version": lambda v: type(v) is int and v == 1,
    "event_id": _string(1, 200),
    "event_type": _string(1, 100),
    "occurred_at": _str_or_int,
    "customer_id": _id_or_null,
    "anonymous_id": _id_or_null,
    "channel": lambda v: v is None or (type(v) is str and v in _CHANNELS),
    "page": _object({"url": _str, "referrer": _str_or_null, "title": _str_or_null}),
    "campaign": _object(
        dict.fromkeys(("source", "medium", "name", "content", "term"), _str_or_null)
    ),  # fmt: skip
    "product": _PRODUCT,
    "order": _object({"id": _str_or_int, "value": _amount, "currency": _str, "items": _items}),
    "rating": _int_between(1, 5),
    "nps_score": _int_between(0, 10),
    "properties": lambda v: type(v) is dict,
}
_REQUIRED = ("event_id", "event_type", "occurred_at")
_EVENT = _object(_FIELDS)


def plainly_valid(data: dict[str, Any]) -> bool:
    """True when the event schema certainly accepts `data` (False: ask the schema)."""
    for name in _REQUIRED:
        if name not in data:
            return False
    if type(data.get("customer_id")) is not str and type(data.get("anonymous_id")) is not str:
        return False
    return _EVENT(data)
