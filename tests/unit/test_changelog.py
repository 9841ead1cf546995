"""The changelog's values carry their format; another format is refused with what to do."""

import orjson
import pytest

from pipeline.domain import JourneyState
from pipeline.worker.changelog import (
    STATE_FORMAT,
    StateFormatError,
    position_write,
    recovered,
    state_write,
)


def test_state_and_positions_read_back():
    state = JourneyState("c-1", customer_id="c-1", stage="purchase", event_count=3, clock=99)
    writes = [state_write("log", 2, "c-1", state), position_write("log", 2, "events", 41)]
    part = recovered({key: value for _t, key, value, _p in writes}, {2})[2]
    assert [s.to_data() for s in part.states] == [state.to_data()]
    assert part.positions == {"events": 41}


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
