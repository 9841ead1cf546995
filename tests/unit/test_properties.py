"""Invariants of the core, over generated journeys."""

from time import gmtime, strftime

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import STAGES, JourneyPolicy, Outcome, SessionPolicy, default_rules
from pipeline.domain.events import format_time, parse_time

from ..support import MINUTE, Run, event, product, records

GAP = 30 * MINUTE
TYPES = sorted(default_rules().event_types) + ["weather_checked"]
RULE_STAGE = {rule.id: rule.stage for rule in default_rules().rules}
# max length out of reach, so only the gap and lateness shape sessions here
POLICY = JourneyPolicy(sessions=SessionPolicy(max_length_ms=10**12, lateness_ms=10**12))


@st.composite
def journeys(draw, max_events=40):
    """Events of a few journeys: times with gaps around the session gap, unique ids."""
    n = draw(st.integers(1, max_events))
    gaps = draw(
        st.lists(st.sampled_from([0, 1, 5, 29, 30, 31, 45, 300, 3000]), min_size=n, max_size=n)
    )
    customers = draw(st.lists(st.sampled_from(["c-1", "c-2", "c-3"]), min_size=n, max_size=n))
    kinds = draw(st.lists(st.sampled_from(TYPES), min_size=n, max_size=n))
    t, events = 0, []
    for i, (gap, customer, kind) in enumerate(zip(gaps, customers, kinds, strict=True)):
        t += gap * MINUTE + draw(st.integers(0, 999))
        fields = {}
        if kind.startswith("cart_item"):
            fields["product"] = product(draw(st.sampled_from("xyz")))
        if kind == "nps_submitted":
            fields["nps_score"] = draw(st.integers(0, 10))
        if kind == "review_submitted":
            fields["rating"] = draw(st.integers(1, 5))
        events.append(event(kind, t, customer=customer, event_id=f"ev{i}", **fields))
    return events


def _times(e):
    return parse_time(e.data["occurred_at"])


@settings(max_examples=150, deadline=None)
@given(journeys())
def test_every_event_lands_in_exactly_one_session_and_sessions_never_overlap(events):
    run = Run(events, POLICY)
    sessions = run.sessions
    assert sum(s["event_count"] for s in sessions) == len(events)
    for key in {e.key for e in events}:
        spans = sorted(
            (s["started_at"], s["ended_at"]) for s in sessions if s["journey_key"] == key
        )
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end < start
        times = sorted(_times(e) for e in events if e.key == key)
        cuts = sum(1 for a, b in zip(times, times[1:], strict=False) if b - a > GAP)
        assert len(spans) == cuts + 1, "a new session exactly where the gap is exceeded"


@settings(max_examples=100, deadline=None)
@given(journeys(max_events=25), st.randoms(use_true_random=False))
def test_any_arrival_order_within_lateness_gives_the_same_sessions_and_ids(events, rng):
    shuffled = list(events)
    rng.shuffle(shuffled)

    def closed(run):
        return sorted(
            (s["session_id"], s["started_at"], s["ended_at"], s["event_count"])
            for s in run.sessions
        )

    assert closed(Run(shuffled, POLICY)) == closed(Run(events, POLICY))


@settings(max_examples=100, deadline=None)
@given(journeys())
def test_replay_gives_identical_output(events):
    assert records(Run(events).out) == records(Run(events).out)


@settings(max_examples=150, deadline=None)
@given(journeys())
def test_stages_move_only_by_a_rule_for_that_stage_or_downwards(events):
    run = Run(events)
    for record in run.transitions:
        reason, to_stage = record["reason"], record["to_stage"]
        if reason in RULE_STAGE:
            assert RULE_STAGE[reason] == to_stage
        else:
            assert reason == "lapse"
            assert STAGES.index(to_stage) < STAGES.index(record["from_stage"])
    for key in {e.key for e in events}:
        chain = [r for r in run.transitions if r["journey_key"] == key]
        for before, after in zip(chain, chain[1:], strict=False):
            assert before["to_stage"] == after["from_stage"]


@settings(max_examples=100, deadline=None)
@given(journeys())
def test_at_most_one_abandonment_alert_per_cart_and_recoveries_follow_alerts(events):
    run = Run(events)
    abandoned = [a for a in run.alerts if a["type"] == "cart_abandoned"]
    assert len({a["cart_id"] for a in abandoned}) == len(abandoned)
    alert_ids = {a["alert_id"] for a in abandoned}
    recovered = [a["alert_id"] for a in run.alerts if a["type"] == "cart_recovered"]
    assert set(recovered) <= alert_ids and len(set(recovered)) == len(recovered)
    assert all(o in (Outcome.OK, Outcome.LATE) for o in run.outcomes)


@given(st.integers(-(10**12), 253_402_300_799_999))
def test_a_time_formats_as_the_c_library_formats_it(ms):
    """`format_time` works the date out once a day and the clock itself: the text is the
    C library's, to the millisecond, from before 1970 to the year 9999."""
    seconds, millis = divmod(ms, 1000)
    assert format_time(ms) == strftime("%Y-%m-%dT%H:%M:%S.", gmtime(seconds)) + f"{millis:03d}Z"
