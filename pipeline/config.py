"""Settings: one frozen object built from `JOURNEY_*` environment variables.

`SETTINGS` is the single table of every variable (name, default, meaning); the
README's settings table is generated from it (`journey settings --markdown`)
and a test keeps the two in step. Nothing else reads the environment.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract.codec import EventDecoder
from .contract.drift import DRIFT_POLICIES, OMIT
from .contract.rules_file import load_funnels, load_page_rules, load_rules
from .domain import CartPolicy, JourneyPolicy, SessionPolicy, default_rules
from .domain.analytics import AnalyticsPolicy, PageRules, default_document, funnels_from_dict

__all__ = [
    "PARTITIONER_NAMES",
    "SETTINGS",
    "ConfigError",
    "Settings",
    "env_lines",
    "format_duration",
    "parse_duration",
    "unknown_settings",
]

PARTITIONER_NAMES = ("murmur2", "crc32", "fnv1a")
"""Producers' partitioners `JOURNEY_INPUT_PARTITIONER` accepts (`pipeline.worker.routing`)."""


class ConfigError(ValueError):
    """A setting with a value that cannot be used; the message names the variable."""


_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(text: str) -> int:
    """'30m', '24h', '7d', '500ms' or plain seconds ('90') to milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; expected e.g. 30m, 24h, 7d, 500ms or 90 (s)")
    return int(float(match.group(1)) * _UNITS[match.group(2) or "s"])


def format_duration(ms: int) -> str:
    """Milliseconds as `parse_duration` reads them back, in the largest whole unit."""
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text!r} must be a whole number >= 1")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{text!r} is not a TCP port (0-65535)")
    return value


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"{text!r} is not one of {', '.join(options)}")
        return text

    return parse


def _url(text: str) -> str:
    if not re.match(r"^https?://[^/\s]+$", text):
        raise ValueError(f"{text!r} is not a base URL like http://worker-0.journey:6066")
    return text


def _text(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True)
class Setting:
    env: str
    attr: str
    default: str | None
    help: str
    parse: Callable[[str], Any] = _text


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "JOURNEY_KAFKA_BOOTSTRAP",
        "kafka_bootstrap",
        None,
        "Kafka bootstrap servers (host:port,...). Unset: the embedded broker on loopback.",
    ),
    Setting(
        "JOURNEY_APP_ID",
        "app_id",
        "journey",
        "Consumer group and changelog prefix; workers with one id share the work.",
    ),
    Setting(
        "JOURNEY_WEB_PORT",
        "web_port",
        "6066",
        "Port of /metrics, /healthz, /readyz and /customers/{key}.",
        _port,
    ),
    Setting(
        "JOURNEY_WEB_HOST",
        "web_host",
        "127.0.0.1",
        "Address the web port binds: loopback only unless set (containers set `0.0.0.0`).",
    ),
    Setting(
        "JOURNEY_API_TOKEN",
        "api_token",
        None,
        "When set, `/customers/*` requires `Authorization: Bearer <token>` (401 otherwise);"
        " `/metrics`, `/healthz` and `/readyz` stay open.",
    ),
    Setting(
        "JOURNEY_ADVERTISED_URL",
        "advertised_url",
        None,
        "URL other workers reach this worker's web port at (query forwarding)."
        " Unset: http://{host name}:{JOURNEY_WEB_PORT}.",
        _url,
    ),
    Setting(
        "JOURNEY_PARTITIONS",
        "partitions",
        "8",
        "Partitions of the topics `journey topics create` makes (the unit of scale-out).",
        _positive_int,
    ),
    Setting(
        "JOURNEY_REPLICATION",
        "replication",
        "1",
        "Replication factor of created topics.",
        _positive_int,
    ),
    Setting(
        "JOURNEY_SESSION_GAP",
        "session_gap_ms",
        "30m",
        "Inactivity gap that ends a session (GA4/Snowplow use 30m).",
        parse_duration,
    ),
    Setting(
        "JOURNEY_SESSION_MAX",
        "session_max_ms",
        "24h",
        "Longest session; a longer run of activity is cut.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_LATENESS",
        "lateness_ms",
        "5m",
        "Allowed lateness past the watermark; later events go to the dead-letter topic as"
        " `late` (and still feed stages and carts).",
        parse_duration,
    ),
    Setting(
        "JOURNEY_ANONYMOUS_TTL",
        "anonymous_ttl_ms",
        "30d",
        "Event-time inactivity after which a journey never stitched to a customer is removed"
        " (state and changelog); a customer's journey goes once back to empty.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_ABANDON_AFTER",
        "abandon_after_ms",
        "30m",
        "Idle time after which a non-empty cart is abandoned.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_ALERT_COOLDOWN",
        "cooldown_ms",
        "24h",
        "Per-customer gap between two cart-abandonment alerts.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_ATTRIBUTION_WINDOW",
        "attribution_ms",
        "7d",
        "How long after abandonment an order counts as a recovery.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_IDLE_AFTER",
        "idle_after_ms",
        "10s",
        "Wall-clock quiet time after which a caught-up input partition stops holding back the"
        " other partitions' event time; when all are quiet, timers run on the wall clock.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_MARK_INTERVAL",
        "mark_interval_ms",
        "50ms",
        "Shortest time between two announcements of an input partition's changed event-time"
        " mark. An identity stitch waits for every partition's mark to pass it, about two"
        " intervals; each interval, a worker sends one small record to every route partition.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_INPUT_PARTITIONER",
        "input_partitioner",
        "murmur2",
        "The partitioner the producers of the input topic use for keyed records: murmur2"
        " (Java clients, kafka-python, aiokafka, franz-go), crc32 (librdkafka: confluent-kafka,"
        " kcat, node-rdkafka) or fnv1a (sarama). A journey lives on the partition it picks; other"
        " records take the route hop (counted as `rerouted`), with the same decisions.",
        _choice(*PARTITIONER_NAMES),
    ),
    Setting(
        "JOURNEY_MAX_DISORDER",
        "max_disorder_ms",
        "0",
        "How far out of event-time order records may arrive within one input partition. 0:"
        " they are processed as they arrive (exact when each partition is in order). Above 0:"
        " an event waits until every partition is that far past it, so events are processed in"
        " event-time order (decisions as `journey process` makes them) at that much delay.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_MAX_CLOCK_SKEW",
        "max_clock_skew_ms",
        "1h",
        "How far an event's occurred_at may be ahead of its record's Kafka timestamp (offline:"
        " the wall clock); further ahead it is dead-lettered as `future_timestamp`.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_DRIFT",
        "drift",
        OMIT,
        "An event with a valid envelope but a malformed nested part (an order item without"
        " an id): `omit` drops the part, processes the rest and reports it as a `partial`"
        " dead letter; `block` refuses the whole event.",
        _choice(*DRIFT_POLICIES),
    ),
    Setting(
        "JOURNEY_KAFKA_FETCH_MAX_WAIT",
        "fetch_max_wait_ms",
        "10ms",
        "Longest the broker may hold a fetch waiting for more data. Short keeps latency low"
        " (the embedded broker holds fetches that long even when records wait).",
        parse_duration,
    ),
    Setting(
        "JOURNEY_KAFKA_SESSION_TIMEOUT",
        "session_timeout_ms",
        "10s",
        "Consumer group session timeout: how soon a dead worker's partitions move.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_DECODED_JOURNEYS",
        "decoded_journeys",
        "5000",
        "Journeys kept decoded per partition; idle ones beyond it are kept encoded (about a"
        " third of the memory) and decoded when touched.",
        _positive_int,
    ),
    Setting(
        "JOURNEY_BATCH_SIZE",
        "batch_size",
        "1000",
        "Records processed (and state written once per changed journey) per batch.",
        _positive_int,
    ),
    Setting(
        "JOURNEY_STAGE_RULES",
        "stage_rules",
        None,
        "Path of a stage-rules JSON file (schemas/stage-rules.v1.json). Unset: the defaults.",
    ),
    Setting(
        "JOURNEY_ANALYTICS",
        "analytics",
        "on",
        "The journey analytics (paths, funnels, voice of the customer): on or off.",
        _choice("on", "off"),
    ),
    Setting(
        "JOURNEY_ANALYTICS_WINDOW",
        "analytics_window_ms",
        "1h",
        "Length of the analytics' tumbling event-time windows (at least 1m, dividing a day).",
        parse_duration,
    ),
    Setting(
        "JOURNEY_ANALYTICS_KEEP",
        "analytics_keep_ms",
        "28d",
        "How much event time of analytics each worker holds for the analytics API and the map.",
        parse_duration,
    ),
    Setting(
        "JOURNEY_PATHS_TOP",
        "paths_top",
        "50",
        "Per window and node, the next nodes shown exactly; the rest are summed under (other).",
        _positive_int,
    ),
    Setting(
        "JOURNEY_FUNNELS",
        "funnels",
        None,
        "Path of a funnels JSON file (schemas/funnels.v1.json). Unset: checkout and stages.",
    ),
    Setting(
        "JOURNEY_PAGE_RULES",
        "page_rules",
        None,
        "Path of a page-rules JSON file (schemas/page-rules.v1.json): ids in URL paths, aliases.",
    ),
    Setting(
        "JOURNEY_MAX_EVENT_BYTES",
        "max_event_bytes",
        "65536",
        "Largest accepted event record; larger ones are dead-lettered as `oversize`.",
        _positive_int,
    ),
    Setting(
        "JOURNEY_DATA_DIR",
        "data_dir",
        ".journey",
        "Local directory of `journey run` (the worker's log).",
    ),
    Setting(
        "JOURNEY_LOG_LEVEL",
        "log_level",
        "info",
        "Log level: debug, info, warning, error.",
        _choice("debug", "info", "warning", "error"),
    ),
    Setting(
        "JOURNEY_KAFKA_SECURITY_PROTOCOL",
        "kafka_security_protocol",
        "PLAINTEXT",
        "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
        _choice("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    ),
    Setting(
        "JOURNEY_KAFKA_SASL_MECHANISM",
        "kafka_sasl_mechanism",
        "PLAIN",
        "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.",
        _choice("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
    ),
    Setting("JOURNEY_KAFKA_SASL_USERNAME", "kafka_sasl_username", None, "SASL user name."),
    Setting("JOURNEY_KAFKA_SASL_PASSWORD", "kafka_sasl_password", None, "SASL password."),
    Setting(
        "JOURNEY_KAFKA_SSL_CAFILE",
        "kafka_ssl_cafile",
        None,
        "CA bundle for TLS; unset: the system's.",
    ),
)


@dataclass(frozen=True, slots=True)
class Settings:
    kafka_bootstrap: str | None = None
    app_id: str = "journey"
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    api_token: str | None = field(default=None, repr=False)
    decoded_journeys: int = 5000
    advertised_url: str | None = None
    partitions: int = 8
    replication: int = 1
    session_gap_ms: int = 30 * 60_000
    session_max_ms: int = 24 * 3_600_000
    lateness_ms: int = 5 * 60_000
    abandon_after_ms: int = 30 * 60_000
    anonymous_ttl_ms: int = 30 * 86_400_000
    cooldown_ms: int = 24 * 3_600_000
    attribution_ms: int = 7 * 86_400_000
    idle_after_ms: int = 10_000
    mark_interval_ms: int = 50
    input_partitioner: str = "murmur2"
    max_clock_skew_ms: int = 3_600_000
    drift: str = OMIT
    max_disorder_ms: int = 0
    session_timeout_ms: int = 10_000
    fetch_max_wait_ms: int = 10
    batch_size: int = 1000
    stage_rules: str | None = None
    analytics: str = "on"
    analytics_window_ms: int = 3_600_000
    analytics_keep_ms: int = 28 * 86_400_000
    paths_top: int = 50
    funnels: str | None = None
    page_rules: str | None = None
    max_event_bytes: int = 65536
    data_dir: str = ".journey"
    log_level: str = "info"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_ssl_cafile: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every `JOURNEY_*` setting; raise `ConfigError` naming a bad one."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            text = env.get(setting.env, "").strip()
            if not text:
                continue
            try:
                values[setting.attr] = setting.parse(text)
            except ValueError as error:
                raise ConfigError(f"{setting.env}: {error}") from None
        settings = cls(**values)
        settings._check_security()
        longest = max(settings.session_max_ms, settings.abandon_after_ms) + settings.lateness_ms
        if settings.anonymous_ttl_ms <= longest:
            raise ConfigError(
                "JOURNEY_ANONYMOUS_TTL must exceed the longest session and the abandonment"
                " time plus the lateness, or open sessions and carts would be removed"
            )
        window = settings.analytics_window_ms
        if window < 60_000 or 86_400_000 % window:
            raise ConfigError(
                f"JOURNEY_ANALYTICS_WINDOW: {window} ms must be at least 1m and divide a day"
                " (e.g. 5m, 15m, 1h, 1d)"
            )
        return settings

    def _check_security(self) -> None:
        """Files and credentials the Kafka clients need, checked at start, not at the first
        connection 30 s later."""
        cafile = self.kafka_ssl_cafile
        if cafile and not Path(cafile).is_file():
            raise ConfigError(f"JOURNEY_KAFKA_SSL_CAFILE: no file at {cafile!r}")
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ConfigError(
                f"JOURNEY_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs"
                " JOURNEY_KAFKA_SASL_USERNAME and JOURNEY_KAFKA_SASL_PASSWORD"
            )

    def decoder(self) -> EventDecoder:
        """The inbound event decoder with these limits (size, clock skew)."""
        return EventDecoder(self.max_event_bytes, self.max_clock_skew_ms, self.drift)

    def policy(
        self, rules_path: str | None = None, funnels_path: str | None = None
    ) -> JourneyPolicy:
        """The journey core's policy from these settings (and rules and funnels files)."""
        path = rules_path or self.stage_rules
        return JourneyPolicy(
            sessions=SessionPolicy(
                gap_ms=self.session_gap_ms,
                max_length_ms=self.session_max_ms,
                lateness_ms=self.lateness_ms,
            ),
            carts=CartPolicy(
                abandon_after_ms=self.abandon_after_ms,
                cooldown_ms=self.cooldown_ms,
                attribution_ms=self.attribution_ms,
            ),
            rules=load_rules(Path(path)) if path else default_rules(),
            anonymous_ttl_ms=self.anonymous_ttl_ms,
            analytics=self.analytics_policy(funnels_path),
        )

    def analytics_policy(self, funnels_path: str | None = None) -> AnalyticsPolicy | None:
        """The analytics' policy (None when off): windows close once every session ending
        in them has closed, and stay until no session can reach back into them."""
        if self.analytics != "on":
            return None
        funnels = funnels_path or self.funnels
        close_after = self.session_gap_ms + self.lateness_ms
        return AnalyticsPolicy(
            window_ms=self.analytics_window_ms,
            top=self.paths_top,
            pages=load_page_rules(Path(self.page_rules))
            if self.page_rules
            else PageRules.from_dict(default_document("default_page_rules")),
            funnels=load_funnels(Path(funnels))
            if funnels
            else funnels_from_dict(default_document("default_funnels")),
            close_after_ms=close_after,
            keep_ms=self.session_max_ms + close_after,
        )


