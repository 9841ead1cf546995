"""The shared vocabulary: every name that crosses a module boundary, spelled once.

Outputs, event outcomes, dead-letter reasons, suppression reasons, the label
of "no stage yet" and the schema version of every record. Metric label sets,
file and topic names are derived from these.
"""

from __future__ import annotations

from typing import Final

__all__ = ["NO_STAGE", "SCHEMA_VERSION", "Outcome", "Output", "Reason", "Suppression"]

SCHEMA_VERSION: Final = 1
"""The `schema_version` of every record the pipeline writes (and of the events it reads)."""

NO_STAGE: Final = "none"
"""The label of a journey with no stage yet (metrics, the query API's counts)."""


class Output:
    """The logical outputs; `pipeline.topics` maps them to topic and file names."""

    SESSIONS = "sessions"
    TRANSITIONS = "stage_transitions"
    CART_ALERTS = "cart_alerts"
    DECISIONS = (SESSIONS, TRANSITIONS, CART_ALERTS)
    """Outputs whose records carry a decision id."""
    PATHS = "paths"
    FUNNELS = "funnels"
    VOC = "voc"
    ANALYTICS = (PATHS, FUNNELS, VOC)
    """The windowed analytics, published in parts."""
    ALL = (*DECISIONS, *ANALYTICS)


class Outcome:
    """What became of an inbound record."""

    OK = "ok"
    DUPLICATE = "duplicate"
    LATE = "late"
    FORWARDED = "forwarded"
    """The key is an anonymous id stitched to a customer: send the event to that key."""
    PARKED = "parked"
    """Held until a pending identity stitch arrives, then processed in order."""
    HELD = "held"
    """Ahead of the watermark: held until the watermark reaches it (allowed input disorder)."""
    INVALID = "invalid"
    """Did not decode or validate: dead-lettered."""
    REROUTED = "rerouted"
    """Arrived on a partition that does not own its journey: sent through the route topic."""
    REDELIVERED = "redelivered"
    """Below the position the state expects: its effect is in the state already."""
    HOLE = "hole"
    """Above the position the state expects: skipped, and read again after a seek back."""
    ALL = (OK, DUPLICATE, LATE, FORWARDED, PARKED, HELD, INVALID, REROUTED, REDELIVERED, HOLE)


class Reason:
    """Dead-letter reason codes (the `reason` field of `clickstream.dead-letter`)."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_FIELD = "invalid_field"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    OVERSIZE = "oversize"
    LATE = "late"
    PARTIAL = "partial"
    """Processed without a malformed part, which was dropped (`JOURNEY_DRIFT=omit`)."""
    ALL = (
        MALFORMED_JSON,
        NOT_AN_OBJECT,
        MISSING_FIELD,
        WRONG_TYPE,
        INVALID_FIELD,
        BAD_TIMESTAMP,
        FUTURE_TIMESTAMP,
        UNKNOWN_SCHEMA_VERSION,
        OVERSIZE,
        LATE,
        PARTIAL,
    )


class Suppression:
    """Why an abandoned cart was not alerted."""

    NO_CONSENT = "no_consent"
    COOLDOWN = "cooldown"
    ALL = (NO_CONSENT, COOLDOWN)
