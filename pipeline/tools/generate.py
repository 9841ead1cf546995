"""A realistic synthetic clickstream: customers following personas drawn from the seeds.

Personas: a first-time visitor from an ad, a researcher who compares and
leaves, a cart abandoner (some come back and buy), a buyer, a loyal repeat
customer, an advocate who reviews and refers, a detractor. Visitors start
anonymous and many log in later (identity stitching). A share of them
(`identify_once`) identify once, leaving an e-mail in a pop-up, and their
device goes on sending anonymous-only events, as a tracker does when only the
`identify` call carries the user id; some of those later sign in once on a
second device and go on anonymous there too. A share of records can be
malformed on purpose. Everything follows from the seed: same seed, same
stream. Events come out in event-time order across customers.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ..contract.codec import encode
from ..domain import format_time

__all__ = ["PERSONAS", "GeneratedRecord", "generate"]

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

PERSONAS: dict[str, float] = {
    "ad_visitor": 0.22,
    "researcher": 0.20,
    "cart_abandoner": 0.16,
    "buyer": 0.16,
    "loyal": 0.12,
    "advocate": 0.08,
    "detractor": 0.06,
}

_CATEGORIES = ("shoes", "jackets", "bags", "watches", "headphones", "lamps", "tents", "books")
_CAMPAIGNS = (
    {"source": "instagram", "medium": "paid_social", "name": "spring_launch"},
    {"source": "google", "medium": "cpc", "name": "brand_search"},
    {"source": "newsletter", "medium": "email", "name": "weekly_digest"},
    {"source": "tiktok", "medium": "social", "name": "creator_collab"},
)
_CHANNEL_OF_MEDIUM = {"paid_social": "ads", "cpc": "ads", "email": "email", "social": "social"}


@dataclass(frozen=True, slots=True)
class GeneratedRecord:
    key: str
    value: bytes
    occurred_at: int


_PATHS = {
    "search_performed": "/search?q=gift+ideas",
    "cart_item_added": "/cart",
    "cart_viewed": "/cart",
    "checkout_started": "/checkout",
    "payment_info_entered": "/checkout/payment",
    "logged_in": "/account/login",
    "app_opened": "/app/home",
    "feature_used": "/app/wishlist",
    "product_compared": "/compare",
    "pricing_viewed": "/shipping-and-prices",
    "support_contacted": "/help/contact",
    "nps_submitted": "/survey/nps",
    "referral_sent": "/account/referrals",
    "order_refunded": "/account/orders",
    "review_submitted": "/account/reviews/new",
}


def _path(event_type: str, fields: dict[str, Any], index: int) -> str:
    """A plausible page for the event (product pages carry the product id)."""
    product = fields.get("product")
    if event_type == "product_viewed" and product:
        return f"/products/{product['id']}"
    if event_type == "reviews_viewed" and product:
        return f"/products/{product['id']}/reviews"
    if event_type == "order_completed":
        return f"/checkout/thank-you?order={fields['order']['id']}"
    if event_type in ("page_viewed", "ad_clicked"):
        campaign = fields.get("campaign")
        if campaign:
            return f"/landing/{campaign['name']}?utm_source={campaign['source']}"
        return "/" if index % 3 else f"/collections/{_CATEGORIES[index % len(_CATEGORIES)]}"
    return _PATHS.get(event_type, "/" + event_type.replace("_", "-"))


class _Customer:
    """One customer's journey, built as a list of (time, event) lazily when first due."""

    def __init__(
        self,
        index: int,
        rng: random.Random,
        start: int,
        persona: str,
        anonymous: bool,
        identify_once: float = 0.0,
    ) -> None:
        self.rng = rng
        self.index = index
        self.persona = persona
        self.customer_id = f"c-{index:07d}"
        self.anonymous_id = f"a-{rng.getrandbits(48):012x}"
        returning = persona in ("loyal", "advocate", "detractor") and rng.random() < 0.5
        self.logged_in = returning or not anonymous
        self.identify_once = anonymous and identify_once > 0 and rng.random() < identify_once
        """Only one event per device carries the customer id (the rest anonymous-only)."""
        if self.identify_once:
            self.logged_in = False
        self.t = start
        self.seq = 0
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.campaign = rng.choice(_CAMPAIGNS)

    def _emit(self, event_type: str, gap_ms: int, identified: bool = False, **fields: Any) -> None:
        rng = self.rng
        self.t += gap_ms
        self.seq += 1
        event: dict[str, Any] = {
            "event_id": f"ev-{self.index:07d}-{self.seq:04d}",
            "event_type": event_type,
            "occurred_at": format_time(self.t),
            "anonymous_id": self.anonymous_id,
            "channel": fields.pop("channel", "app" if rng.random() < 0.25 else "web"),
            "page": {
                "url": "https://shop.example.com" + _path(event_type, fields, self.index),
                "referrer": None,
                "title": event_type.replace("_", " ").title(),
            },
            "properties": {"user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "locale": "en-GB"},
        }
        if self.logged_in or identified:
            event["customer_id"] = self.customer_id
        event.update(fields)
        self.events.append((self.t, event))

    def _product(self) -> dict[str, Any]:
        rng = self.rng
        category = rng.choice(_CATEGORIES)
        return {
            "id": f"p-{category}-{rng.randrange(200):03d}",
            "name": f"{category.title()} model {rng.randrange(90)}",
            "category": category,
            "price": round(rng.uniform(9, 240), 2),
            "currency": "EUR",
            "quantity": 1,
        }

    def _step(self) -> int:
        return self.rng.randrange(10_000, 4 * _MINUTE)

    def _away(self) -> int:
        return self.rng.randrange(2 * _HOUR, 4 * _DAY)

    def _landing(self) -> None:
        medium = self.campaign["medium"]
        self._emit(
            "ad_clicked",
            0,
            channel=_CHANNEL_OF_MEDIUM.get(medium, "ads"),
            campaign=dict(self.campaign),
        )
        self._emit(
            "page_viewed",
            2_000,
            channel=_CHANNEL_OF_MEDIUM.get(medium, "ads"),
            campaign=dict(self.campaign),
        )

    def _research(self, views: int) -> dict[str, Any]:
        self._emit("search_performed", self._step(), properties={"query": "gift ideas"})
        product = self._product()
        for _ in range(views):
            product = self._product()
            self._emit("product_viewed", self._step(), product=product)
        if self.rng.random() < 0.3:
            self._emit("reviews_viewed", self._step(), product=product)
        return product

    def _login(self) -> None:
        if self.identify_once:  # a pop-up takes the e-mail; the device stays anonymous
            self._emit("newsletter_subscribed", self._step(), identified=True)
            return
        self.logged_in = True
        self._emit("logged_in", self._step())

    def _second_device(self) -> None:
        """An identify-once customer signs in once on another device, anonymous after."""
        self.anonymous_id = f"a-{self.rng.getrandbits(48):012x}"
        self._emit("page_viewed", 0)
        self._emit("logged_in", self._step(), identified=True)

    def _cart(self, items: int) -> list[dict[str, Any]]:
        added = []
        for _ in range(items):
            product = self._product()
            added.append(product)
            self._emit("cart_item_added", self._step(), product=product)
        self._emit("cart_viewed", self._step())
        return added

    def _order(self, products: list[dict[str, Any]]) -> None:
        self._emit("checkout_started", self._step())
        self._emit("payment_info_entered", self._step())
        value = round(sum(p["price"] * p["quantity"] for p in products), 2)
        self._emit(
            "order_completed",
            self._step(),
            order={
                "id": f"o-{self.index:07d}-{self.seq:04d}",
                "value": value,
                "currency": "EUR",
                "items": [{**p, "product_id": p["id"]} for p in products],
            },
        )

    def build(self) -> list[tuple[int, dict[str, Any]]]:
        rng, persona = self.rng, self.persona
        self._landing() if rng.random() < 0.6 else self._emit("page_viewed", 0)
        self._research(rng.randrange(1, 5))
        if persona == "ad_visitor":
            return self.events
        if persona == "researcher":
            self.t += self._away()
            self._research(rng.randrange(2, 6))
            self._emit("product_compared", self._step())
            self._emit("pricing_viewed", self._step())
            return self.events
        if not self.logged_in and rng.random() < 0.7:
            self._login()
        if persona == "cart_abandoner":
            products = self._cart(rng.randrange(1, 4))
            if rng.random() < 0.35:
                self.t += rng.randrange(2 * _HOUR, 3 * _DAY)
                self._emit("cart_viewed", 0)
                self._order(products)
            return self.events
        self._order(self._cart(rng.randrange(1, 3)))
        if persona == "buyer":
            return self.events
        devices = 1
        for _ in range(rng.randrange(2, 6)):
            self.t += self._away()
            if self.identify_once and devices == 1 and rng.random() < 0.3:
                devices += 1
                self._second_device()
            self._emit("app_opened", 0, channel="app")
            self._emit("feature_used", self._step(), channel="app")
            if rng.random() < 0.4:
                self._order(self._cart(1))
        if persona == "advocate":
            self._emit("review_submitted", self._step(), rating=rng.choice((4, 5)))
            self._emit("referral_sent", self._step())
            self._emit("nps_submitted", self._step(), nps_score=rng.choice((9, 10)))
        elif persona == "detractor":
            self._emit("support_contacted", self._step(), channel="support")
            self._emit("nps_submitted", self._step(), nps_score=rng.randrange(0, 7))
            if rng.random() < 0.5:
                self._emit("order_refunded", self._step())
        return self.events


def _malformed(rng: random.Random, index: int) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return b'{"event_id": "broken-' + str(index).encode() + b'", "event_type": "page_vi'
    if kind == 1:
        return orjson.dumps({"event_type": "page_viewed", "occurred_at": "2026-01-01T00:00:00Z"})
    if kind == 2:
        return orjson.dumps(
            {
                "event_id": f"bad-{index}",
                "event_type": "page_viewed",
                "occurred_at": "last tuesday",
                "anonymous_id": "a-bad",
            }
        )
    if kind == 3:
        return orjson.dumps(
            {
                "event_id": f"bad-{index}",
                "event_type": "nps_submitted",
                "nps_score": "ten",
                "occurred_at": "2026-01-01T00:00:00Z",
                "customer_id": "c-bad",
            }
        )
    return orjson.dumps(["not", "an", "object"])


def generate(
    events: int,
    customers: int,
    seed: int = 7,
    start_ms: int = 1_767_225_600_000,
    span_ms: int = 14 * _DAY,
    malformed: float = 0.0,
    anonymous: bool = True,
    identify_once: float = 0.0,
) -> Iterator[GeneratedRecord]:
    """`events` records from about `customers` journeys starting within `span_ms`, time-ordered.

    With `anonymous=False` every event carries its customer id (no identity stitching).
    `identify_once`: the share of visitors whose devices send the customer id on one
    event only (a pop-up sign-up or a login), anonymous-only events before and after.

    Customers keep arriving until `events` are produced, so a large count cycles
    through more journeys than `customers` rather than making journeys longer.
    """
    rng = random.Random(seed)
    names, weights = list(PERSONAS), list(PERSONAS.values())
    heap: list[tuple[int, int, int, list[tuple[int, dict[str, Any]]]]] = []
    started = 0

    now = start_ms

    def admit() -> None:
        nonlocal started
        start = start_ms + rng.randrange(span_ms) + (started // customers) * span_ms
        start = max(start, now)  # a journey never starts behind the stream: output stays ordered
        persona = rng.choices(names, weights)[0]
        journey = _Customer(
            started, random.Random(rng.getrandbits(64)), start, persona, anonymous, identify_once
        ).build()
        heapq.heappush(heap, (start, started, 0, journey))
        started += 1

    for _ in range(customers):
        admit()
    produced = 0
    while produced < events:
        t, index, position, journey = heapq.heappop(heap)
        now = t
        if malformed and rng.random() < malformed:
            yield GeneratedRecord(f"malformed-{produced}", _malformed(rng, produced), t)
            produced += 1
            if produced >= events:
                break
        event = journey[position][1]
        key = event.get("customer_id") or event["anonymous_id"]
        yield GeneratedRecord(key, encode(event), t)
        produced += 1
        if position + 1 < len(journey):
            heapq.heappush(heap, (journey[position + 1][0], index, position + 1, journey))
        else:
            admit()
