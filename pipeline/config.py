"""Settings: `JOURNEY_*` environment variables read into frozen pydantic-settings objects.

Three groups, so a command validates only what it uses (`journey process`
never opens a port, so a bad `JOURNEY_WEB_PORT` does not stop it):
`KafkaSettings` (the connection), `WorkerSettings` (the stream worker's own),
`JourneySettings` (the journey core and the decoder). `Settings` is all of them.
Each field's default is written once, in the form a user types, and its
description is the README's settings table (`journey settings --markdown`).
Nothing else reads the environment.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PositiveInt,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .durations import format_duration, parse_duration

__all__ = [
    "ENV_NAMES",
    "PARTITIONER_NAMES",
    "ConfigError",
    "JourneySettings",
    "KafkaSettings",
    "Settings",
    "WorkerSettings",
    "env_name",
    "load",
    "load_client_certificate",
    "reveal",
]

PREFIX = "JOURNEY_"

Partitioner = Literal["murmur2", "crc32", "fnv1a"]
PARTITIONER_NAMES: tuple[str, ...] = get_args(Partitioner)
"""Producers' partitioners `JOURNEY_INPUT_PARTITIONER` accepts (`pipeline.worker.routing`)."""

Drift = Literal["omit", "block"]
"""`JOURNEY_DRIFT`, the policies of `pipeline.contract.drift`."""


class ConfigError(ValueError):
    """A setting with a value that cannot be used; the message names the variable."""


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


def _base_url(text: str) -> str:
    if not re.match(r"^https?://[^/\s]+$", text):
        raise ValueError(f"{text!r} is not a base URL like http://worker-0.journey:6066")
    return text


Millis = Annotated[
    int, BeforeValidator(_duration), PlainSerializer(format_duration, when_used="json")
]
"""A duration: written as 30m, 24h, 7d, 500ms or 90 (s); held in milliseconds."""


def duration(default: str, description: str) -> Any:
    """A duration field: its default as a user writes it, validated into milliseconds."""
    return Field(default, description=description)


Port = Annotated[int, Field(ge=0, le=65535)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]


def _file(setting: str, path: str | None) -> None:
    if path and not Path(path).is_file():
        raise ValueError(f"{PREFIX}{setting.upper()}: no file at {path!r}")


class _Group(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        validate_default=True,
    )


class KafkaSettings(_Group):
    """The Kafka connection, the topics and the input's partitioner."""

    kafka_bootstrap: str | None = Field(
        None,
        description="Kafka bootstrap servers (host:port,...). Unset: the embedded broker on"
        " loopback.",
    )
    app_id: str = Field(
        "journey",
        description="Consumer group and changelog prefix; workers with one id share the work.",
    )
    partitions: PositiveInt = Field(
        8,
        description="Partitions of the topics `journey topics create` makes (the unit of"
        " scale-out).",
    )
    replication: PositiveInt = Field(1, description="Replication factor of created topics.")
    input_partitioner: Partitioner = Field(
        "murmur2",
        description="The partitioner the producers of the input topic use for keyed records:"
        " murmur2 (Java clients, kafka-python, aiokafka, franz-go), crc32 (librdkafka:"
        " confluent-kafka, kcat, node-rdkafka) or fnv1a (sarama). A journey lives on the"
        " partition it picks; other records take the route hop (counted as `rerouted`), with"
        " the same decisions.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = Field(
        "PLAIN", description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name (PLAIN, SCRAM).")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (PLAIN, SCRAM).")
    kafka_sasl_oauth_token_file: str | None = Field(
        None,
        description="OAUTHBEARER: a file holding the bearer token, read again at every"
        " authentication, so whatever renews it (a sidecar, a projected token) is picked up.",
    )
    kafka_ssl_cafile: str | None = Field(
        None, description="CA bundle for TLS; unset: the system's."
    )
    kafka_ssl_certfile: str | None = Field(
        None,
        description="Client certificate (PEM) for brokers that require one (mutual TLS);"
        " may hold the key too.",
    )
    kafka_ssl_keyfile: str | None = Field(
        None, description="Private key (PEM) of the client certificate, when not in its file."
    )
    kafka_ssl_password: SecretStr | None = Field(
        None, description="Password of an encrypted client key."
    )

    @model_validator(mode="after")
    def _usable(self) -> KafkaSettings:
        """Files and credentials the Kafka clients need, checked at start, not at the first
        connection 30 s later."""
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            _file(name, getattr(self, name))
        _file("kafka_sasl_oauth_token_file", self.kafka_sasl_oauth_token_file)
        protocol = self.kafka_security_protocol
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("JOURNEY_KAFKA_SSL_KEYFILE is set without JOURNEY_KAFKA_SSL_CERTFILE")
        if self.kafka_ssl_certfile:
            _client_certificate(self)
        if self.kafka_ssl_certfile and not protocol.endswith("SSL"):
            raise ValueError(
                f"JOURNEY_KAFKA_SSL_CERTFILE needs JOURNEY_KAFKA_SECURITY_PROTOCOL=SSL or"
                f" SASL_SSL (it is {protocol})"
            )
        if not protocol.startswith("SASL"):
            return self
        if self.kafka_sasl_mechanism == "OAUTHBEARER":
            if not self.kafka_sasl_oauth_token_file:
                raise ValueError(
                    "JOURNEY_KAFKA_SASL_MECHANISM=OAUTHBEARER needs"
                    " JOURNEY_KAFKA_SASL_OAUTH_TOKEN_FILE"
                )
        elif not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"JOURNEY_KAFKA_SECURITY_PROTOCOL={protocol} needs"
                " JOURNEY_KAFKA_SASL_USERNAME and JOURNEY_KAFKA_SASL_PASSWORD"
            )
        return self


