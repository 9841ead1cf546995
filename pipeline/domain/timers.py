"""Timers: "call me back at event time t" for many journey keys, cheapest first.

A heap of (deadline, key). Stale entries (a key whose deadline moved) are
skipped lazily when popped, so rescheduling is O(log n) with no search.
"""

from __future__ import annotations

import heapq

__all__ = ["TimerQueue"]


class TimerQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, key: str, deadline: int | None) -> None:
        """Set (or clear, with None) the one pending deadline of `key`."""
        if deadline is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == deadline:
            return
        self._due[key] = deadline
        heapq.heappush(self._heap, (deadline, key))

    def pop_due(self, now: int) -> list[str]:
        """Keys whose deadline is at or before `now`, each once, in deadline order."""
        keys: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if self._due.get(key) == deadline:
                del self._due[key]
                keys.append(key)
        return keys

    def next_deadline(self) -> int | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None
