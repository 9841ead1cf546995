"""Topic and file names: the one place each is spelled."""

from __future__ import annotations

from .domain import Output

__all__ = [
    "DEAD_LETTER",
    "DEAD_LETTER_FILE",
    "EVENTS",
    "DECISION_TOPICS",
    "OUTPUT_FILES",
    "OUTPUT_TOPICS",
    "PUBLIC_TOPICS",
    "STATE_TABLE",
    "changelog_topic",
    "owners_topic",
    "route_topic",
]

EVENTS = "clickstream.events"
DEAD_LETTER = "clickstream.dead-letter"

OUTPUT_TOPICS: dict[str, str] = {
    Output.TRANSITIONS: "journey.stage-transitions",
    Output.CART_ALERTS: "journey.cart-abandonments",
    Output.SESSIONS: "journey.sessions",
    Output.PATHS: "journey.paths",
    Output.FUNNELS: "journey.funnels",
    Output.VOC: "journey.voc",
    Output.PROPENSITY: "journey.propensity",
}

DECISION_TOPICS: dict[str, str] = {o: OUTPUT_TOPICS[o] for o in Output.DECISIONS}
"""The outputs whose records carry a decision id (the analytics come in windowed parts)."""

OUTPUT_FILES: dict[str, str] = {
    Output.TRANSITIONS: "stage-transitions.jsonl",
    Output.CART_ALERTS: "cart-abandonments.jsonl",
    Output.SESSIONS: "sessions.jsonl",
    Output.PATHS: "paths.jsonl",
    Output.FUNNELS: "funnels.jsonl",
    Output.VOC: "voc.jsonl",
    Output.PROPENSITY: "propensity.jsonl",
}
DEAD_LETTER_FILE = "dead-letter.jsonl"

PUBLIC_TOPICS: tuple[str, ...] = (EVENTS, DEAD_LETTER, *OUTPUT_TOPICS.values())

STATE_TABLE = "journeys"


def changelog_topic(app_id: str) -> str:
    """The journeys' state changelog (compacted): `{app_id}-journeys-changelog`."""
    return f"{app_id}-{STATE_TABLE}-changelog"


def route_topic(app_id: str) -> str:
    """Events and identity stitches travelling to the partition that owns their journey."""
    return f"{app_id}-journey-route"


def owners_topic(app_id: str) -> str:
    """Which worker's web port answers for which partition (compacted, one partition)."""
    return f"{app_id}-journey-owners"
