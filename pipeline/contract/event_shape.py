"""The event schema's constraints as msgspec types: one pass in C over the record's bytes.

`plainly_valid(raw)` is True only for an event the JSON Schema
(`schemas/clickstream-event.v1.json`) certainly accepts; False means "not
sure" (msgspec is stricter in places: `5.0` is no integer to it), and the
decoder then runs the full schema, which accepts the event or says exactly
what is wrong. A property test holds this to the schema. Fields the schema
does not name are skipped unread; a field the schema does not allow to be null
has no default but "absent" (`UNSET`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["plainly_valid"]

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
_Amount = Annotated[float, msgspec.Meta(ge=0)]
_Channel = Literal["web", "app", "email", "social", "ads", "search", "store", "support", "other"]


class _Product(msgspec.Struct):
    id: str | int = ""
    product_id: str | int = ""
    name: str | None = None
    category: str | None = None
    price: _Amount = 0.0
    currency: str = ""
    quantity: Annotated[int, msgspec.Meta(ge=1)] = 1


class _Order(msgspec.Struct):
    id: str | int = ""
    value: _Amount = 0.0
    currency: str = ""
    items: Annotated[list[_Product], msgspec.Meta(max_length=500)] = []


class _Page(msgspec.Struct):
    url: str = ""
    referrer: str | None = None
    title: str | None = None


class _Campaign(msgspec.Struct):
    source: str | None = None
    medium: str | None = None
    name: str | None = None
    content: str | None = None
    term: str | None = None


class _Event(msgspec.Struct):
    event_id: _Id
    event_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    occurred_at: str | int
    schema_version: Literal[1] = 1
    customer_id: _Id | None = None
    anonymous_id: _Id | None = None
    channel: _Channel | None = None
    page: _Page | UnsetType = UNSET
    campaign: _Campaign | UnsetType = UNSET
    product: _Product | UnsetType = UNSET
    order: _Order | UnsetType = UNSET
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)] | UnsetType = UNSET
    nps_score: Annotated[int, msgspec.Meta(ge=0, le=10)] | UnsetType = UNSET
    properties: dict[str, Any] | UnsetType = UNSET


_DECODER = msgspec.json.Decoder(_Event)


def plainly_valid(raw: bytes) -> bool:
    """True when the event schema certainly accepts the JSON object in `raw` (False: ask
    the schema)."""
    try:
        event = _DECODER.decode(raw)
    except msgspec.DecodeError:  # a ValidationError too
        return False
    return event.customer_id is not None or event.anonymous_id is not None  # the anyOf
