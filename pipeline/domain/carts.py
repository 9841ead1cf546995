"""Cart tracker: items and value per journey, abandonment, suppression and recovery.

A cart starts with the first item added to an empty cart and ends when it is
emptied or an order completes. A non-empty cart idle for `abandon_after_ms` of
event time is abandoned, and is judged once: an alert, or a suppression when
the customer withdrew marketing consent or was alerted within the cooldown.
An order within the attribution window that contains an abandoned product
recovers that alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .events import Event, stable_id
from .vocabulary import Suppression

__all__ = [
    "ADD",
    "ACTIVITY",
    "CartItem",
    "ORDER",
    "REMOVE",
    "CartPolicy",
    "CartState",
    "Judgement",
    "PendingRecovery",
    "Recovery",
]

ADD = "cart_item_added"
REMOVE = "cart_item_removed"
ACTIVITY = frozenset({"cart_viewed", "checkout_started", "payment_info_entered"})
ORDER = "order_completed"

OVER_CAP = "cart_items_over_cap"
NO_PRODUCT = "cart_event_without_product"


@dataclass(frozen=True, slots=True)
class CartPolicy:
    abandon_after_ms: int = 30 * 60_000
    cooldown_ms: int = 24 * 3_600_000
    attribution_ms: int = 7 * 86_400_000
    max_items: int = 100
    """Distinct products per cart; further products are not tracked (counted)."""
    max_pending: int = 8
    """Abandoned carts awaiting recovery per journey; the oldest gives way (counted)."""


def _number(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


@dataclass(slots=True)
class CartItem:
    """One product in a cart or an order."""

    product_id: str
    name: Any
    category: Any
    price: float
    quantity: int

    def to_data(self) -> list[Any]:
        return [self.product_id, self.name, self.category, self.price, self.quantity]

    @classmethod
    def from_data(cls, data: list[Any]) -> CartItem:
        return cls(data[0], data[1], data[2], data[3], data[4])

    def copy(self) -> CartItem:
        return CartItem(self.product_id, self.name, self.category, self.price, self.quantity)


def _value(items: list[CartItem]) -> float:
    return float(round(sum(item.price * item.quantity for item in items), 2))


@dataclass(slots=True)
class PendingRecovery:
    """An alerted cart that a later order may recover."""

    alert_id: str
    items: list[CartItem]
    value: float
    currency: str | None
    last_activity_at: int
    abandoned_at: int
    channel: str | None
    campaign: dict[str, Any] | None

    def to_data(self) -> list[Any]:
        return [
            self.alert_id,
            [item.to_data() for item in self.items],
            self.value,
            self.currency,
            self.last_activity_at,
            self.abandoned_at,
            self.channel,
            self.campaign,
        ]

    @classmethod
    def from_data(cls, data: list[Any]) -> PendingRecovery:
        items = [CartItem.from_data(item) for item in data[1]]
        return cls(data[0], items, data[2], data[3], data[4], data[5], data[6], data[7])


@dataclass(slots=True)
class Judgement:
    """The decision on an abandoned cart: `alert_id` set, or `suppressed` says why not."""

    cart_id: str
    items: list[CartItem]
    value: float
    currency: str | None
    last_activity_at: int
    abandoned_at: int
    session_id: str | None
    channel: str | None
    campaign: dict[str, Any] | None
    alert_id: str | None = None
    suppressed: str | None = None
    propensity: float | None = None
    """The last purchase propensity published for the cart's session (None: none yet)."""


@dataclass(slots=True)
class Recovery:
    pending: PendingRecovery
    order_id: str | None
    recovered_items: list[CartItem]
    recovered_value: float
    recovered_at: int


