"""A task a worker runs beside its loop: tailing a topic with a consumer of its own."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from aiokafka import AIOKafkaConsumer

__all__ = ["TopicTail"]


class TopicTail(ABC):
    """Reads with a consumer outside the group until stopped (the consumer is stopped too)."""

    _task: asyncio.Task[None] | None = None

    def start(self, consumer: AIOKafkaConsumer) -> None:
        """Tail with `consumer` (started, not in a group), from the start of the topic."""
        self._task = asyncio.create_task(self._tail(consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @abstractmethod
    async def _tail(self, consumer: AIOKafkaConsumer) -> None: ...
