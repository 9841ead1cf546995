"""The changelog's values carry their format; another format is refused with what to do;
recovery takes each partition as of its last whole round of writes."""

import orjson
import pytest

from pipeline.domain import JourneyState
from pipeline.domain.propensity.features import FEATURES
from pipeline.domain.propensity.policy import PropensityPolicy
from pipeline.domain.propensity.scorer import Propensity
from pipeline.worker.changelog import (
    STATE_FORMAT,
    Replay,
    StateFormatError,
    commit_write,
    model_write,
    position_write,
    recover,
    recovered,
    state_write,
)


def test_state_positions_and_models_read_back():
    state = JourneyState("c-1", customer_id="c-1", stage="purchase", event_count=3, clock=99)
    models = Propensity(PropensityPolicy())
    models.session.learn((0.5,) * len(FEATURES), True, 1.0)
    writes = [state_write("log", 2, "c-1", state), position_write("log", 2, "events", 41),
              model_write("log", 2, models.to_data()),
              model_write("log", 2, models.take_evaluations(1) or [], evaluation=True)]  # fmt: skip
    part = recovered({key: value for _t, key, value, _p in writes}, {2})[2]
    assert [s.to_data() for s in part.states] == [state.to_data()]
    assert part.positions == {"events": 41}
    again = Propensity(PropensityPolicy())
    again.restore(part.models, part.evaluations)
    assert again.report() == models.report() and again.session.positive == 1


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ([2, JourneyState("c-1").to_data()], "no format version"),
        ([STATE_FORMAT + 1, 2, JourneyState("c-1").to_data()], f"format {STATE_FORMAT + 1}"),
    ],
)
def test_another_format_is_refused_naming_the_record_and_what_to_do(value, found):
    with pytest.raises(StateFormatError, match=found) as refused:
        recovered({b"c-1": orjson.dumps(value)}, {2})
    assert "b'c-1'" in str(refused.value) and "JOURNEY_APP_ID" in str(refused.value)


def _replayed(records) -> Replay:
    replay = Replay()
    for _topic, key, value, _partition in records:
        replay.read(key, value)
    return replay


def test_a_round_left_half_written_is_undone_and_its_moves_sent_again():
    old = JourneyState("c-1", customer_id="c-1", event_count=1, clock=1)
    new = JourneyState("c-1", customer_id="c-1", event_count=2, clock=2)
    move = ("route", b"c-9", b'{"kind":"absorb"}\n', 3)
    whole = [state_write("log", 2, "c-1", old), commit_write("log", 2, [move])]
    half = [state_write("log", 2, "c-1", new), state_write("log", 2, "a-1", JourneyState("a-1"))]
    recovery = recover({2: _replayed([*whole, *half])}, "log")
    assert [s.to_data() for s in recovery.partitions[2].states] == [old.to_data()]
    assert recovery.closing == [
        ("log", b"c-1", whole[0][2], 2),  # the committed value again
        ("log", b"a-1", None, 2),  # a tombstone: it had none
        commit_write("log", 2, [move]),
    ]
    assert recovery.moves == [move] and recovery.set_aside == 2
    again = recover({2: _replayed([*whole, *half, *recovery.closing])}, "log")
    assert again.closing == [] and again.partitions[2].states[0].to_data() == old.to_data()


def test_a_log_without_markers_counts_whole_and_gets_one():
    state = JourneyState("c-1", customer_id="c-1", clock=5)
    recovery = recover({1: _replayed([state_write("log", 1, "c-1", state)])}, "log")
    assert [s.key for s in recovery.partitions[1].states] == ["c-1"]
    assert recovery.closing == [commit_write("log", 1, [])] and recovery.moves == []
