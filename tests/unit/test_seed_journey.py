"""The seeds' journey, worked by hand: ad click, research, a cart left and bought two
days later, onboarding, a review and a referral, then a detractor NPS."""

from pipeline.contract.records import encoded
from pipeline.domain import Outcome, StageChanged, format_time

from ..support import DAY, MINUTE, Run, records, seed_journey


def test_stages_follow_the_journey_with_rule_ids_as_reasons():
    run = Run(seed_journey())
    assert run.stages == [
        (None, "awareness", "ad-engagement"),
        ("awareness", "consideration", "research"),
        ("consideration", "purchase", "cart-activity"),
        ("purchase", "retention", "engagement"),
        ("retention", "advocacy", "positive-review"),
        ("advocacy", "retention", "nps-detractor"),
    ]
    assert all(o == Outcome.OK for o in run.outcomes)


def test_cart_left_is_abandoned_once_then_recovered_by_the_later_order():
    run = Run(seed_journey())
    abandoned, recovered = run.alerts
    assert abandoned["type"] == "cart_abandoned"
    assert abandoned["value"] == 120.0
    assert abandoned["last_activity_at"] == "2026-03-02T09:10:00.000Z"
    assert abandoned["abandoned_at"] == "2026-03-02T09:40:00.000Z"
    assert abandoned["contactable"] is True
    assert abandoned["stage"] == "purchase"
    assert abandoned["channel"] is None and abandoned["campaign"] is None
    assert {i["product_id"] for i in abandoned["items"]} == {"shoes", "bag"}
    assert recovered["type"] == "cart_recovered"
    assert recovered["alert_id"] == abandoned["alert_id"]
    assert recovered["order_id"] == "o-1"
    assert recovered["recovered_value"] == 80.0
    assert recovered["time_to_recovery_seconds"] == (2 * DAY + 5 * MINUTE - 40 * MINUTE) / 1000


def test_sessions_split_on_the_thirty_minute_gap():
    run = Run(seed_journey())
    assert [s["event_count"] for s in run.sessions] == [7, 2, 1, 2, 1]
    first = run.sessions[0]
    assert first["started_at"] == "2026-03-02T09:00:00.000Z"
    assert first["ended_at"] == "2026-03-02T09:10:00.000Z"
    assert first["first_channel"] == "social"
    assert first["first_campaign"] == {"source": "instagram", "medium": "paid"}
    assert first["page_count"] == 1
    assert first["stage_at_start"] is None and first["stage_at_end"] == "purchase"
    assert first["cart_value"] == 120.0 and first["converted"] is False
    assert run.sessions[1]["converted"] is True
    assert not run.merges


def test_transitions_carry_their_trigger_and_session():
    run = Run(seed_journey())
    first_session = run.sessions[0]["session_id"]
    assert run.transitions[0]["session_id"] == first_session
    assert run.transitions[0]["trigger_event_id"] is not None
    assert run.transitions[0]["occurred_at"] == "2026-03-02T09:00:00.000Z"


def test_replay_gives_identical_records():
    first = records(Run(seed_journey()).out)
    again = records(Run(seed_journey()).out)
    assert first == again


def test_decisions_are_typed_with_integer_times_until_they_are_encoded():
    run = Run(seed_journey())
    kinds = [type(d).__name__ for d in run.out.decisions]
    assert {"StageChanged", "SessionClosed", "CartAbandoned", "CartRecovered"} <= set(kinds)
    transition = next(d for d in run.out.decisions if isinstance(d, StageChanged))
    assert isinstance(transition.at, int)
    output, key, record = encoded(transition)
    assert (output, key) == ("stage_transitions", transition.key)
    assert record["occurred_at"] == format_time(transition.at)
