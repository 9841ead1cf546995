"""Publishing what batches changed, in order, merging what queues up (group commit).

The worker hands each processed batch over as a `Flush`. One task publishes
them in order; each round takes every flush queued so far and, as one:
sends their messages and awaits delivery, then sends the state writes (the
last write of each key only) and awaits them, then commits the latest
offsets. A quiet worker thus publishes a batch as soon as it is processed; a
busy one pays the round trips once for many batches. A failed delivery stops
the publisher; the worker sees it and stops before committing anything later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka.structs import TopicPartition

__all__ = ["Flush", "Message", "Publisher"]

Message = tuple[str, bytes | None, bytes | None, int | None]
"""(topic, key, value, partition); partition None: by key; value None: a tombstone."""


@dataclass
class Flush:
    """What one batch publishes, in order: messages, then state writes, then offsets."""

    messages: list[Message]
    writes: list[Message]
    offsets: dict[TopicPartition, int] | None
    """Offsets to commit once the rest is written; None: nothing consumed (timers)."""
    timestamps: list[int]
    """Kafka timestamps of the batch's input events (for the processing latency)."""


class Publisher:
    def __init__(
        self,
        send: Callable[[list[Message]], Awaitable[None]],
        commit: Callable[[dict[TopicPartition, int]], Awaitable[None]],
        published: Callable[[list[int], float], None],
        max_queued: int,
    ) -> None:
        """`published(timestamps, wall time)` is told of each round's input events."""
        self._send, self._commit, self._published = send, commit, published
        self.max_queued = max_queued
        self._queue: list[Flush] = []
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def submit(self, flush: Flush) -> None:
        self._queue.append(flush)
        self._wake.set()

    async def room(self) -> None:
        """Wait while `max_queued` flushes wait to be published (back pressure)."""
        while len(self._queue) >= self.max_queued:
            await self._next_round()

    async def drain(self) -> None:
        """Wait until everything submitted so far is published (raises if publishing failed)."""
        while self._queue or self._wake.is_set() or self._busy:
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
        while True:
            await self._wake.wait()
            self._wake.clear()
            taken, self._queue = self._queue, []
            if taken:
                self._busy = True
                await self._publish(taken)
                self._busy = False
            self._progress.set()

    async def _publish(self, flushes: list[Flush]) -> None:
        await self._send([m for flush in flushes for m in flush.messages])
        latest: dict[tuple[str, bytes | None, int | None], Message] = {}
        for flush in flushes:
            for write in flush.writes:
                latest.pop((write[0], write[1], write[3]), None)
                latest[write[0], write[1], write[3]] = write
        await self._send(list(latest.values()))
        offsets: dict[TopicPartition, int] = {}
        for flush in flushes:
            offsets.update(flush.offsets or {})
        if offsets:
            await self._commit(offsets)
        self._published([t for flush in flushes for t in flush.timestamps], time.time())
