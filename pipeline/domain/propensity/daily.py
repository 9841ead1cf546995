"""A customer's daily snapshot for the 7-day models (GA4's definitions): will they buy in
the next 7 days (`purchase_7d`: customers active in the last 28), will they not be seen
in the next 7 (`churn_7d`: customers active in the last 7).

Nothing waits for a label: a journey keeps the days it was active (a bitmask) and its
recent order and session times, and once a day's 7 days have passed it is snapshotted
as of its midnight and labelled from that history at once (`settle_days`, at the
journey's first event of a later day, or when the journey is removed: days whose 7 days
it does not outlive are lost, counted). A touch settles every day since the last, so
the history needed (28 days before the oldest, 7 after) is always kept. The score of the
day is computed at the customer's first event of the day (`today`). Time is event time;
days are UTC days.
"""

from __future__ import annotations

from typing import Final

from ..journey_state import Count, JourneyState, Outputs
from .features import ln1p
from .policy import Features

__all__ = [
    "DAILY_FEATURES",
    "DAY_MS",
    "HISTORY_DAYS",
    "daily_features",
    "mark_active",
    "retire",
    "settle_days",
    "today",
]

DAY_MS: Final = 86_400_000
HORIZON: Final = 7
"""Days a snapshot's label looks ahead."""
LOOK_BACK: Final = 28
"""Days a snapshot's features look back (and a customer must have been active in)."""
HISTORY_DAYS: Final = 63
"""Days of activity a journey keeps (its bitmask's width, less one)."""

DAILY_FEATURES: Final = (
    "active_days_28d",
    "active_days_7d",
    "days_since_seen",
    "orders_28d",
    "days_since_order",
    "no_order_28d",
    "sessions_28d",
)


def mark_active(state: JourneyState, day: int) -> None:
    """Record activity on `day` (a day within the kept history, or a new latest day)."""
    if state.last_day == 0:
        state.last_day, state.labelled_day = day, day - 1
    shift = day - state.last_day
    if shift > 0:
        state.active_days = (state.active_days << shift) & ((1 << (HISTORY_DAYS + 1)) - 1)
        state.last_day = day
        shift = 0
    if -shift <= HISTORY_DAYS:
        state.active_days |= 1 << -shift


def _active(state: JourneyState, first: int, last: int) -> int:
    """Days in [first, last] the journey was active."""
    mask, newest = state.active_days, state.last_day
    return sum(1 for d in range(first, last + 1) if 0 <= newest - d <= HISTORY_DAYS and
               (mask >> (newest - d)) & 1)  # fmt: skip


def daily_features(state: JourneyState, day: int) -> Features:
    """The snapshot of `day`: the journey as of its midnight (history before it only)."""
    start = day * DAY_MS
    recent = [t for t in state.orders if start - LOOK_BACK * DAY_MS <= t < start]
    seen = [d for d in range(day - 1, day - LOOK_BACK - 1, -1) if _active(state, d, d)]
    sessions = sum(1 for t in state.session_starts if start - LOOK_BACK * DAY_MS <= t < start)
    return (
        float(len(seen)),
        float(_active(state, day - 7, day - 1)),
        ln1p(day - seen[0] if seen else LOOK_BACK),
        ln1p(len(recent)),
        ln1p((start - recent[-1]) / DAY_MS if recent else LOOK_BACK),
        0.0 if recent else 1.0,
        ln1p(sessions),
    )


def _eligible(state: JourneyState, day: int) -> tuple[bool, bool]:
    """(in purchase_7d's population, in churn_7d's) on `day`."""
    if state.customer_id is None:
        return False, False
    return _active(state, day - LOOK_BACK, day - 1) > 0, _active(state, day - 7, day - 1) > 0


def settle_days(state: JourneyState, day: int, out: Outputs) -> None:
    """Snapshot and label every day whose 7 days ended by the start of `day`."""
    last = day - HORIZON
    for d in range(state.labelled_day + 1, last + 1):
        purchase, churn = _eligible(state, d)
        if not purchase:
            continue
        start, end = d * DAY_MS, (d + HORIZON) * DAY_MS
        bought = any(start <= t < end for t in state.orders)
        gone = _active(state, d, d + HORIZON - 1) == 0
        out.daily.append((daily_features(state, d), bought, gone if churn else None))
    if last > state.labelled_day:
        state.labelled_day = last


def today(state: JourneyState, day: int) -> Features | None:
    """The features to score `day` with, if the journey is a customer in the population
    (active in the 28 days before it)."""
    return daily_features(state, day) if _eligible(state, day)[0] else None


def retire(state: JourneyState, now: int, out: Outputs) -> None:
    """The journey is removed at event time `now`: label the days whose 7 days have passed,
    count those it would have been snapshotted on and does not outlive."""
    if not state.last_day:
        return
    day = now // DAY_MS
    settle_days(state, day, out)
    unknown = range(state.labelled_day + 1, state.last_day + LOOK_BACK + 1)
    lost = sum(1 for d in unknown if _eligible(state, d)[0])
    if lost:
        out.counts[Count.DAILY_LABELS_LOST] += lost