def _client_certificate(settings: KafkaSettings) -> None:
    """Load the client certificate and key once, so a key that does not match or a wrong
    password is refused at start, naming the files."""
    load_client_certificate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), settings)


def load_client_certificate(context: ssl.SSLContext, settings: KafkaSettings) -> None:
    """Put the client certificate and its key into `context` (mutual TLS); raise ValueError
    naming the files when they are not a certificate and its key."""
    certfile, keyfile = settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
    try:
        context.load_cert_chain(certfile or "", keyfile, reveal(settings.kafka_ssl_password))
    except ssl.SSLError as error:
        files = f"{certfile}" + (f" and JOURNEY_KAFKA_SSL_KEYFILE {keyfile}" if keyfile else "")
        raise ValueError(
            f"JOURNEY_KAFKA_SSL_CERTFILE {files}: not a certificate and its key"
            f" ({error.reason or error}); a key that does not match, or a wrong"
            " JOURNEY_KAFKA_SSL_PASSWORD?"
        ) from None


def reveal(secret: SecretStr | None) -> str | None:
    """A secret setting's text, for the one client that needs it."""
    return secret.get_secret_value() if secret else None


class WorkerSettings(_Group):
    """The stream worker's own: its web port, event-time pacing, batches and memory."""

    web_port: Port = Field(
        6066, description="Port of /metrics, /healthz, /readyz and /customers/{key}."
    )
    web_host: str = Field(
        "127.0.0.1",
        description="Address the web port binds: loopback only unless set (containers set"
        " `0.0.0.0`).",
    )
    api_token: SecretStr | None = Field(
        None,
        description="When set, `/customers/*` requires `Authorization: Bearer <token>` (401"
        " otherwise); `/metrics`, `/healthz` and `/readyz` stay open.",
    )
    advertised_url: BaseUrl | None = Field(
        None,
        description="URL other workers reach this worker's web port at (query forwarding)."
        " Unset: http://{host name}:{JOURNEY_WEB_PORT}.",
    )
    idle_after: Millis = duration(
        "10s",
        "Wall-clock quiet time after which a caught-up input partition stops"
        " holding back the other partitions' event time; when all are quiet, timers run on the"
        " wall clock.",
    )
    mark_interval: Millis = duration(
        "50ms",
        "Shortest time between two announcements of an input partition's changed"
        " event-time mark. An identity stitch waits for every partition's mark to pass it,"
        " about two intervals; each interval, a worker sends one small record to every route"
        " partition.",
    )
    max_disorder: Millis = duration(
        "0",
        "How far out of event-time order records may arrive within one input"
        " partition. 0: they are processed as they arrive (exact when each partition is in"
        " order). Above 0: an event waits until every partition is that far past it, so events"
        " are processed in event-time order (decisions as `journey process` makes them) at that"
        " much delay.",
    )
    kafka_fetch_max_wait: Millis = duration(
        "10ms",
        "Longest the broker may hold a fetch waiting for more data. Short keeps"
        " latency low (the embedded broker holds fetches that long even when records wait).",
    )
    kafka_session_timeout: Millis = duration(
        "10s",
        "Consumer group session timeout: how soon a dead worker's partitions move.",
    )
    decoded_journeys: PositiveInt = Field(
        5000,
        description="Journeys kept decoded per partition; idle ones beyond it are kept encoded"
        " (about a third of the memory) and decoded when touched.",
    )
    batch_size: PositiveInt = Field(
        1000,
        description="Records processed (and state written once per changed journey) per batch.",
    )
    data_dir: str = Field(
        ".journey", description="Local directory of `journey run` (the worker's log)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level: debug, info, warning, error."
    )


