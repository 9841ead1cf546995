import subprocess
import sys
from pathlib import Path

from pipeline.domain import (
    Absorb,
    Detach,
    JourneyEngine,
    JourneyPolicy,
    JourneyState,
    Outcome,
    Outputs,
)
from pipeline.domain.journey_state import StitchTo

from ..support import DAY, MINUTE, T0, Mailbox, Run, anonymous_then_login, event, product, records


def test_anonymous_history_moves_under_the_customer_key():
    run = Run(anonymous_then_login())
    state = run.engine.states["c-9"]
    assert state.anonymous_id == "a-9"
    assert state.cart.items and state.event_count == 4
    assert run.engine.states["a-9"].alias_of == "c-9"
    [session] = run.sessions
    assert session["journey_key"] == "c-9" and session["event_count"] == 4
    [alert] = run.alerts
    assert alert["journey_key"] == "c-9" and alert["contactable"] is True
    assert run.out.counts["events_forwarded_to_customer"] == 1
    assert run.outcomes[-1] == Outcome.OK


def test_stitching_reports_the_session_merge_and_keeps_the_anonymous_session_id():
    run = Run(anonymous_then_login())
    [merge] = run.merges
    assert merge["session_id"] == run.sessions[0]["session_id"]
    anonymous_only = Run(anonymous_then_login()[:2])
    assert anonymous_only.sessions[0]["session_id"] == run.sessions[0]["session_id"]


def test_duplicate_event_ids_are_dropped_within_the_window():
    e = event("product_viewed", 0)
    run = Run([e, e, event("product_viewed", MINUTE), e])
    assert run.outcomes == [Outcome.OK, Outcome.DUPLICATE, Outcome.OK, Outcome.DUPLICATE]
    assert run.sessions[0]["event_count"] == 2


def test_dedupe_memory_is_bounded_per_journey():
    policy = JourneyPolicy(dedupe_ids=3)
    events = [event("page_viewed", i, event_id=f"id{i}") for i in range(5)]
    run = Run([*events, events[0], events[4]], policy)
    assert run.outcomes[-2:] == [Outcome.OK, Outcome.DUPLICATE]
    assert len(run.engine.states["c-1"].recent_ids) == 3


def test_state_round_trips_through_plain_data():
    run = Run(anonymous_then_login()[:3])
    for state in run.engine.states.values():
        assert JourneyState.from_data(state.to_data()) == state


def test_a_stitch_arriving_late_gives_the_same_records_as_an_immediate_one():
    """The worker stitches through a topic; events held meanwhile replay in order."""
    events = [*anonymous_then_login()[:3],
              event("cart_item_added", 4 * MINUTE, customer="c-9", product=product("q")),
              event("order_completed", 5 * MINUTE, customer="c-9")]  # fmt: skip
    immediate = Run(events)
    mailbox = Mailbox(lambda key: key != "a-9")  # the anonymous journey's requests travel
    engine = JourneyEngine(JourneyPolicy(), router=mailbox)
    out = Outputs()
    outcomes = [engine.on_event(e, out, e.occurred_at).outcome for e in events]
    assert outcomes[-2:] == [Outcome.PARKED, Outcome.PARKED]
    assert engine.timers.next_deadline() is None or "c-9" not in engine.timers._due
    [(anonymous_id, detach)] = mailbox.sent
    assert anonymous_id == "a-9" and isinstance(detach, Detach) and detach.customer == "c-9"
    engine.on_message(anonymous_id, detach, out)  # its move to c-9 is taken here
    assert out.released == [Outcome.OK, Outcome.OK]
    engine.on_message(anonymous_id, detach, out)  # a redelivered request
    assert out.released == [Outcome.OK, Outcome.OK] and len(mailbox.sent) == 1
    engine.on_eof(out)
    assert records(out) == records(immediate.out)


def engine_with_anonymous_visit(key: str = "a-9") -> tuple[JourneyEngine, Outputs, Mailbox]:
    """An engine of the anonymous visitor's partition (its customers live elsewhere) that
    has seen one page view of anonymous visitor `key` at T0."""
    mailbox = Mailbox(lambda k: not k.startswith("c-"))
    engine = JourneyEngine(JourneyPolicy(), router=mailbox)
    out = Outputs()
    first = event("page_viewed", 0, customer=None, anonymous=key)
    engine.on_event(first, out, first.occurred_at)
    return engine, out, mailbox


def test_detach_waits_until_the_anonymous_partition_has_reached_the_stitch_time():
    engine, out, mailbox = engine_with_anonymous_visit()
    stitch_at = T0 + 10 * MINUTE
    engine.on_message("a-9", Detach("c-9", stitch_at), out)
    assert mailbox.sent == [] and engine.states["a-9"].stitch_to == StitchTo("c-9", stitch_at)
    restored = JourneyState.from_data(engine.states["a-9"].to_data())
    assert restored.stitch_to == StitchTo("c-9", stitch_at)
    late_own_event = event("product_viewed", 9 * MINUTE, customer=None, anonymous="a-9")
    engine.on_event(late_own_event, out, late_own_event.occurred_at)
    engine.on_watermark(out, stitch_at)
    [(customer_key, absorb)] = mailbox.sent
    assert customer_key == "c-9" and isinstance(absorb, Absorb) and absorb.at == stitch_at
    assert JourneyState.from_data(absorb.moved).event_count == 2
    assert engine.states["a-9"].alias_of == "c-9"


