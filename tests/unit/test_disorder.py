"""Input out of event-time order, within a bound: a holding engine (the worker with
JOURNEY_MAX_DISORDER) makes the decisions `journey process` makes on the sorted input."""

from __future__ import annotations

import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import (
    Absorb,
    Detach,
    Event,
    JourneyEngine,
    JourneyPolicy,
    JourneyState,
    Outcome,
    Outputs,
)
from pipeline.domain.journey_state import Asked, Early
from pipeline.tools.generate import generate

from ..support import MINUTE, Mailbox, Run, event, records

DISORDER = 5 * MINUTE


def stream(seed: int) -> list[Event]:
    return [Event.from_dict(orjson.loads(r.value)) for r in generate(400, 25, seed=seed)]


def held_run(events: list[Event], arrival: list[Event], lag: int) -> Outputs:
    """Events in `arrival` order into a holding engine whose watermark trails the highest
    event time seen by the disorder bound plus `lag`."""
    engine, out = JourneyEngine(JourneyPolicy(), hold=True), Outputs()
    highest = 0
    for e in arrival:
        engine.on_event(e, out)
        highest = max(highest, e.occurred_at)
        engine.on_watermark(out, highest - DISORDER - lag)
    engine.on_watermark(out, highest)
    engine.on_eof(out)
    return out


def canonical(out: Outputs) -> list[bytes]:
    return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for _o, _k, r in records(out))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 4 * MINUTE), st.integers(0, 30 * MINUTE))
def test_shuffled_within_the_bound_gives_the_decisions_of_the_sorted_input(seed, jitter, lag):
    events = stream(seed % 7)
    rng = random.Random(seed)
    arrival = sorted(events, key=lambda e: e.occurred_at + rng.randrange(0, jitter + 1))
    assert canonical(held_run(events, arrival, lag)) == canonical(Run(events).out)


def test_an_event_is_held_until_the_watermark_has_passed_it_and_counted_when_released():
    """Passed, not reached: a source that has read one event at a time may not have read
    another at the same time yet (a stitch, say)."""
    engine, out = JourneyEngine(JourneyPolicy(), hold=True), Outputs()
    first = event("page_viewed", 0)
    assert engine.on_event(first, out).outcome == Outcome.HELD
    assert not out.decisions and engine.states["c-1"].held
    engine.on_watermark(out, first.occurred_at)
    assert not out.released and engine.states["c-1"].held
    engine.on_watermark(out, first.occurred_at + 1)
    assert out.released == [Outcome.OK] and out.decisions


def test_a_stitch_asked_on_arrival_waits_for_its_event_and_takes_the_earliest_time():
    login = event("logged_in", 2 * MINUTE, customer="c-9", anonymous="a-9")
    earlier = event("cart_viewed", MINUTE, customer="c-9", anonymous="a-9")
    mailbox = Mailbox(lambda key: key != "a-9")
    engine = JourneyEngine(JourneyPolicy(), hold=True, router=mailbox)
    out = Outputs()
    engine.on_event(login, out)
    engine.on_event(earlier, out)
    asked = [("a-9", Detach("c-9", e.occurred_at)) for e in (login, earlier)]
    assert mailbox.sent == asked, "asked again, for the earlier time"
    state = engine.states["c-9"]
    assert state.asked == [Asked("a-9", earlier.occurred_at)]
    anonymous = JourneyState(key="a-9", anonymous_id="a-9", event_count=1)
    engine.on_message("c-9", Absorb(anonymous.to_data(), earlier.occurred_at), out)
    assert state.early and not state.awaiting, "kept until the event asking for it is processed"
    engine.on_watermark(out, login.occurred_at + 1)
    assert not state.early and not state.asked and not state.awaiting
    assert out.released == [Outcome.OK, Outcome.OK]


def test_held_events_and_early_stitches_survive_a_restart():
    engine, out = JourneyEngine(JourneyPolicy(), hold=True), Outputs()
    engine.on_event(event("logged_in", 0, customer="c-9", anonymous="a-9"), out)
    state = engine.states["c-9"]
    state.early.append(Early("a-9", ["a-9"], 0))
    again = JourneyState.from_data(orjson.loads(orjson.dumps(state.to_data())))
    assert (again.held, again.asked, again.early) == (state.held, state.asked, state.early)
