"""Bounded state: a journey back to empty is removed at the exact event time, an anonymous
one after the TTL of inactivity, and an event after a removal finds what `journey process`
finds (the timer not fired yet or fired, the same)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import Count, JourneyEngine, JourneyPolicy, Outputs
from pipeline.domain.deadlines import expires_at

from ..support import DAY, MINUTE, T0, event, order, product, records

POLICY = JourneyPolicy()
LATENESS = POLICY.sessions.lateness_ms
WINDOWS = POLICY.rules.windows_ms


def engine_after(events, policy=POLICY):
    engine = JourneyEngine(policy)
    out = Outputs()
    for e in events:
        engine.on_event(e, out, e.occurred_at)
    return engine, out


def test_a_customer_journey_goes_when_its_last_stage_window_lapses():
    engine, out = engine_after([event("page_viewed", 0), event("product_viewed", MINUTE)])
    assert expires_at(engine.states["c-1"], POLICY) is None, "its session is open"
    engine.on_watermark(out, T0 + MINUTE + POLICY.sessions.gap_ms + LATENESS + MINUTE)
    removal = expires_at(engine.states["c-1"], POLICY)
    assert removal == T0 + MINUTE + WINDOWS["consideration"] + LATENESS
    engine.on_watermark(out, removal - 1)
    assert "c-1" in engine.states and engine.states["c-1"].stage == "consideration"
    engine.on_watermark(out, removal)
    assert "c-1" not in engine.states and out.counts[Count.EXPIRED] == 1
    assert len(engine.timers) == 0
    assert "c-1" in dict(engine.snapshot().states), "the shell writes its tombstone"
    lapses = [r for o, _k, r in records(out) if o == "stage_transitions" and r["reason"] == "lapse"]
    assert [r["to_stage"] for r in lapses] == ["awareness"], "the lapse went out first"


def test_a_journey_keeps_what_it_still_needs():
    shop = [event("product_viewed", 0), event("cart_item_added", MINUTE, product=product("p"))]
    engine, _ = engine_after(shop)
    assert expires_at(engine.states["c-1"], POLICY) is None, "an open cart and session"
    engine, _ = engine_after(
        [*shop, event("page_viewed", 2 * MINUTE, properties={"marketing_consent": False})]
    )
    engine.on_watermark(Outputs(), T0 + 400 * DAY)
    assert "c-1" in engine.states, "a withdrawn consent is kept"


def test_an_anonymous_journey_goes_after_the_ttl_and_its_alias_lives_while_used():
    policy = replace(POLICY, anonymous_ttl_ms=2 * DAY)
    engine, out = engine_after([event("page_viewed", 0, customer=None, anonymous="a-1")], policy)
    engine.on_watermark(out, T0 + 2 * DAY + LATENESS - 1)
    assert "a-1" in engine.states
    engine.on_watermark(out, T0 + 2 * DAY + LATENESS)
    assert "a-1" not in engine.states

    engine, out = engine_after([
        event("page_viewed", 0, customer=None, anonymous="a-2"),
        event("logged_in", MINUTE, customer="c-2", anonymous="a-2"),
        event("page_viewed", DAY, customer=None, anonymous="a-2"),  # forwarded to c-2
    ], policy)  # fmt: skip
    assert engine.states["a-2"].alias_of == "c-2"
    engine.on_watermark(out, T0 + 3 * DAY + LATENESS - 1)
    assert "a-2" in engine.states, "used a day later: the alias lives 2 days from then"
    engine.on_watermark(out, T0 + 3 * DAY + LATENESS)
    assert "a-2" not in engine.states and "c-2" in engine.states


steps = st.lists(
    st.tuples(
        st.sampled_from(["page_viewed", "product_viewed", "cart_item_added", "order_completed",
                         "review_submitted", "unknown_thing"]),
        st.integers(min_value=1, max_value=100 * DAY),
    ),
    min_size=1,
    max_size=12,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(steps, st.sampled_from(["c-1", None]))
def test_removal_by_timer_or_on_the_next_event_gives_the_same_decisions(plan, customer):
    """`journey process` fires every timer before an event; the worker may meet the event
    first (its watermark behind). Both must give the same records."""
    policy = replace(POLICY, anonymous_ttl_ms=3 * DAY)
    events, at = [], 0
    for n, (kind, gap) in enumerate(plan):
        at += gap
        fields = {}
        if kind == "cart_item_added":
            fields["product"] = product("p")
        if kind == "order_completed":
            fields["order"] = order(f"o{n}", product("p"))
        anonymous = None if customer else "a-1"
        events.append(event(kind, at, customer=customer, anonymous=anonymous, **fields))
    eager, out_eager = engine_after(events, policy)  # timers fired up to each event
    lazy, out_lazy = JourneyEngine(policy), Outputs()  # the watermark never moves
    for e in events:
        lazy.on_event(e, out_lazy)
    for engine, out in ((eager, out_eager), (lazy, out_lazy)):
        engine.on_watermark(out, T0 + at)
        engine.on_eof(out)
    assert sorted(map(repr, records(out_lazy))) == sorted(map(repr, records(out_eager)))
    assert set(lazy.states) == set(eager.states)
