"""Schema drift (`JOURNEY_DRIFT`): an order with a malformed item still counts as an order,
in the stream (after a route hop) exactly as in `journey process`."""

from __future__ import annotations

import base64
import random

import orjson
import pytest

from pipeline.config import Settings
from pipeline.domain import JourneyPolicy, Reason
from pipeline.offline.runner import process_records
from pipeline.policy import event_decoder
from pipeline.topics import DEAD_LETTER

from ..support import known_customers, offline_decisions, read_jsonl
from .cluster import Cluster, cluster_settings

RECEIVED = 2_000_000_000_000


def with_broken_items(records: list[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], dict]:
    """Every order's first item loses its id (as 9 in 50,000 real orders did); returns the
    records and the broken orders: event id -> (journey key, time)."""
    out, broken = [], {}
    for key, value in records:
        data = orjson.loads(value)
        items = (data.get("order") or {}).get("items")
        if data["event_type"] == "order_completed" and items:
            items[0]["id"] = None
            broken[data["event_id"]] = (data["customer_id"], data["occurred_at"])
            value = orjson.dumps(data)
        out.append((key, value))
    return out, broken


def alerted_after_paying(out_dir, broken: dict) -> int:
    """Carts alerted as abandoned with their last activity before a broken order and the
    alert after it: the customer had paid."""
    orders = list(broken.values())
    return sum(
        a["journey_key"] == key and a["last_activity_at"] <= at < a["abandoned_at"]
        for a in read_jsonl(out_dir / "cart-abandonments.jsonl")
        if a["type"] == "cart_abandoned"
        for key, at in orders
    )


@pytest.mark.parametrize("drift", ["omit", "block"])
def test_an_order_with_a_malformed_item_counts_as_an_order(tmp_path, drift):
    records, broken = with_broken_items(known_customers(3000, 150, seed=23))
    assert len(broken) > 20
    decoder = event_decoder(Settings(drift=drift))
    summary = process_records([v for _k, v in records], JourneyPolicy(), tmp_path, decoder,
                              RECEIVED)  # fmt: skip
    letters = read_jsonl(tmp_path / "dead-letter.jsonl")
    by_reason = {r: {d["event_id"] for d in letters if d["reason"] == r} for r in Reason.ALL}
    if drift == "omit":
        assert by_reason[Reason.PARTIAL] == set(broken) and not by_reason[Reason.INVALID_FIELD]
        assert summary.fields_dropped == {"order.items[].id": len(broken)}
        assert summary.outcomes["invalid"] == 0
        assert alerted_after_paying(tmp_path, broken) == 0
    else:
        assert summary.outcomes["invalid"] == len(broken) and not by_reason[Reason.PARTIAL]
        assert alerted_after_paying(tmp_path, broken) > 0, "blocked orders leave carts behind"

    cluster = Cluster(cluster_settings("murmur2").model_copy(update={"drift": drift}))
    cluster.produce(records, by="crc32", timestamp=RECEIVED)  # every event takes the route hop
    cluster.start_worker({0, 1})
    cluster.start_worker({2, 3})
    cluster.drain(random.Random(5), slow=1)
    online = [d for d in cluster.output(DEAD_LETTER) if d["reason"] == Reason.PARTIAL]
    assert sorted(base64.b64decode(d["original"]) for d in online) == sorted(
        base64.b64decode(d["original"]) for d in letters if d["reason"] == Reason.PARTIAL
    )
    assert cluster.decisions() == offline_decisions(tmp_path)
