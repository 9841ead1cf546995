from pipeline.domain import CartPolicy, JourneyPolicy

from ..support import DAY, HOUR, MINUTE, Run, event, order, product

A, B = product("a", 10.0), product("b", 5.0, quantity=2)


def test_cart_emptied_or_ordered_is_not_abandoned():
    removed = Run(
        [event("cart_item_added", 0, product=A), event("cart_item_removed", MINUTE, product=A)]
    )
    ordered = Run(
        [
            event("cart_item_added", 0, product=A),
            event("order_completed", 20 * MINUTE, order=order("o", A)),
        ]
    )
    assert removed.alerts == [] and ordered.alerts == []


def test_abandonment_fires_without_any_later_event_once_time_passes():
    run = Run([event("cart_item_added", 0, product=A), event("cart_item_added", MINUTE, product=B)])
    [alert] = run.alerts
    assert alert["value"] == 20.0
    assert [i["quantity"] for i in alert["items"]] == [1, 2]


def test_one_alert_per_cart_even_with_activity_after_it():
    run = Run(
        [
            event("cart_item_added", 0, product=A),
            event("cart_viewed", 2 * HOUR),
            event("cart_item_added", 2 * HOUR + MINUTE, product=B),
        ]
    )
    assert len(run.alerts) == 1


def test_cooldown_suppresses_a_second_cart_within_24h_and_is_counted():
    run = Run(
        [
            event("cart_item_added", 0, product=A),
            event("cart_item_removed", 2 * HOUR, product=A),
            event("cart_item_added", 3 * HOUR, product=B),
            event("cart_item_removed", 30 * HOUR, product=B),
            event("cart_item_added", 31 * HOUR, product=A),
        ]
    )
    assert len(run.alerts) == 2
    assert run.out.counts["cart_alerts_suppressed_cooldown"] == 1


def test_withdrawn_consent_means_no_alert_and_is_counted():
    run = Run([event("cart_item_added", 0, product=A, properties={"marketing_consent": False})])
    assert run.alerts == []
    assert run.out.counts["cart_alerts_suppressed_no_consent"] == 1


def test_anonymous_cart_alerts_but_is_not_contactable():
    run = Run([event("cart_item_added", 0, customer=None, anonymous="a-1", product=A)])
    [alert] = run.alerts
    assert alert["contactable"] is False and alert["journey_key"] == "a-1"


def test_order_after_attribution_window_is_no_recovery():
    policy = JourneyPolicy(carts=CartPolicy(attribution_ms=1 * DAY))
    run = Run(
        [
            event("cart_item_added", 0, product=A),
            event("order_completed", 3 * DAY, order=order("o", A)),
        ],
        policy,
    )
    assert [a["type"] for a in run.alerts] == ["cart_abandoned"]
    assert run.out.counts["cart_recovery_window_expired"] == 1


def test_order_without_an_abandoned_item_is_no_recovery():
    run = Run(
        [
            event("cart_item_added", 0, product=A),
            event("order_completed", 2 * HOUR, order=order("o", B)),
        ]
    )
    assert [a["type"] for a in run.alerts] == ["cart_abandoned"]


def test_items_over_the_cap_are_counted_not_tracked():
    policy = JourneyPolicy(carts=CartPolicy(max_items=2))
    run = Run(
        [event("cart_item_added", i * MINUTE, product=product(f"p{i}")) for i in range(4)], policy
    )
    assert len(run.alerts[0]["items"]) == 2
    assert run.out.counts["cart_items_over_cap"] == 2


def test_alert_ids_are_deterministic():
    events = [event("cart_item_added", 0, product=A)]
    assert Run(events).alerts[0]["alert_id"] == Run(events).alerts[0]["alert_id"]
