"""The inbound event model, event time, and deterministic ids.

Shape validation is the JSON Schema's job (`schemas/clickstream-event.v1.json`,
applied by `pipeline.codec`); this module turns a schema-valid object into an
`Event` and rejects what a schema cannot: a timestamp that does not parse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from time import gmtime, strftime
from typing import Any, Final

from .vocabulary import Reason

__all__ = [
    "STAGES",
    "Event",
    "InvalidEvent",
    "format_time",
    "parse_time",
    "stable_id",
]

STAGES: tuple[str, ...] = ("awareness", "consideration", "purchase", "retention", "advocacy")
"""The journey stages, lowest first."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS = 946_684_800_000  # 2000-01-01: an epoch below this is seconds, not milliseconds
_MAX_MS = 4_102_444_800_000  # 2100-01-01


class InvalidEvent(ValueError):
    """An inbound record that cannot be processed; `reason` is a `Reason` code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_time(value: object) -> int:
    """`occurred_at` (RFC 3339 with zone, or epoch milliseconds) to epoch milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidEvent(
                Reason.BAD_TIMESTAMP,
                f"occurred_at {value!r} is not an RFC 3339 timestamp (e.g. 2026-03-01T12:00:00Z)",
            ) from None
        if moment.tzinfo is None:
            raise InvalidEvent(
                Reason.BAD_TIMESTAMP,
                f"occurred_at {value!r} has no time zone; expected e.g. 'Z' or '+02:00'",
            )
        since = moment - _EPOCH
        ms = since.days * 86_400_000 + since.seconds * 1000 + since.microseconds // 1000
    else:
        raise InvalidEvent(
            Reason.BAD_TIMESTAMP,
            f"occurred_at {value!r} must be an RFC 3339 string or epoch milliseconds",
        )
    if not _MIN_MS <= ms < _MAX_MS:
        raise InvalidEvent(
            Reason.BAD_TIMESTAMP,
            f"occurred_at {value!r} is outside 2000..2100; epoch values must be milliseconds",
        )
    return ms


_DATES: Final[dict[int, str]] = {}
"""Days since the epoch -> `YYYY-MM-DDT`: the calendar's part of `format_time`, worked out
once a day (a run's records fall on a few days; calling the C library costs more)."""
_DATES_HELD: Final = 4096
_DIGITS: Final = [f"{n:02d}" for n in range(60)]
_MILLIS: Final = [f"{n:03d}" for n in range(1000)]


def format_time(ms: int) -> str:
    """Epoch milliseconds to RFC 3339 UTC with milliseconds, as every output record carries."""
    seconds, millis = divmod(ms, 1000)
    day, second = divmod(seconds, 86_400)
    date = _DATES.get(day)
    if date is None:
        if len(_DATES) >= _DATES_HELD:
            _DATES.clear()
        date = _DATES[day] = strftime("%Y-%m-%dT", gmtime(day * 86_400))
    hours, second = divmod(second, 3_600)
    minutes, second = divmod(second, 60)
    return f"{date}{_DIGITS[hours]}:{_DIGITS[minutes]}:{_DIGITS[second]}.{_MILLIS[millis]}Z"


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic id: the same parts give the same id on every replay."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=10).hexdigest()
    return f"{prefix}_{digest}"


@dataclass(slots=True, init=False)
class Event:
    """One clickstream event; `data` is the full inbound object (unknown fields kept).
    Never changed once built. Its `__init__` is written out, as the hottest classes' are:
    the compiled core builds such an object natively, where a dataclass's generated one
    runs as interpreted Python (and a frozen one sets each field through `object`)."""

    event_id: str
    event_type: str
    occurred_at: int
    customer_id: str | None
    anonymous_id: str | None
    data: dict[str, Any]

    def __init__(
        self,
        event_id: str,
        event_type: str,
        occurred_at: int,
        customer_id: str | None,
        anonymous_id: str | None,
        data: dict[str, Any],
    ) -> None:
        self.event_id = event_id
        self.event_type = event_type
        self.occurred_at = occurred_at
        self.customer_id = customer_id
        self.anonymous_id = anonymous_id
        self.data = data

    @property
    def key(self) -> str:
        """The journey key: customer id, else anonymous id."""
        return self.customer_id or self.anonymous_id or ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Build from a schema-valid object; raises `InvalidEvent` for a bad timestamp."""
        return cls(
            event_id=data["event_id"],
            event_type=data["event_type"],
            occurred_at=parse_time(data["occurred_at"]),
            customer_id=data.get("customer_id") or None,
            anonymous_id=data.get("anonymous_id") or None,
            data=data,
        )

    def field(self, path: tuple[str, ...]) -> Any:
        """A field of the event by its path (`("campaign", "source")`), or None when absent."""
        value: Any = self.data
        for part in path:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    @property
    def channel(self) -> str | None:
        value = self.data.get("channel")
        return value if isinstance(value, str) else None

    @property
    def campaign(self) -> dict[str, Any] | None:
        value = self.data.get("campaign")
        return value if isinstance(value, dict) and value else None