def test_a_quiet_partition_releases_a_waiting_detach_at_once():
    engine, out, mailbox = engine_with_anonymous_visit()
    engine.on_message("a-9", Detach("c-9", T0 + 2 * 60 * MINUTE), out)
    assert mailbox.sent == []
    restored = JourneyEngine(JourneyPolicy(), router=mailbox)
    restored.restore([JourneyState.from_data(engine.states["a-9"].to_data())], engine.watermark)
    restored.on_watermark(out, idle_for=0)
    [(customer_key, absorb)] = mailbox.sent
    assert customer_key == "c-9" and isinstance(absorb, Absorb)
    assert JourneyState.from_data(absorb.moved).event_count == 1
    assert restored.states["a-9"].alias_of == "c-9" and not restored.identity.moving
    restored.on_watermark(out, idle_for=0)
    assert len(mailbox.sent) == 1, "released once"


def test_an_anonymous_journey_gone_by_the_stitch_time_moves_nothing_as_offline():
    stitch_at = T0 + 40 * DAY  # past the anonymous TTL of its one page view at T0
    offline = Run([event("page_viewed", 0, customer=None, anonymous="a-9"),
                   event("login", 40 * DAY, customer="c-9", anonymous="a-9")],
                  finish=False)  # fmt: skip
    assert offline.engine.states["c-9"].event_count == 1, "the visit expired before"
    engine, out, mailbox = engine_with_anonymous_visit()
    engine.on_message("a-9", Detach("c-9", stitch_at), out)  # the watermark still at T0
    engine.on_watermark(out, stitch_at)
    [(customer_key, absorb)] = mailbox.sent
    assert customer_key == "c-9" and isinstance(absorb, Absorb)
    assert JourneyState.from_data(absorb.moved).event_count == 0
    assert out.counts["journeys_expired"] == 1


HANGS_WITHOUT_THE_FIX = """
from pipeline.domain import Detach, JourneyEngine, JourneyPolicy, Outputs
from tests.support import DAY, MINUTE, T0, event
engine, out = JourneyEngine(JourneyPolicy()), Outputs()
engine.on_event(event("page_viewed", 0, customer=None, anonymous="a-9"), out, T0)
engine.on_message("a-9", Detach("c-9", T0 + 10 * MINUTE), out)
print(engine.on_event(event("page_viewed", 31 * DAY, customer=None, anonymous="a-9"), out).outcome)
"""


def test_an_event_past_the_ttl_of_a_journey_waiting_to_move_is_taken_in_bounded_time():
    """It used to spin for ever probing for a removal that the pending move rules out
    (a returning device whose login's move waits for the watermark); a child process, so
    that a regression fails the test instead of hanging the suite."""
    done = subprocess.run([sys.executable, "-c", HANGS_WITHOUT_THE_FIX], capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).parents[2])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == Outcome.OK


def test_a_move_that_arrives_before_the_event_asking_for_it_waits_for_that_event():
    """The customer's partition went back to a state from before the login (a crash), and
    the anonymous journey's move, made for the first request, arrives before the login is
    read again: it is absorbed once the login asks for it, as `journey process` does."""
    first, second, login, _after = anonymous_then_login()
    device_box = Mailbox(lambda key: key.startswith("a-"))
    customer_box = Mailbox(lambda key: key.startswith("c-"))
    device, device_out = JourneyEngine(JourneyPolicy(), router=device_box), Outputs()
    for e in (first, second):
        device.on_event(e, device_out, e.occurred_at)
    JourneyEngine(JourneyPolicy(), router=customer_box).on_event(
        login, Outputs(), login.occurred_at
    )
    [(_key, request)] = customer_box.sent
    device.on_message("a-9", request, device_out)
    device.on_watermark(device_out, login.occurred_at)  # the device's time reaches the login
    [(_key, move)] = device_box.sent
    customer, customer_out = JourneyEngine(JourneyPolicy(), router=customer_box), Outputs()
    customer.on_message("c-9", move, customer_out)
    assert [e.anonymous_id for e in customer.states["c-9"].early] == ["a-9"]
    customer.on_event(login, customer_out, login.occurred_at)  # read again after the crash
    assert customer.states["c-9"].event_count == 3 and not customer.states["c-9"].early
    device.on_message(*customer_box.sent[-1], device_out)  # its request again: the alias
    customer.on_message(*device_box.sent[-1], customer_out)  # answers, and nothing changes
    device.on_eof(device_out)
    customer.on_eof(customer_out)
    alone = Run([first, second, login])
    assert sorted(map(repr, records(device_out) + records(customer_out))) == sorted(
        map(repr, records(alone.out))
    )
