"""The journey core: pure, deterministic Python with time passed in (no Kafka, no clock)."""

from .carts import CartPolicy
from .deadlines import advance, next_deadline
from .decisions import (
    CartAbandoned,
    CartRecovered,
    Decision,
    Score,
    SessionClosed,
    SessionMerged,
    StageChanged,
)
from .engine import JourneyEngine, Snapshot, Step
from .events import STAGES, Event, InvalidEvent, format_time, parse_time, stable_id
from .identity import absorb, detach
from .journey import process
from .journey_state import Count, JourneyPolicy, JourneyState, Outputs
from .router import Absorb, Detach, Everywhere, Forget, Forward, Message, Router
from .sessions import SessionPolicy
from .stages import StageRules, default_rules
from .timers import TimerQueue
from .vocabulary import NO_STAGE, SCHEMA_VERSION, Outcome, Output, Reason, RecordType, Suppression

__all__ = [
    "NO_STAGE",
    "SCHEMA_VERSION",
    "STAGES",
    "Absorb",
    "CartAbandoned",
    "CartPolicy",
    "CartRecovered",
    "Count",
    "Decision",
    "Detach",
    "Event",
    "Everywhere",
    "Forget",
    "Forward",
    "InvalidEvent",
    "JourneyEngine",
    "JourneyPolicy",
    "JourneyState",
    "Message",
    "Outcome",
    "Output",
    "Outputs",
    "Reason",
    "RecordType",
    "Router",
    "Score",
    "SessionClosed",
    "SessionMerged",
    "SessionPolicy",
    "StageChanged",
    "StageRules",
    "Snapshot",
    "Step",
    "Suppression",
    "TimerQueue",
    "absorb",
    "advance",
    "default_rules",
    "detach",
    "format_time",
    "next_deadline",
    "parse_time",
    "process",
    "stable_id",
]
