"""The journey core: pure, deterministic Python with time passed in (no Kafka, no clock)."""

from .events import STAGES, Event, InvalidEvent, Reason, format_time, parse_time
from .identity import absorb, detach
from .journey import (
    Count,
    JourneyPolicy,
    JourneyState,
    Outcome,
    Output,
    Outputs,
    advance,
    next_deadline,
    process,
)
from .stages import StageRules, default_rules
from .timers import TimerQueue

__all__ = [
    "STAGES",
    "Count",
    "Event",
    "InvalidEvent",
    "JourneyPolicy",
    "JourneyState",
    "Outcome",
    "Output",
    "Outputs",
    "Reason",
    "StageRules",
    "TimerQueue",
    "absorb",
    "advance",
    "default_rules",
    "detach",
    "format_time",
    "next_deadline",
    "parse_time",
    "process",
]
