"""The aligned watermark: a minimum over sources, idleness, engine marks, never back."""

from hypothesis import given
from hypothesis import strategies as st

from pipeline.worker.event_time import Alignment, Announcer, Mark, Source


def test_the_watermark_holds_until_every_source_is_heard_from():
    alignment = Alignment(0, 3)
    assert not alignment.mark(0, 100, 0, False)
    assert not alignment.mark(1, 200, 100, False)
    assert alignment.value == 0
    assert alignment.mark(2, 300, 100, False)
    assert alignment.value == 100, "the slowest source holds it"


def test_an_idle_source_stops_holding_the_others_back_and_all_idle_gives_the_highest():
    alignment = Alignment(0, 3)
    for source, wm in ((0, 500), (1, 100), (2, 400)):
        alignment.mark(source, wm, 10_000, False)
    assert alignment.value == 100
    alignment.mark(1, 100, 10_000, True)
    assert alignment.value == 400
    alignment.mark(0, 500, 10_000, True)
    alignment.mark(2, 400, 10_000, True)
    assert alignment.value == 500 and alignment.all_idle()


def test_other_partitions_engine_marks_hold_the_watermark_but_its_own_does_not():
    alignment = Alignment(1, 2)
    alignment.mark(0, 900, 300, False)
    alignment.mark(1, 800, 0, False)
    assert alignment.raw == 800 and alignment.value == 300


def test_with_no_source_re_routing_the_source_marks_alone_vouch_for_the_watermark():
    """What a partition sends on from its own input goes out ahead of its source mark;
    only a re-routed record is processed elsewhere, after it: then engine marks count."""
    alignment = Alignment(1, 2)
    alignment.mark(0, 900, 300, False, routes=False)
    alignment.mark(1, 800, 0, False, routes=False)
    assert alignment.value == 800, "one hop: no engine mark waited for"
    assert not alignment.mark(0, 1000, 300, False, routes=True), "held at 800 now"
    assert alignment.value == 800, "never back"
    alignment.mark(1, 1200, 0, False, routes=False)
    assert alignment.value == 800, "source 0's engine is at 300: waited for"
    alignment.mark(0, 1100, 1050, False, routes=False)
    assert alignment.marks[0].routes, "a source that re-routed stays so"
    assert alignment.value == 1050


def test_a_source_that_comes_back_from_idle_behind_the_watermark_cannot_move_it_back():
    alignment = Alignment(0, 2)
    alignment.mark(0, 1000, 5000, False)
    alignment.mark(1, 50, 5000, True)
    assert alignment.value == 1000
    alignment.mark(1, 60, 5000, False)
    assert alignment.value == 1000


def test_an_idle_source_whose_input_has_grown_since_holds_the_others_back_again():
    """Idle at end offset 40; records arrive (end 41) before its reader says so (busy, or
    dead and its partition not reassigned yet): it holds time at its last mark."""
    ends = {0: 10, 1: 40}
    alignment = Alignment(0, 2, ends=ends)
    alignment.mark(0, 1000, 10_000, False)
    alignment.mark(1, 100, 10_000, True, end=40)
    assert alignment.value == 1000
    ends[1] = 41
    assert not alignment.all_idle()
    assert not alignment.mark(0, 2000, 10_000, False), "source 1 holds it at 1000 now"
    assert alignment.value == 1000
    alignment.mark(1, 150, 10_000, False)  # its reader read the new record
    assert alignment.value == 1000, "never back"
    alignment.mark(1, 2500, 10_000, True, end=41)
    assert alignment.value == 2000


def test_an_idle_mark_without_an_end_offset_is_taken_at_its_word():
    alignment = Alignment(0, 2, ends={1: 99})
    alignment.mark(0, 1000, 10_000, False)
    alignment.mark(1, 100, 10_000, True)
    assert alignment.value == 1000


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 10**6),
                          st.booleans()), max_size=60))  # fmt: skip
def test_the_watermark_never_goes_back_and_never_passes_an_active_source(marks):
    alignment = Alignment(0, 4)
    last = 0
    for source, wm, engine, idle in marks:
        alignment.mark(source, wm, engine, idle)
        assert alignment.value >= last
        last = alignment.value
        known = alignment.marks
        if len(known) == 4 and not alignment.all_idle():
            assert alignment.raw <= max(m.wm for m in known.values())


def test_the_clock_survives_a_restart():
    alignment = Alignment(2, 3)
    for source in range(3):
        alignment.mark(source, 100 * (source + 1), 50, source == 1)
    again = Alignment.from_data(2, 3, alignment.to_data())
    assert (again.raw, again.value, again.marks) == (
        alignment.raw,
        alignment.value,
        alignment.marks,
    )


def test_a_source_turns_idle_only_when_caught_up_and_quiet():
    source = Source(0, now=0.0)
    source.saw(1000, now=1.0)
    source.check_idle(now=20.0, idle_after=10, caught_up=False)
    assert not source.idle, "a backlog is never idle"
    source.check_idle(now=25.0, idle_after=10, caught_up=True)
    assert not source.idle, "quiet for 5 s since caught up"
    source.check_idle(now=30.0, idle_after=10, caught_up=True)
    assert source.idle
    source.saw(900, now=21.0)
    assert not source.idle and source.wm == 1000


def test_quiet_time_counts_only_while_the_broker_answers():
    """After an outage the source is not idle at once: producers get the idle time to
    deliver what they held back."""
    source = Source(0, now=0.0)
    source.saw(1000, now=1.0)
    source.check_idle(now=60.0, idle_after=10, caught_up=False)  # the broker is gone
    source.check_idle(now=61.0, idle_after=10, caught_up=True)  # back, nothing new yet
    assert not source.idle
    source.check_idle(now=69.5, idle_after=10, caught_up=True)
    assert not source.idle
    source.check_idle(now=70.0, idle_after=10, caught_up=True)
    assert source.idle


def test_marks_are_announced_on_change_at_most_every_interval_and_at_once_on_idleness():
    announcer = Announcer(0.2)
    assert announcer.due(0, Mark(1, 0, False), 0.0)
    assert not announcer.due(0, Mark(1, 0, False), 1.0), "unchanged"
    assert not announcer.due(0, Mark(2, 0, False), 0.1), "too soon"
    assert announcer.due(0, Mark(2, 0, True), 0.15), "idleness goes out at once"
    assert announcer.due(0, Mark(3, 0, True), 0.4)