class JourneySettings(_Group):
    """The journey core's timeouts, rules and analytics, and the decoder's limits."""

    session_gap: Millis = duration(
        "30m", "Inactivity gap that ends a session (GA4/Snowplow use 30m)."
    )
    session_max: Millis = duration("24h", "Longest session; a longer run of activity is cut.")
    lateness: Millis = duration(
        "5m",
        "Allowed lateness past the watermark; later events go to the dead-letter"
        " topic as `late` (and still feed stages and carts).",
    )
    anonymous_ttl: Millis = duration(
        "30d",
        "Event-time inactivity after which a journey never stitched to a customer"
        " is removed (state and changelog); a customer's journey goes once back to empty.",
    )
    abandon_after: Millis = duration("30m", "Idle time after which a non-empty cart is abandoned.")
    alert_cooldown: Millis = duration(
        "24h", "Per-customer gap between two cart-abandonment alerts."
    )
    attribution_window: Millis = duration(
        "7d", "How long after abandonment an order counts as a recovery."
    )
    max_clock_skew: Millis = duration(
        "1h",
        "How far an event's occurred_at may be ahead of its record's Kafka"
        " timestamp (offline: the wall clock); further ahead it is dead-lettered as"
        " `future_timestamp`.",
    )
    drift: Drift = Field(
        "omit",
        description="An event with a valid envelope but a malformed nested part (an order item"
        " without an id): `omit` drops the part, processes the rest and reports it as a"
        " `partial` dead letter; `block` refuses the whole event.",
    )
    max_event_bytes: PositiveInt = Field(
        65536,
        description="Largest accepted event record; larger ones are dead-lettered as `oversize`.",
    )
    stage_rules: str | None = Field(
        None,
        description="Path of a stage-rules JSON file (schemas/stage-rules.v1.json). Unset: the"
        " defaults.",
    )
    analytics: Literal["on", "off"] = Field(
        "on",
        description="The journey analytics (paths, funnels, voice of the customer): on or off.",
    )
    analytics_window: Millis = duration(
        "1h",
        "Length of the analytics' tumbling event-time windows (at least 1m, dividing a day).",
    )
    analytics_keep: Millis = duration(
        "28d",
        "How much event time of analytics each worker holds for the analytics API and the map.",
    )
    paths_top: PositiveInt = Field(
        50,
        description="Per window and node, the next nodes shown exactly; the rest are summed"
        " under (other).",
    )
    funnels: str | None = Field(
        None,
        description="Path of a funnels JSON file (schemas/funnels.v1.json). Unset: checkout and"
        " stages.",
    )
    page_rules: str | None = Field(
        None,
        description="Path of a page-rules JSON file (schemas/page-rules.v1.json): ids in URL"
        " paths, aliases.",
    )

    propensity: Literal["on", "off"] = Field(
        "on",
        description="The session purchase model (journey.propensity, cart alerts'"
        " purchase_propensity): on or off.",
    )
    propensity_step: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="A session's purchase propensity is published again once it moved this much"
        " since its last published score (and on every cart and checkout event).",
    )
    propensity_min_labels: PositiveInt = Field(
        200,
        description="Scores are published once the model learned this many converted sessions"
        " and this many that did not (per partition).",
    )
    propensity_eval: PositiveInt = Field(
        10_000,
        description="The latest labels the model's rolling evaluation (ROC AUC, log loss,"
        " calibration) is computed on.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> JourneySettings:
        if self.anonymous_ttl <= max(self.session_max, self.abandon_after) + self.lateness:
            raise ValueError(
                "JOURNEY_ANONYMOUS_TTL must exceed the longest session and the abandonment"
                " time plus the lateness, or open sessions and carts would be removed"
            )
        window = self.analytics_window
        if window < 60_000 or 86_400_000 % window:
            raise ValueError(
                f"JOURNEY_ANALYTICS_WINDOW: {format_duration(window)} must be at least 1m and"
                " divide a day (e.g. 5m, 15m, 1h, 1d)"
            )
        return self


class Settings(JourneySettings, WorkerSettings, KafkaSettings):
    """Every setting: what the worker and `journey run` use."""


Group = TypeVar("Group", bound=BaseSettings)


def env_name(field: str) -> str:
    """The variable a settings field is read from."""
    return PREFIX + field.upper()


def load(group: type[Group]) -> Group:
    """Read one group of settings from the environment; raise `ConfigError` naming the
    variable, its value and what is expected."""
    try:
        return group()
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return message
    name = env_name(str(first["loc"][0]))
    if first["type"] == "value_error":
        return f"{name}: {message}"
    expected = message.replace("Input should be", "expected", 1)
    return f"{name}: {first['input']!r}: {expected}"


ENV_NAMES = tuple(env_name(name) for name in Settings.model_fields)
"""Every setting's variable."""
