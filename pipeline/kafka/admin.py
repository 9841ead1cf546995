"""Kafka connection options and topic provisioning (kafka-python admin).

Topics are always created explicitly: the embedded broker would otherwise
auto-create them on first produce with its own partition count.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from ..config import Settings
from ..topics import PUBLIC_TOPICS, changelog_topic, owners_topic, route_topic

__all__ = [
    "TopicSpec",
    "aiokafka_options",
    "client_options",
    "ensure_topics",
    "internal_topics",
    "list_topics",
]


def client_options(settings: Settings) -> dict[str, Any]:
    """kafka-python connection options (TLS/SASL) from the settings."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    if settings.kafka_ssl_cafile:
        options["ssl_cafile"] = settings.kafka_ssl_cafile
    return options


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """aiokafka connection options: kafka-python's, with the CA bundle as an SSL context."""
    options = client_options(settings)
    cafile = options.pop("ssl_cafile", None)
    if settings.kafka_security_protocol.endswith("SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=cafile)
    return options


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


def internal_topics(settings: Settings) -> list[TopicSpec]:
    """The worker's own topics: the state changelog, the routing topic, the owner directory."""
    return [
        TopicSpec(changelog_topic(settings.app_id), settings.partitions, compacted=True),
        TopicSpec(route_topic(settings.app_id), settings.partitions),
        TopicSpec(owners_topic(settings.app_id), 1, compacted=True),
    ]


def ensure_topics(
    settings: Settings, bootstrap: str, internal: bool = True, extra: Iterable[TopicSpec] = ()
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


def list_topics(settings: Settings, bootstrap: str) -> dict[str, int]:
    """Topic name to partition count."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **client_options(settings))
    try:
        described = admin.describe_topics()
        return {t["topic"]: len(t["partitions"]) for t in described}
    finally:
        admin.close()
