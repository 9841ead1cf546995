"""Kafka connection options and topic provisioning (kafka-python admin).

Topics are always created explicitly: the embedded broker would otherwise
auto-create them on first produce with its own partition count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from ..config import ConfigError, KafkaSettings
from ..topics import EVENTS, PUBLIC_TOPICS, changelog_topic, owners_topic, route_topic
from .connection import client_options

__all__ = [
    "TopicSpec",
    "check_partitions",
    "ensure_topics",
    "internal_topics",
    "list_topics",
]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


def internal_topics(settings: KafkaSettings) -> list[TopicSpec]:
    """The worker's own topics: the state changelog, the routing topic, the owner directory."""
    return [
        TopicSpec(changelog_topic(settings.app_id), settings.partitions, compacted=True),
        TopicSpec(route_topic(settings.app_id), settings.partitions),
        TopicSpec(owners_topic(settings.app_id), 1, compacted=True),
    ]


def ensure_topics(
    settings: KafkaSettings, bootstrap: str, internal: bool = True, extra: Iterable[TopicSpec] = ()
) -> list[str]:
    """Create the public (and internal, and `extra`) topics that do not exist yet.

    Returns the names it created.
    """
    specs = [TopicSpec(name, settings.partitions) for name in PUBLIC_TOPICS]
    if internal:
        specs += internal_topics(settings)
    specs += extra
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **client_options(settings))
    try:
        existing = set(admin.list_topics())
        created = []
        for spec in specs:
            if spec.name in existing:
                continue
            configs = {"cleanup.policy": "compact"} if spec.compacted else {}
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            spec.name, spec.partitions, settings.replication, topic_configs=configs
                        )
                    ]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def list_topics(settings: KafkaSettings, bootstrap: str) -> dict[str, int]:
    """Topic name to partition count."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **client_options(settings))
    try:
        described = admin.describe_topics()
        return {t["name"]: len(t["partitions"]) for t in described}
    finally:
        admin.close()


def check_partitions(settings: KafkaSettings, bootstrap: str) -> None:
    """The input and route topics must have JOURNEY_PARTITIONS partitions: journeys are
    placed by that count. Raises `ConfigError` naming the topic and both counts."""
    found = list_topics(settings, bootstrap)
    for topic in (EVENTS, route_topic(settings.app_id)):
        if found.get(topic, settings.partitions) != settings.partitions:
            raise ConfigError(
                f"{topic} has {found[topic]} partitions but JOURNEY_PARTITIONS is"
                f" {settings.partitions}: set it to the topic's partition count"
            )
