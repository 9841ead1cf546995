"""`journey forget`: ask a running pipeline to erase journeys (a request to be forgotten).

One request per key goes to the route topic partition that owns the key's
journey, so its worker applies it in order with the events before it: the
journey leaves the table and the changelog (a tombstone), the anonymous ids
stitched to it are erased on their partitions too, and the query API answers
404 for them from then on.
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka import KafkaProducer

from ..config import KafkaSettings
from ..domain.view import key_problem
from ..kafka.connection import client_options
from ..topics import route_topic
from ..worker.routing import FORGET, partitioner, seal

__all__ = ["request_erasure"]


def request_erasure(keys: Sequence[str], settings: KafkaSettings, bootstrap: str) -> int:
    """Send one erasure request per key; returns how many were delivered."""
    for key in keys:
        problem = key_problem(key)
        if problem:
            raise ValueError(f"{key!r}: {problem}")
    topic = route_topic(settings.app_id)
    producer = KafkaProducer(bootstrap_servers=bootstrap, **client_options(settings))
    try:
        partitions = producer.partitions_for(topic)
        if not partitions:
            raise ValueError(f"no topic {topic}: is JOURNEY_APP_ID the running pipeline's?")
        place = partitioner(len(partitions), settings.input_partitioner)
        value = seal({"kind": FORGET})
        sends = [
            producer.send(topic, key=key.encode(), value=value, partition=place(key))
            for key in keys
        ]
        producer.flush()
        for sent in sends:
            sent.get(timeout=30)
    finally:
        producer.close()
    return len(sends)
