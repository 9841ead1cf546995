"""Which worker answers for which partition: the query API's directory.

Every worker, once it has recovered a partition, writes `partition -> its web
URL` to a compacted one-partition topic, and every worker tails that topic.
A query for a key whose partition lives elsewhere is forwarded to the URL the
directory names. During a rebalance an entry can be stale for a moment; the
worker it names then answers 503 and the caller retries.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from .background import TopicTail

__all__ = ["OwnerDirectory"]

log = logging.getLogger("journey.owners")


class OwnerDirectory(TopicTail):
    def __init__(self, topic: str, url: str) -> None:
        self.topic = topic
        self.url = url
        self.owners: dict[int, str] = {}

    def owner(self, partition: int) -> str | None:
        return self.owners.get(partition)

    async def claim(self, producer: AIOKafkaProducer, partitions: set[int]) -> None:
        """Say this worker answers for `partitions` (delivery awaited)."""
        value = orjson.dumps({"url": self.url, "claimed_at": int(time.time() * 1000)})
        sends = [
            await producer.send(self.topic, value, key=str(p).encode(), partition=0)
            for p in sorted(partitions)
        ]
        await asyncio.gather(*sends)

    async def _tail(self, consumer: AIOKafkaConsumer) -> None:
        tp = TopicPartition(self.topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        try:
            while True:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    self.owners[int(record.key)] = orjson.loads(record.value)["url"]
        finally:
            await consumer.stop()
