from pipeline.domain import JourneyEngine, JourneyPolicy, Outcome, Outputs, SessionPolicy

from ..support import HOUR, MINUTE, Run, event


def test_gap_of_exactly_thirty_minutes_stays_in_session_and_one_more_ms_splits():
    run = Run(
        [
            event("page_viewed", 0),
            event("page_viewed", 30 * MINUTE),
            event("page_viewed", 60 * MINUTE + 1),
        ]
    )
    assert [s["event_count"] for s in run.sessions] == [2, 1]


def test_session_is_cut_at_max_length():
    policy = JourneyPolicy(sessions=SessionPolicy(max_length_ms=1 * HOUR))
    run = Run([event("page_viewed", m * 20 * MINUTE) for m in range(7)], policy)
    spans = [(s["started_at"][11:16], s["ended_at"][11:16]) for s in run.sessions]
    assert spans == [("09:00", "10:00"), ("10:20", "11:00")]


def test_late_event_within_lateness_bridges_two_sessions_into_one_and_reports_the_merge():
    a = event("page_viewed", 0, event_id="a")
    c = event("page_viewed", 50 * MINUTE, event_id="c")
    bridge = event("page_viewed", 25 * MINUTE, event_id="b")
    run = Run([a, c, bridge], JourneyPolicy(sessions=SessionPolicy(lateness_ms=30 * MINUTE)))
    assert run.outcomes == [Outcome.OK, Outcome.OK, Outcome.OK]
    [merge] = run.merges
    [session] = run.sessions
    assert session["event_count"] == 3
    assert merge["session_id"] == session["session_id"]
    in_order = Run([a, bridge, c])
    assert in_order.sessions[0]["session_id"] == session["session_id"]
    assert merge["merged_session_ids"] != [session["session_id"]]


def test_late_event_that_becomes_the_first_renames_the_session_like_a_merge():
    first = event("page_viewed", 10 * MINUTE, event_id="x")
    earlier = event("page_viewed", 8 * MINUTE, event_id="y")
    run = Run([first, earlier])
    [merge] = run.merges
    [session] = run.sessions
    assert session["started_at"].endswith("09:08:00.000Z")
    assert merge["session_id"] == session["session_id"]
    assert merge["merged_session_ids"] == [Run([first]).sessions[0]["session_id"]]
    assert Run([earlier, first]).sessions[0]["session_id"] == session["session_id"]


def test_event_beyond_lateness_is_late_feeds_stages_but_no_session():
    engine = JourneyEngine(JourneyPolicy())
    out = Outputs()
    for e in (event("page_viewed", 0, customer="other"),
              event("page_viewed", 2 * HOUR, customer="other")):  # fmt: skip
        engine.on_event(e, out, e.occurred_at)
    late = event("product_viewed", 1 * HOUR)
    outcome = engine.on_event(late, out, late.occurred_at).outcome
    assert outcome == Outcome.LATE
    assert engine.states["c-1"].sessions == []
    assert engine.states["c-1"].stage == "consideration"


def test_sessions_close_only_when_the_watermark_passes_gap_plus_lateness():
    engine = JourneyEngine(JourneyPolicy())
    out = Outputs()
    for e in (event("page_viewed", 0), event("page_viewed", 35 * MINUTE, customer="other")):
        engine.on_event(e, out, e.occurred_at)
    assert engine.states["c-1"].sessions, "still open: 35 min < 30 min gap + 5 min lateness"
    last = event("page_viewed", 35 * MINUTE + 1, customer="other")
    engine.on_event(last, out, last.occurred_at)
    assert not engine.states["c-1"].sessions


def test_open_sessions_per_journey_are_capped_and_the_overflow_is_closed_and_counted():
    policy = JourneyPolicy(sessions=SessionPolicy(max_open=2, lateness_ms=10 * HOUR))
    engine = JourneyEngine(policy)
    out = Outputs()
    for hour in (5, 3, 1):  # out of order, all inside lateness, so all stay open
        engine.on_event(event("page_viewed", hour * HOUR), out)
    assert len(engine.states["c-1"].sessions) == 2
    assert out.counts["sessions_closed_over_cap"] == 1
