"""Publishing what batches changed, in order, merging what queues up (group commit).

The worker hands each processed batch over as a `Flush`. Two stages publish
them, in order:

- the *sender* hands each flush's messages to the producer as soon as it is
  submitted (flushes queued meanwhile go together), without waiting for the
  broker's answer, so an output leaves while earlier batches' state is still
  being written;
- the *writer* takes every flush handed over so far and, as one: awaits the
  delivery of their messages, then sends the state writes (the last write of
  each key only), each partition's closed by its commit marker, and awaits them,
  then commits the latest offsets, then sends what that state backs: journeys
  moving to their customers (each partition's marker records them, so a
  recovery sends them again should they not get out) and event-time marks.
  Sent before the state is written, they could outlive it. State goes
  through a producer of its own, so outputs never queue behind a large write
  (a producer has one request in flight per broker).

So a batch's outputs are delivered before its state, and its state before its
offsets, as before; a quiet worker's outputs go out at once, and a busy one
pays the writer's round trips once for many batches. A failed delivery stops
the publisher; the worker sees it and stops before committing anything later
(outputs of later batches may be out already: they are re-published, with the
same ids, after a restart).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Close", "Flush", "Message", "Publisher", "Send", "round_writes"]


Message = tuple[str, bytes | None, bytes | None, int | None]
"""One record to send: (topic, key, value, partition); the partition chosen (a state write,
a route record) or None (by key). A plain tuple, unpacked by name where read: one is built
per output record, where a named tuple's Python-level constructor was a measurable cost
(docs/performance.md)."""


"""(topic, key, value, partition); partition None: by key; value None: a tombstone."""

Send = Callable[[list[Message]], Awaitable[Awaitable[None]]]
"""Hands messages to the producer, in order; returns what awaits their delivery."""

Close = Callable[[int, list[Message]], Message]
"""The commit marker of a partition's round of writes, recording the moves it backs."""


@dataclass
class Flush:
    """What one batch publishes, in order: messages, then state writes, then offsets, then
    what the state backs (moves, marks)."""

    messages: list[Message]
    writes: list[Message]
    offsets: dict[tuple[str, int], int] | None
    """Offsets to commit once the rest is written; None: nothing consumed (timers)."""
    timestamps: list[int]
    """Kafka timestamps of the batch's input events (for the processing latency)."""
    moves: dict[int, list[Message]] = field(default_factory=dict)
    """By partition, route messages sent once its state is written: journeys moving to
    their customers."""
    marks: list[Message] = field(default_factory=list)
    """Event-time marks, sent once the state they vouch for is written."""


class Publisher:
    def __init__(
        self,
        send: Send,
        send_state: Send,
        commit: Callable[[dict[tuple[str, int], int]], Awaitable[None]],
        published: Callable[[list[int], float], None],
        max_queued: int,
        close: Close,
    ) -> None:
        """`send`: the messages; `send_state`: the state writes; `published(timestamps, wall
        time)` is told of each round's input events; `close`: the commit markers."""
        self._send, self._send_state, self._close = send, send_state, close
        self._commit, self._published = commit, published
        self.max_queued = max_queued
        self._queue: list[Flush] = []
        """Submitted; messages not handed over yet."""
        self._handed: list[tuple[list[Flush], Awaitable[None]]] = []
        """Messages handed over (with their delivery); state not written yet."""
        self._pending = 0
        """Flushes submitted and not published in full."""
        self._wake = asyncio.Event()
        self._handed_wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def submit(self, flush: Flush) -> None:
        self._queue.append(flush)
        self._pending += 1
        self._wake.set()

    async def room(self) -> None:
        """Wait while `max_queued` flushes wait to be published (back pressure)."""
        while self._pending >= self.max_queued:
            await self._next_round()

    async def drain(self) -> None:
        """Wait until everything submitted so far is published (raises if publishing failed)."""
        while self._pending:
            await self._next_round()
        self.raise_failure()

    def raise_failure(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()
            raise RuntimeError("the publisher stopped")

    async def _next_round(self) -> None:
        self.raise_failure()
        self._progress.clear()
        progress = asyncio.create_task(self._progress.wait())
        assert self._task is not None
        await asyncio.wait((progress, self._task), return_when=asyncio.FIRST_COMPLETED)
        progress.cancel()
        self.raise_failure()

    async def _run(self) -> None:
        """Both stages; the first to fail stops the other."""
        stages = [asyncio.create_task(self._hand_over()), asyncio.create_task(self._write())]
        try:
            done, _running = await asyncio.wait(stages, return_when=asyncio.FIRST_EXCEPTION)
            for stage in done:
                stage.result()
        finally:
            for stage in stages:
                stage.cancel()

    async def _hand_over(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            taken, self._queue = self._queue, []
            if taken:
                delivery = await self._send([m for flush in taken for m in flush.messages])
                self._handed.append((taken, delivery))
                self._handed_wake.set()

    async def _write(self) -> None:
        while True:
            await self._handed_wake.wait()
            self._handed_wake.clear()
            handed, self._handed = self._handed, []
            if handed:
                flushes = [flush for taken, _delivery in handed for flush in taken]
                for _taken, delivery in handed:
                    await delivery
                await self._publish(flushes)
                self._pending -= len(flushes)
                self._progress.set()

    async def _publish(self, flushes: list[Flush]) -> None:
        """The state writes and offsets of `flushes`, whose messages are delivered, then what
        that state backs."""
        await (await self._send_state(round_writes(flushes, self._close)))
        offsets: dict[tuple[str, int], int] = {}
        for flush in flushes:
            offsets.update(flush.offsets or {})
        if offsets:
            await self._commit(offsets)
        after = [m for flush in flushes for moves in flush.moves.values() for m in moves]
        after += [m for flush in flushes for m in flush.marks]
        if after:
            await (await self._send(after))
        self._published([t for flush in flushes for t in flush.timestamps], time.time())


def round_writes(flushes: list[Flush], close: Close) -> list[Message]:
    """The state writes of `flushes` as one round: the last write of each key, then each
    partition's commit marker with the moves of the round it backs."""
    latest: dict[tuple[str, bytes | None, int | None], Message] = {}
    moves: dict[int, list[Message]] = {}
    for flush in flushes:
        for write in flush.writes:
            topic, key, _value, partition = write
            latest.pop((topic, key, partition), None)
            latest[topic, key, partition] = write
        for partition, sent in flush.moves.items():
            moves.setdefault(partition, []).extend(sent)
    written = {write[3] for write in latest.values() if write[3] is not None}
    markers = [close(p, moves.get(p, [])) for p in sorted(written | moves.keys())]
    return [*latest.values(), *markers]
