"""Bounded state over months: journeys held and RSS under key churn.

A synthetic stream in event-time order through the journey core (the same
engine both runners use, with the partition's compact state table): every day
`--new-per-day` anonymous visitors arrive, browse a few pages in one visit and
never come back; a fixed population of customers returns every few days. With
expiry, anonymous journeys go `JOURNEY_ANONYMOUS_TTL` (30 d) after their last
event and customers' journeys once back to empty, so the table levels off
instead of growing with every id ever seen.

Prints one line every `--every` days (journeys held, timers, RSS) and writes
`bench/results/state_churn.json`.

    python bench/state_churn_bench.py [--days 90] [--new-per-day 30000] [--customers 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path

from pipeline.domain import Event, JourneyEngine, JourneyPolicy, Outputs
from pipeline.worker.compact_states import CompactStates

RESULTS = Path(__file__).parent / "results"
DAY = 86_400_000
START = 1_767_225_600_000
PAGES = ["page_viewed", "product_viewed", "search_performed", "page_viewed"]


def rss_mb() -> float:
    """Resident set size now (from /proc; the peak where that is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def day_of_events(day: int, args: argparse.Namespace, rng: random.Random) -> list[Event]:
    events: list[Event] = []
    for n in range(args.new_per_day):
        visitor = f"a-{day}-{n}"
        at = START + day * DAY + rng.randrange(DAY - 3_600_000)
        for step in range(rng.randint(1, 3)):
            events.append(
                _event(f"{visitor}-{step}", PAGES[step], at + step * 40_000, None, visitor)
            )
    for n in rng.sample(range(args.customers), args.customers // 4):
        at = START + day * DAY + rng.randrange(DAY - 3_600_000)
        customer = f"c-{n}"
        for step in range(3):
            kind = "product_viewed" if step else "page_viewed"
            events.append(
                _event(f"{customer}-{day}-{step}", kind, at + step * 60_000, customer, None)
            )
    events.sort(key=lambda e: e.occurred_at)
    return events


def _event(event_id: str, kind: str, at: int, customer: str | None, anonymous: str | None) -> Event:
    data = {"event_id": event_id, "event_type": kind, "occurred_at": at, "channel": "web"}
    if customer:
        data["customer_id"] = customer
    if anonymous:
        data["anonymous_id"] = anonymous
    return Event(event_id, kind, at, customer, anonymous, data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--new-per-day", type=int, default=30_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(7)
    engine = JourneyEngine(JourneyPolicy(), CompactStates(5000))
    out = Outputs()
    curve, events, started = [], 0, time.perf_counter()
    print(f"{'day':>4} {'events':>10} {'journeys held':>14} {'timers':>8} {'RSS MB':>8}")
    for day in range(args.days):
        for event in day_of_events(day, args, rng):
            engine.on_event(event, out, event.occurred_at)
            events += 1
        out.decisions.clear()
        out.analytics.clear()
        out.counts.clear()
        engine.snapshot()
        if (day + 1) % args.every == 0 or day == args.days - 1:
            point = {"day": day + 1, "events": events, "journeys": len(engine.states),
                     "timers": len(engine.timers), "rss_mb": round(rss_mb(), 1)}  # fmt: skip
            curve.append(point)
            print(f"{point['day']:>4} {events:>10,} {point['journeys']:>14,}"
                  f" {point['timers']:>8,} {point['rss_mb']:>8}")  # fmt: skip
    seconds = time.perf_counter() - started
    ids_seen = args.days * args.new_per_day + args.customers
    print(f"{events:,} events in {seconds:.0f} s; {ids_seen:,} ids seen,"
          f" {len(engine.states):,} journeys held at the end")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "state_churn.json").write_text(
        json.dumps({"args": vars(args), "curve": curve, "seconds": round(seconds)}, indent=2)
    )


if __name__ == "__main__":
    main()
