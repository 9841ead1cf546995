"""The faust App, its topics and its state table, built explicitly from `Settings`.

faust reads unprefixed environment variables (`BROKER_URL`, `WEB_PORT`,
`APP_DATADIR`, ...) that would override arguments; the App is given an empty
environment so only `JOURNEY_*` settings count.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from .config import Settings
from .topics import DEAD_LETTER, EVENTS, OUTPUT_TOPICS, STATE_TABLE, route_topic

__all__ = ["JourneyApp", "build_app"]


@dataclass
class JourneyApp:
    app: faust.App
    events: Any
    route: Any
    dead_letter: Any
    outputs: dict[str, Any]
    table: Any


def _credentials(settings: Settings) -> Any:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=context if protocol == "SASL_SSL" else None,
    )


def build_app(settings: Settings, bootstrap: str) -> JourneyApp:
    datadir = Path(settings.data_dir).resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        env={},
        broker=f"kafka://{bootstrap}",
        broker_credentials=_credentials(settings),
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_ms / 10_000),
        consumer_auto_offset_reset="earliest",
        store="rocksdb://" if settings.store == "rocksdb" else "memory://",
        datadir=str(datadir),
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host="127.0.0.1",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_allow_declare=False,
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
        autodiscover=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_tables_enabled=False,
        web_metrics_enabled=False,
    )

    def topic(name: str) -> Any:
        return app.topic(
            name, key_type=bytes, value_type=bytes, partitions=settings.partitions, internal=False
        )

    return JourneyApp(
        app=app,
        events=topic(EVENTS),
        route=topic(route_topic(settings.app_id)),
        dead_letter=topic(DEAD_LETTER),
        outputs={output: topic(name) for output, name in OUTPUT_TOPICS.items()},
        table=app.Table(
            STATE_TABLE, key_type=bytes, value_type=bytes, partitions=settings.partitions
        ),
    )