@dataclass(slots=True, init=False)
class CartState:
    """One journey's cart, its alert history and consent. Items: [product_id, name,
    category, price, quantity]. Built with every journey: its `__init__` is written out
    (see `Event`)."""

    cart_id: str | None
    items: list[CartItem]
    currency: str | None
    last_activity_at: int
    session_id: str | None
    channel: str | None
    campaign: dict[str, Any] | None
    judged: bool
    last_alert_at: int | None
    consent: bool | None
    pending: list[PendingRecovery]
    score: float | None
    """The last purchase propensity published for the session of the cart's last activity."""

    def __init__(
        self,
        cart_id: str | None = None,
        items: list[CartItem] | None = None,
        currency: str | None = None,
        last_activity_at: int = 0,
        session_id: str | None = None,
        channel: str | None = None,
        campaign: dict[str, Any] | None = None,
        judged: bool = False,
        last_alert_at: int | None = None,
        consent: bool | None = None,
    ) -> None:
        """All but `pending`, in `to_data`'s order (`from_data` passes them so)."""
        self.cart_id = cart_id
        self.items = [] if items is None else items
        self.currency = currency
        self.last_activity_at = last_activity_at
        self.session_id = session_id
        self.channel = channel
        self.campaign = campaign
        self.judged = judged
        self.last_alert_at = last_alert_at
        self.consent = consent
        self.pending = []
        self.score = None

    def to_data(self) -> list[Any]:
        return [
            self.cart_id,
            [item.to_data() for item in self.items],
            self.currency,
            self.last_activity_at,
            self.session_id,
            self.channel,
            self.campaign,
            self.judged,
            self.last_alert_at,
            self.consent,
            [p.to_data() for p in self.pending],
            self.score,
        ]

    @classmethod
    def from_data(cls, data: list[Any]) -> CartState:
        state = cls(data[0], [CartItem.from_data(item) for item in data[1]], *data[2:10])
        state.pending = [PendingRecovery.from_data(p) for p in data[10]]
        state.score = data[11]
        return state

    @property
    def value(self) -> float:
        return _value(self.items)

    def abandon_deadline(self, policy: CartPolicy) -> int | None:
        """Event time at which the open cart counts as abandoned (None: nothing to judge)."""
        if not self.items or self.judged:
            return None
        return self.last_activity_at + policy.abandon_after_ms

    def _clear(self) -> None:
        self.cart_id = None
        self.items = []
        self.currency = None
        self.judged = False
        self.score = None

    def _touch(self, event: Event, session_id: str | None) -> None:
        if event.occurred_at >= self.last_activity_at:
            self.last_activity_at = event.occurred_at
            self.session_id = session_id
            self.channel = event.channel or self.channel
            self.campaign = event.campaign or self.campaign

    def apply(
        self, event: Event, key: str, session_id: str | None, policy: CartPolicy
    ) -> list[str]:
        """Update the cart with a cart event; returns counter names for what was not tracked."""
        notes: list[str] = []
        kind = event.event_type
        if kind in (ADD, REMOVE):
            product = event.data.get("product")
            product_id = product.get("id") if isinstance(product, dict) else None
            if product_id is None:
                return [NO_PRODUCT]
            assert isinstance(product, dict)
            product_id = str(product_id)
            if kind == ADD:
                if not self.items:
                    self.cart_id = stable_id("cart", key, event.occurred_at, event.event_id)
                    self.judged = False
                    self.last_activity_at = event.occurred_at
                notes += self._add(product_id, product, policy)
            else:
                self._remove(product_id, product)
                if not self.items:
                    self._clear()
                    return notes
            self._touch(event, session_id)
        elif kind in ACTIVITY and self.items:
            self._touch(event, session_id)
        return notes

    def _add(self, product_id: str, product: dict[str, Any], policy: CartPolicy) -> list[str]:
        quantity = int(_number(product.get("quantity"), 1)) or 1
        price = _number(product.get("price"), 0.0)
        for item in self.items:
            if item.product_id == product_id:
                item.quantity += quantity
                if "price" in product:
                    item.price = price
                return []
        if len(self.items) >= policy.max_items:
            return [OVER_CAP]
        self.items.append(
            CartItem(product_id, product.get("name"), product.get("category"), price, quantity)
        )
        if self.currency is None and isinstance(product.get("currency"), str):
            self.currency = product["currency"]
        return []

    def _remove(self, product_id: str, product: dict[str, Any]) -> None:
        for index, item in enumerate(self.items):
            if item.product_id == product_id:
                quantity = product.get("quantity")
                remaining = item.quantity - int(_number(quantity, item.quantity))
                if remaining > 0:
                    item.quantity = remaining
                else:
                    del self.items[index]
                return

    def judge(self, now: int, key: str, policy: CartPolicy) -> Judgement | None:
        """Decide an open cart idle past `abandon_after` at event time `now`, once per cart."""
        deadline = self.abandon_deadline(policy)
        if deadline is None or now < deadline or self.cart_id is None:
            return None
        self.judged = True
        judgement = Judgement(
            cart_id=self.cart_id,
            items=[item.copy() for item in self.items],
            value=self.value,
            currency=self.currency,
            last_activity_at=self.last_activity_at,
            abandoned_at=deadline,
            session_id=self.session_id,
            channel=self.channel,
            campaign=self.campaign,
            propensity=self.score,
        )
        if self.consent is False:
            judgement.suppressed = Suppression.NO_CONSENT
        elif self.last_alert_at is not None and deadline - self.last_alert_at < policy.cooldown_ms:
            judgement.suppressed = Suppression.COOLDOWN
        else:
            judgement.alert_id = stable_id("alert", key, self.cart_id)
            self.last_alert_at = deadline
            self.pending.append(
                PendingRecovery(
                    judgement.alert_id,
                    judgement.items,
                    judgement.value,
                    judgement.currency,
                    judgement.last_activity_at,
                    deadline,
                    judgement.channel,
                    judgement.campaign,
                )
            )
        return judgement

    def trim_pending(self, now: int, policy: CartPolicy) -> int:
        """Forget alerts whose attribution window ended before `now`, and those over the cap."""
        before = len(self.pending)
        if not before:
            return 0
        self.pending = [p for p in self.pending if now <= p.abandoned_at + policy.attribution_ms][
            -policy.max_pending :
        ]
        return before - len(self.pending)

    def complete_order(self, event: Event, policy: CartPolicy) -> list[Recovery]:
        """An order ends the cart and recovers pending alerts that share a product with it."""
        self._clear()
        ordered = _order_items(event)
        recoveries: list[Recovery] = []
        remaining: list[PendingRecovery] = []
        for pending in self.pending:
            in_window = (
                pending.abandoned_at
                <= event.occurred_at
                <= pending.abandoned_at + policy.attribution_ms
            )
            abandoned = {item.product_id for item in pending.items}
            matched = [item for item in ordered if item.product_id in abandoned]
            if not (in_window and matched):
                remaining.append(pending)
                continue
            recoveries.append(
                Recovery(
                    pending=pending,
                    order_id=_order_id(event),
                    recovered_items=matched,
                    recovered_value=round(sum(i.price * i.quantity for i in matched), 2),
                    recovered_at=event.occurred_at,
                )
            )
        self.pending = remaining
        return recoveries

    def absorb(self, other: CartState, policy: CartPolicy) -> None:
        """Take in another journey's cart (identity stitching)."""
        if other.items and not self.items:
            (
                self.cart_id,
                self.items,
                self.currency,
                self.last_activity_at,
                self.session_id,
                self.channel,
                self.campaign,
                self.judged,
            ) = (
                other.cart_id,
                other.items,
                other.currency,
                other.last_activity_at,
                other.session_id,
                other.channel,
                other.campaign,
                other.judged,
            )
        elif other.items:
            for item in other.items:
                known = all(i.product_id != item.product_id for i in self.items)
                if len(self.items) < policy.max_items and known:
                    self.items.append(item)
            self.last_activity_at = max(self.last_activity_at, other.last_activity_at)
        if other.last_alert_at is not None:
            self.last_alert_at = max(self.last_alert_at or other.last_alert_at, other.last_alert_at)
        if self.consent is None:
            self.consent = other.consent
        self.pending = sorted([*self.pending, *other.pending], key=lambda p: p.abandoned_at)[
            -policy.max_pending :
        ]


def _order_id(event: Event) -> str | None:
    order = event.data.get("order")
    if isinstance(order, dict) and order.get("id") is not None:
        return str(order["id"])
    return None


def _order_items(event: Event) -> list[CartItem]:
    """The order's items."""
    order = event.data.get("order")
    raw = order.get("items") if isinstance(order, dict) else None
    if not isinstance(raw, list) or not raw:
        product = event.data.get("product")
        raw = [product] if isinstance(product, dict) else []
    items = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        product_id = entry.get("product_id", entry.get("id"))
        if product_id is None:
            continue
        items.append(
            CartItem(
                str(product_id),
                entry.get("name"),
                entry.get("category"),
                _number(entry.get("price"), 0.0),
                int(_number(entry.get("quantity"), 1)) or 1,
            )
        )
    return items
