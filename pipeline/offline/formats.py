"""Input formats for `journey process` and `journey replay`: each yields raw event records.

- `jsonl`: the inbound contract, one JSON event per line.
- `rees46`: the public REES46 e-commerce CSV (event_time, event_type, product_id,
  category_id, category_code, brand, price, user_id, user_session). Consecutive
  `purchase` rows of one user, session and time are one order (Segment's Order
  Completed with products[]).
- `snowplow`: Snowplow atomic events CSV with a header row.

CSV rows become contract events; a row that cannot make a valid event still
becomes one, so the normal validation dead-letters it with a reason. A row whose
fields do not match the header makes no event: it is an `InputRecord` with its
`problem`, dead-lettered as `malformed_row`. Every record carries the file line
it starts on (1-based, blank lines counted), which its dead letter names.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, NamedTuple, cast

import orjson

from ..domain import stable_id

__all__ = ["FORMATS", "InputRecord", "open_input", "read_records"]

FORMATS = ("jsonl", "rees46", "snowplow")

_REES46_TYPES = {
    "view": "product_viewed",
    "cart": "cart_item_added",
    "remove_from_cart": "cart_item_removed",
    "purchase": "order_completed",
}


def open_input(path: str) -> IO[bytes]:
    """A file path, `-` for stdin; `.gz` is decompressed."""
    if path == "-":
        return sys.stdin.buffer
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")  # noqa: SIM115 - the caller closes it


class InputRecord(NamedTuple):
    """One record of an input file."""

    line: int
    """The file line it starts on (1-based, blank lines counted)."""
    value: bytes
    """The event record (JSON); with a `problem`, the row as it is in the file."""
    problem: str | None = None
    """Why the row makes no event (a dead letter `malformed_row`)."""


def read_records(handle: IO[bytes], fmt: str) -> Iterator[InputRecord]:
    """The records of an input in format `fmt`."""
    if fmt == "jsonl":
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if line:
                yield InputRecord(number, line)
        return
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        rows = _Rows(text)
        if fmt == "rees46":
            yield from _rees46(rows)
        else:
            for number, row in rows:
                yield InputRecord(number, orjson.dumps(_snowplow_event(row)))
        yield from rows.malformed
    finally:
        text.detach()


class _Rows:
    """A CSV file's rows under its header, each with the line it starts on. A row whose
    fields do not match the header is not yielded: it waits in `malformed` as a record
    with its problem and its lines as they are in the file."""

    def __init__(self, text: Iterable[str]) -> None:
        self.lines: list[str] = []
        self.reader = csv.reader(self._remember(text))
        self.malformed: list[InputRecord] = []

    def _remember(self, text: Iterable[str]) -> Iterator[str]:
        for line in text:
            self.lines.append(line)
            yield line

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        reader = self.reader
        header = next(reader, [])
        ended, self.lines = reader.line_num, []
        for fields in reader:
            lines, self.lines = self.lines, []
            start = ended + 1
            ended = reader.line_num
            if not fields:
                continue  # a blank line (counted: the next row starts after it)
            if len(fields) != len(header):
                self.malformed.append(InputRecord(
                    start, "".join(lines).strip().encode(),
                    f"line {start} has {len(fields)} fields; the header has {len(header)}",
                ))  # fmt: skip
                continue
            yield start, dict(zip(header, fields, strict=True))


def _csv_time(value: str) -> str:
    """'2019-10-01 00:00:04 UTC' or '2021-01-01 10:00:00.123' (UTC) to RFC 3339."""
    value = value.strip().removesuffix(" UTC").replace(" ", "T")
    return value if value.endswith("Z") or "+" in value[10:] else value + "Z"


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _rees46_product(row: dict[str, str]) -> dict[str, Any]:
    product: dict[str, Any] = {
        "id": row.get("product_id", ""),
        "category": row.get("category_code") or row.get("category_id") or None,
        "quantity": 1,
    }
    price = _float(row.get("price"))
    if price is not None:
        product["price"] = price
    if row.get("brand"):
        product["name"] = row["brand"]
    return product


def _rees46(rows: Iterable[tuple[int, dict[str, str]]]) -> Iterator[InputRecord]:
    order: dict[str, Any] | None = None
    order_key: tuple[str, str, str] | None = None
    order_line = 0
    for line, row in rows:
        kind = row.get("event_type", "")
        key = (row.get("user_id", ""), row.get("user_session", ""), row.get("event_time", ""))
        if order is not None and (kind != "purchase" or key != order_key):
            yield InputRecord(order_line, orjson.dumps(order))
            order = None
        event = _rees46_event(row, kind)
        if kind == "purchase":
            if order is None:
                order, order_key, order_line = event, key, line
            else:
                order["order"]["items"].append(event["order"]["items"][0])
                order["order"]["value"] = round(
                    order["order"]["value"] + event["order"]["value"], 2
                )
            continue
        yield InputRecord(line, orjson.dumps(event))
    if order is not None:
        yield InputRecord(order_line, orjson.dumps(order))


def _rees46_event(row: dict[str, str], kind: str) -> dict[str, Any]:
    line = "|".join(row.get(c) or "" for c in sorted(row))
    event: dict[str, Any] = {
        "event_id": stable_id("rees46", line),
        "event_type": _REES46_TYPES.get(kind, kind or "unknown"),
        "occurred_at": _csv_time(row.get("event_time", "")),
        "customer_id": row.get("user_id") or None,
        "channel": "web",
        "properties": {"source_session": row.get("user_session")},
    }
    product = _rees46_product(row)
    if kind == "purchase":
        item = {**product, "product_id": product.pop("id")}
        event["order"] = {
            "id": stable_id(
                "order", row.get("user_id"), row.get("user_session"), row.get("event_time")
            ),
            "value": item.get("price", 0.0),
            "items": [item],
        }
    else:
        event["product"] = product
    return event


_SNOWPLOW_ACTIONS = {
    "add_to_cart": "cart_item_added",
    "add-to-basket": "cart_item_added",
    "remove_from_cart": "cart_item_removed",
    "remove-from-basket": "cart_item_removed",
    "checkout_step": "checkout_started",
    "product_view": "product_viewed",
    "site_search": "search_performed",
}


def _snowplow_channel(medium: str) -> str:
    medium = medium.lower()
    if medium in ("cpc", "ppc", "paid", "display", "paidsocial"):
        return "ads"
    if "social" in medium:
        return "social"
    if medium == "email":
        return "email"
    if medium in ("organic", "search"):
        return "search"
    return "web"


def _snowplow_event(row: dict[str, str]) -> dict[str, Any]:
    kind = row.get("event", "")
    name = row.get("event_name") or ""
    action = row.get("se_action") or ""
    if kind == "page_view":
        event_type = "page_viewed"
    elif kind == "transaction":
        event_type = "order_completed"
    else:
        event_type = _SNOWPLOW_ACTIONS.get(action) or _SNOWPLOW_ACTIONS.get(name) or name or kind
    stamp = (
        row.get("derived_tstamp") or row.get("dvce_created_tstamp") or row.get("collector_tstamp")
    )
    event: dict[str, Any] = {
        "event_id": row.get("event_id", ""),
        "event_type": event_type or "unknown",
        "occurred_at": _csv_time(stamp) if stamp else None,  # none: dead-lettered
        "customer_id": row.get("user_id") or None,
        "anonymous_id": row.get("domain_userid") or None,
        "channel": _snowplow_channel(row.get("mkt_medium") or ""),
    }
    page = {
        "url": row.get("page_urlpath") or row.get("page_url") or "",
        "referrer": row.get("page_referrer") or None,
        "title": row.get("page_title") or None,
    }
    if page["url"]:
        event["page"] = page
    campaign = {
        "source": row.get("mkt_source") or None,
        "medium": row.get("mkt_medium") or None,
        "name": row.get("mkt_campaign") or None,
        "content": row.get("mkt_content") or None,
        "term": row.get("mkt_term") or None,
    }
    if any(campaign.values()):
        event["campaign"] = campaign
    if event_type == "order_completed":
        total = _float(row.get("tr_total"))
        event["order"] = {"id": row.get("tr_orderid") or event["event_id"]}
        if total is not None:
            event["order"]["value"] = total
        if row.get("tr_currency"):
            event["order"]["currency"] = row["tr_currency"]
    sku = row.get("ti_sku") or row.get("se_label")
    if sku and event_type in ("cart_item_added", "cart_item_removed", "product_viewed"):
        product: dict[str, Any] = {"id": sku, "quantity": 1}
        price = _float(row.get("ti_price") or row.get("se_value"))
        if price is not None:
            product["price"] = price
        event["product"] = product
    return event
