"""Input positions: redeliveries skipped, holes sought back, stuck partitions named."""

from pipeline.domain import Outcome
from pipeline.worker.positions import (
    PROCESS,
    RESEEK_AFTER_S,
    Positions,
)

TP = ("clickstream.events", 3)


def test_in_order_records_are_processed_and_the_position_is_reported_once():
    positions = Positions()
    assert [positions.admit(TP, o, 0.0) for o in (10, 11, 12)] == [PROCESS] * 3
    assert positions.take_changed() == [(TP, 13)]
    assert positions.take_changed() == []


def test_a_restored_position_skips_what_the_state_already_holds():
    positions = Positions()
    positions.restore(TP, 13)
    assert positions.admit(TP, 12, 0.0) == Outcome.REDELIVERED
    assert positions.admit(TP, 13, 0.0) == PROCESS


def test_a_hole_asks_for_one_seek_back_then_another_only_after_a_while():
    positions = Positions()
    positions.restore(TP, 13)
    assert positions.admit(TP, 40, 0.0) == Outcome.HOLE
    assert positions.admit(TP, 41, 0.1) == Outcome.HOLE
    assert positions.take_seeks() == {TP: 13}
    assert positions.stuck() == []
    assert positions.admit(TP, 42, RESEEK_AFTER_S + 0.1) == Outcome.HOLE
    assert positions.take_seeks() == {TP: 13}
    assert positions.stuck() == [TP], "two seeks without progress"
    assert positions.admit(TP, 13, RESEEK_AFTER_S + 0.2) == PROCESS
    assert positions.stuck() == []


def test_forgetting_a_revoked_partition_drops_its_position():
    positions = Positions()
    positions.admit(TP, 5, 0.0)
    positions.admit(("other", 4), 1, 0.0)
    positions.forget({3})
    assert list(positions.expected) == [("other", 4)]
    assert positions.take_changed() == [(("other", 4), 2)]
