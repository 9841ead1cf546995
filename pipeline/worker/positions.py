"""Input positions kept with the journey state, so state and the offsets it reflects move together.

A consumer's committed offsets and the state they belong to are written at
different moments, and a client can skip records it fetched (faust's stream
consumer did, under load). The worker therefore keeps, per input
topic-partition, the next offset its state expects, writes it to the changelog
in the same batch as the state it belongs to, and for each record:

- below it: skips it (its effect is already in the state: a redelivery after a
  restart or a rebalance), so nothing is published twice;
- above it (a hole): skips it and asks for a seek back to the expected offset,
  so the missing records are read again and processed in order.

Partitions that seeks do not bring back are reported (`stuck`).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..domain import Outcome

__all__ = ["PROCESS", "Positions", "TopicPartition"]

TopicPartition = tuple[str, int]

PROCESS = "process"

RESEEK_AFTER_S = 3.0
"""A hole still there this long after its seek was asked gets another seek."""

STUCK_AFTER_SEEKS = 2
"""Seeks to one position without progress after which the partition counts as stuck."""


class Positions:
    def __init__(self) -> None:
        self.expected: dict[TopicPartition, int] = {}
        self.changed: set[TopicPartition] = set()
        self.seeks: dict[TopicPartition, int] = {}
        """Seeks to perform: topic-partition -> offset."""
        self._asked: dict[TopicPartition, float] = {}
        self._attempts: dict[TopicPartition, int] = {}

    def admit(self, tp: TopicPartition, offset: int, now: float) -> str:
        """PROCESS, REDELIVERED or HOLE (`Outcome`) for the record at `offset`."""
        expected = self.expected.get(tp)
        if expected is None or offset == expected:
            self.expected[tp] = offset + 1
            self.changed.add(tp)
            self._asked.pop(tp, None)
            self._attempts.pop(tp, None)
            return PROCESS
        if offset < expected:
            return Outcome.REDELIVERED
        asked = self._asked.get(tp)
        if asked is None or now - asked >= RESEEK_AFTER_S:
            self._ask(tp, expected, now)
        return Outcome.HOLE

    def _ask(self, tp: TopicPartition, offset: int, now: float) -> None:
        self._asked[tp] = now
        self.seeks[tp] = offset
        self._attempts[tp] = self._attempts.get(tp, 0) + 1

    def stuck(self) -> list[TopicPartition]:
        """Partitions sought back `STUCK_AFTER_SEEKS` times to one position without progress."""
        return sorted(tp for tp, n in self._attempts.items() if n >= STUCK_AFTER_SEEKS)

    def restore(self, tp: TopicPartition, expected: int) -> None:
        self.expected[tp] = expected

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop what is known of `partitions` (revoked: another worker may move them on)."""
        gone = set(partitions)
        for table in (self.expected, self.seeks, self._asked, self._attempts):
            for tp in [tp for tp in table if tp[1] in gone]:
                del table[tp]
        self.changed = {tp for tp in self.changed if tp[1] not in gone}

    def take_changed(self) -> list[tuple[TopicPartition, int]]:
        changed = [(tp, self.expected[tp]) for tp in sorted(self.changed)]
        self.changed = set()
        return changed

    def take_seeks(self) -> dict[TopicPartition, int]:
        seeks, self.seeks = self.seeks, {}
        return seeks
