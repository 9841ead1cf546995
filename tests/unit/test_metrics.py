from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from pipeline.worker.metrics import HotHistogram, Metrics

BUCKETS = (0.01, 0.1, 1, 10)


def exposition(registry: CollectorRegistry) -> list[str]:
    return [
        line for line in generate_latest(registry).decode().splitlines() if "_created" not in line
    ]


@given(st.lists(st.floats(min_value=-5, max_value=50, allow_nan=False) | st.sampled_from(BUCKETS)))
def test_hot_histogram_exposes_what_the_client_library_histogram_does(values):
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    hot = HotHistogram("h_seconds", "help", BUCKETS, ours)
    reference = Histogram("h_seconds", "help", buckets=BUCKETS, registry=theirs)
    for value in values:
        hot.observe(value)
        reference.observe(value)
    mine, library = exposition(ours), exposition(theirs)
    assert [line.rsplit(" ", 1)[0] for line in mine] == [line.rsplit(" ", 1)[0] for line in library]
    for a, b in zip(mine, library, strict=True):
        if not a.startswith("#"):
            assert abs(float(a.rsplit(" ", 1)[1]) - float(b.rsplit(" ", 1)[1])) < 1e-6


def test_every_family_has_help_and_no_label_can_hold_an_id():
    families = list(Metrics().registry.collect())
    assert len(families) > 20
    for family in families:
        assert family.documentation, family.name
        for sample in family.samples:
            assert not {"customer_id", "session_id", "event_id", "key", "journey_key"} & set(
                sample.labels
            ), family.name


def test_labelled_families_exist_at_zero_before_anything_happens():
    text = generate_latest(Metrics().registry).decode()
    for series in (
        'journey_events_consumed_total{outcome="late"} 0.0',
        'journey_dead_letters_total{reason="malformed_json"} 0.0',
        'journey_stage_transitions_total{from_stage="none",to_stage="awareness"} 0.0',
        'journey_alerts_published_total{type="cart_recovered"} 0.0',
        'journey_sessions_closed_total{reason="over_cap"} 0.0',
        'journey_journeys_by_stage{stage="advocacy"} 0.0',
        'journey_table_keys{table="timers"} 0.0',
    ):
        assert series in text, series


def test_build_info_says_which_journey_core_runs():
    from pipeline import CORE_MODE

    [info] = [f for f in Metrics().registry.collect() if f.name == "journey_build"]
    [sample] = info.samples
    assert sample.labels["core"] == ("compiled" if CORE_MODE == "compiled" else "pure")


def test_collector_pauses_are_timed_by_generation():
    import gc

    from pipeline.gc_policy import time_pauses

    seen = []
    callback = time_pauses(lambda generation, seconds: seen.append((generation, seconds)))
    try:
        gc.collect(1)
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert [g for g, _s in seen][-2:] == [1, 2] and all(s >= 0 for _g, s in seen)
