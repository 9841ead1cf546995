"""The shared vocabulary: every name that crosses a module boundary, spelled once.

Outputs, event outcomes, dead-letter reasons, suppression reasons, the label
of "no stage yet" and the schema version of every record. Metric label sets,
file and topic names are derived from these.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "NO_STAGE",
    "PATHS_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "Outcome",
    "Output",
    "Reason",
    "RecordType",
    "Suppression",
]

SCHEMA_VERSION: Final = 1
"""The `schema_version` of every record the pipeline writes (and of the events it reads),
but the paths records'."""
PATHS_SCHEMA_VERSION: Final = 3
"""The paths records': version 3 holds a window part's steps and nodes of one dimension in
one record (`schemas/paths.v3.json`); version 2, one record per step's `from`."""

NO_STAGE: Final = "none"
"""The label of a journey with no stage yet (metrics, the query API's counts)."""


class Output:
    """The logical outputs; `pipeline.topics` maps them to topic and file names."""

    SESSIONS: Final = "sessions"
    TRANSITIONS: Final = "stage_transitions"
    CART_ALERTS: Final = "cart_alerts"
    DECISIONS: Final = (SESSIONS, TRANSITIONS, CART_ALERTS)
    """Outputs whose records carry a decision id."""
    PATHS: Final = "paths"
    FUNNELS: Final = "funnels"
    VOC: Final = "voc"
    ANALYTICS: Final = (PATHS, FUNNELS, VOC)
    """The windowed analytics, published in parts."""
    PROPENSITY: Final = "propensity"
    """Scores of the propensity model: no decision id (a model per partition scores them)."""
    ALL: Final = (*DECISIONS, *ANALYTICS, PROPENSITY)


class RecordType:
    """The `type` of the decision records that carry one (stage transitions carry none)."""

    SESSION_CLOSED: Final = "session_closed"
    SESSION_MERGED: Final = "session_merged"
    CART_ABANDONED: Final = "cart_abandoned"
    CART_RECOVERED: Final = "cart_recovered"
    ALERTS: Final = (CART_ABANDONED, CART_RECOVERED)


class Outcome:
    """What became of an inbound record."""

    OK: Final = "ok"
    DUPLICATE: Final = "duplicate"
    LATE: Final = "late"
    FORWARDED: Final = "forwarded"
    """The key is an anonymous id stitched to a customer: send the event to that key."""
    PARKED: Final = "parked"
    """Held until a pending identity stitch arrives, then processed in order."""
    HELD: Final = "held"
    """Ahead of the watermark: held until the watermark reaches it (allowed input disorder)."""
    INVALID: Final = "invalid"
    """Did not decode or validate: dead-lettered."""
    REROUTED: Final = "rerouted"
    """Arrived on a partition that does not own its journey: sent through the route topic."""
    REDELIVERED: Final = "redelivered"
    """Below the position the state expects: its effect is in the state already."""
    HOLE: Final = "hole"
    """Above the position the state expects: skipped, and read again after a seek back."""
    ALL: Final = (
        OK,
        DUPLICATE,
        LATE,
        FORWARDED,
        PARKED,
        HELD,
        INVALID,
        REROUTED,
        REDELIVERED,
        HOLE,
    )


class Reason:
    """Dead-letter reason codes (the `reason` field of `clickstream.dead-letter`)."""

    MALFORMED_JSON: Final = "malformed_json"
    NOT_AN_OBJECT: Final = "not_an_object"
    MISSING_FIELD: Final = "missing_field"
    WRONG_TYPE: Final = "wrong_type"
    INVALID_FIELD: Final = "invalid_field"
    BAD_TIMESTAMP: Final = "bad_timestamp"
    FUTURE_TIMESTAMP: Final = "future_timestamp"
    UNKNOWN_SCHEMA_VERSION: Final = "unknown_schema_version"
    OVERSIZE: Final = "oversize"
    LATE: Final = "late"
    PARTIAL: Final = "partial"
    """Processed without a malformed part, which was dropped (`JOURNEY_DRIFT=omit`)."""
    MALFORMED_ROW: Final = "malformed_row"
    """Offline CSV inputs: a row whose fields do not match the header."""
    ALL: Final = (
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
        MALFORMED_ROW,
    )


class Suppression:
    """Why an abandoned cart was not alerted."""

    NO_CONSENT: Final = "no_consent"
    COOLDOWN: Final = "cooldown"
    ALL: Final = (NO_CONSENT, COOLDOWN)