def settings_markdown() -> str:
    """The settings table for the README."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default is not None else "unset"
        rows.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)


_READ_ELSEWHERE = ("JOURNEY_PURE",)
"""Variables of the project read outside this table (at import: `pipeline.compiled`)."""


def unknown_settings(env: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each `JOURNEY_*` variable that is not a setting (a typo is otherwise
    ignored without a word), with the closest name."""
    env = os.environ if env is None else env
    known = [s.env for s in SETTINGS]
    warnings = []
    for name in sorted(env):
        if name.startswith("JOURNEY_") and name not in known and name not in _READ_ELSEWHERE:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings


def env_lines(settings: Settings) -> list[str]:
    """The settings in effect as `JOURNEY_…=value` lines a shell or an env file takes back
    (secrets masked, unset ones as comments)."""
    lines = []
    for setting in SETTINGS:
        value = getattr(settings, setting.attr)
        if value is None:
            lines.append(f"# {setting.env} is unset")
        elif setting.attr in _SECRETS:
            lines.append(f"{setting.env}=***")
        elif setting.parse is parse_duration:
            lines.append(f"{setting.env}={format_duration(value)}")
        else:
            lines.append(f"{setting.env}={value}")
    return lines


_SECRETS = ("api_token", "kafka_sasl_password")
