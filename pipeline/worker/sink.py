"""Sending messages as one record batch per topic partition; the caller awaits delivery.

A message without a partition goes where the Java client's default
partitioner puts its key (a keyless one: by a CRC32 of its value), so
downstream consumers find a journey's records on one partition. A partition
given for a topic sent to by key is taken modulo its partition count (the
analytics go to their part's partition, whatever count the topic was given).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable
from typing import Any

from .publisher import Message
from .routing import by_key

__all__ = ["RecordSink"]


class RecordSink:
    def __init__(self, producer: Any, partition_counts: dict[str, int]) -> None:
        """`producer`: an aiokafka producer (`create_batch`, `send_batch`);
        `partition_counts`: partitions of each topic sent to by key."""
        self.producer = producer
        self.partition_counts = partition_counts

    def partition(self, topic: str, key: bytes | None, value: bytes | None) -> int:
        count = self.partition_counts[topic]
        if key is None:
            return zlib.crc32(value or b"") % count
        return by_key(key, count)

    async def send(self, messages: list[Message]) -> Awaitable[None]:
        """Hand `messages` to the producer, in order within each topic partition; returns
        what awaits the delivery of every batch (and raises if one failed)."""
        builders: dict[tuple[str, int], Any] = {}
        sends = []
        producer = self.producer
        counts = self.partition_counts
        for topic, key, value, partition in messages:
            if partition is None:
                partition = self.partition(topic, key, value)
            elif topic in counts:
                partition %= counts[topic]
            builder = builders.get((topic, partition))
            if builder is None:
                builder = builders[topic, partition] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:
                sends.append(await producer.send_batch(builder, topic, partition=partition))
                builder = builders[topic, partition] = producer.create_batch()
                if builder.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"a {len(value or b'')}-byte record does not fit a batch")
        for (topic, partition), builder in builders.items():
            sends.append(await producer.send_batch(builder, topic, partition=partition))
        return _delivered(sends)


async def _delivered(sends: list[Any]) -> None:
    if sends:
        await asyncio.gather(*sends)
