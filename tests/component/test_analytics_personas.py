"""Personas with planted drop-offs and NPS per stage: the analytics recover them exactly,
offline and on the stream.

200 visitors land and view a product; 120 add it to the cart, 80 of those start the
checkout and 50 order. Next day 60 of the visitors who never added to the cart answer
the NPS survey (stage: consideration), and the 50 buyers answer it too (stage: purchase).
"""

from __future__ import annotations

import random

import orjson

from pipeline.config import Settings
from pipeline.domain import Output, format_time
from pipeline.domain.analytics.rollup import Rollup
from pipeline.domain.analytics.views import funnel_view, paths_view, voc_view
from pipeline.offline.runner import process_records
from pipeline.policy import event_decoder, journey_policy
from pipeline.topics import OUTPUT_FILES, OUTPUT_TOPICS

from ..support import clock_events, read_jsonl
from .cluster import PARTITIONS, Cluster, cluster_settings

T0 = 1_772_359_200_000  # 2026-03-01T10:00:00Z
MIN = 60_000
STEPS = [("page_viewed", "/"), ("product_viewed", "/products/p-shoes-042"),
         ("cart_item_added", "/cart"), ("checkout_started", "/checkout"),
         ("order_completed", "/checkout/thank-you?order=1")]  # fmt: skip
REACHED = [200, 200, 120, 80, 50]
"""How many visitors reach each step."""
NPS_BROWSERS = [9] * 15 + [7] * 15 + [2] * 30  # NPS (15 - 30) / 60 = -25
NPS_BUYERS = [10] * 30 + [3] * 20  # NPS (30 - 20) / 50 = 20


def event(customer: int, n: int, kind: str, at: int, path: str, **extra) -> tuple[str, bytes]:
    key = f"c-{customer:04d}"
    body = {"event_id": f"{key}-{n}", "event_type": kind, "occurred_at": format_time(at),
            "customer_id": key, "channel": "web",
            "page": {"url": f"https://shop.example{path}"}, **extra}  # fmt: skip
    if kind in ("product_viewed", "cart_item_added"):
        body["product"] = {"id": "p-shoes-042", "name": "Shoe", "price": 80.0, "currency": "EUR",
                           "quantity": 1}  # fmt: skip
    if kind == "order_completed":
        item = {"product_id": "p-shoes-042", "price": 80.0, "quantity": 1}
        body["order"] = {"id": f"o-{customer}", "value": 80.0, "currency": "EUR", "items": [item]}
    return key, orjson.dumps(body)


def traffic() -> list[tuple[str, bytes]]:
    rng = random.Random(4)
    records = []
    for customer in range(200):
        start = T0 + rng.randrange(0, 30 * MIN)
        steps = sum(customer < n for n in REACHED)
        for n, (kind, path) in enumerate(STEPS[:steps]):
            records.append(event(customer, n, kind, start + n * 2 * MIN, path))
    answers = [(c, s) for c, s in zip(range(140, 200), NPS_BROWSERS, strict=True)]
    answers += [(c, s) for c, s in zip(range(50), NPS_BUYERS, strict=True)]
    for customer, score in answers:
        at = T0 + 86_400_000 + customer * MIN
        records.append(event(customer, 9, "nps_submitted", at, "/survey/nps", nps_score=score))
    records.sort(key=lambda r: orjson.loads(r[1])["occurred_at"])
    end = T0 + 2 * 86_400_000
    return records + clock_events(end, PARTITIONS, "murmur2")


def check(rollup: Rollup) -> None:
    checkout = funnel_view(rollup, "checkout", None)
    assert checkout is not None
    assert [s["entered"] for s in checkout["steps"]] == [200, 120, 80, 50]
    assert [s["conversion_from_previous"] for s in checkout["steps"]] == [1.0, 0.6, 0.6667, 0.625]
    pages = {(s["from"], s["to"]): s["count"] for s in paths_view(rollup, "page", None)["steps"]}
    assert pages[("(start)", "/")] == 200
    assert pages[("(start)", "/survey/nps")] == pages[("/survey/nps", "(exit)")] == 110
    assert pages[("/products/:id", "(exit)")] == 80
    assert pages[("/cart", "(exit)")] == 40
    assert pages[("/checkout", "(exit)")] == 30
    assert pages[("/checkout/thank-you", "(exit)")] == 50
    nodes = {n["node"]: n for n in paths_view(rollup, "page", None)["nodes"]}
    assert nodes["/checkout"]["exit_rate"] == round(30 / 80, 4)
    voice = {(r["stage"]): r for r in voc_view(rollup, None)["by_stage"] if r["kind"] == "nps"}
    assert (voice["consideration"]["responses"], voice["consideration"]["nps"]) == (60, -25.0)
    assert (voice["purchase"]["responses"], voice["purchase"]["nps"]) == (50, 20.0)
    assert voice["purchase"]["promoters"] == 30 and voice["purchase"]["detractors"] == 20


def test_offline_recovers_the_planted_funnel_drop_offs_and_nps(tmp_path):
    records = traffic()
    process_records(
        [v for _k, v in records], journey_policy(Settings()), tmp_path, event_decoder(Settings())
    )
    rollup = Rollup()
    for output in Output.ANALYTICS:
        rollup.add_all(output, read_jsonl(tmp_path / OUTPUT_FILES[output]))
    check(rollup)


def test_the_stream_recovers_them_too():
    records = traffic()
    cluster = Cluster(cluster_settings(), policy=journey_policy(Settings()))
    cluster.produce(records, by="murmur2", timestamp=2_000_000_000_000)
    cluster.start_worker({0, 1})
    cluster.start_worker({2, 3})
    cluster.drain(random.Random(8))
    rollup = Rollup()
    for output in Output.ANALYTICS:
        rollup.add_all(output, cluster.output(OUTPUT_TOPICS[output]))
    check(rollup)
