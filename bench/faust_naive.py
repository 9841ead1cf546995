"""The peer `stream_bench.py` compares with: per-key logic as a faust user first writes it.

`async for event in stream`, one Table write per event (sessions with a
30-minute gap, cart adds counted), one awaited send in fifty. Progress (events
done) goes to the file `BENCH_PROGRESS` every 1,000 events and at each idle
second, so the benchmark can time it from outside.

    BENCH_BOOTSTRAP=... BENCH_PROGRESS=... python bench/faust_naive.py worker -l warn
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import faust
import orjson

GAP_MS = 30 * 60 * 1000
PROGRESS = Path(os.environ["BENCH_PROGRESS"])
PARTITIONS = int(os.environ.get("BENCH_PARTITIONS", "8"))

app = faust.App(
    "bench-faust-naive",
    env={},
    broker=f"kafka://{os.environ['BENCH_BOOTSTRAP']}",
    broker_session_timeout=6,
    consumer_auto_offset_reset="earliest",
    store="memory://",
    datadir=os.environ.get("BENCH_DATADIR", "/tmp/bench-faust-naive"),
    topic_partitions=PARTITIONS,
    key_serializer="raw",
    value_serializer="raw",
    web_enabled=False,
)
events = app.topic("clickstream.events", key_type=bytes, value_type=bytes)
out = app.topic("bench.naive-out", key_type=bytes, value_type=bytes, partitions=PARTITIONS)
sessions = app.Table("naive-sessions", partitions=PARTITIONS)
done = 0


@app.agent(events)
async def sessionize(stream: faust.StreamT) -> None:
    global done
    async for key, value in stream.items():
        state = sessions.get(key) or [0, 0, 0]
        try:
            event = orjson.loads(value)
            at = datetime.fromisoformat(event["occurred_at"]).timestamp() * 1000
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
            event, at = {}, None
        if at is not None:
            if at - state[0] > GAP_MS:
                state[1] += 1
            state[0] = at
        if event.get("event_type") == "cart_item_added":
            state[2] += 1
        sessions[key] = state
        done += 1
        if done % 50 == 0:
            await out.send(key=key, value=orjson.dumps(state))
        if done % 1000 == 0:
            PROGRESS.write_text(str(done))


@app.timer(1.0)
async def report() -> None:
    PROGRESS.write_text(str(done))


if __name__ == "__main__":
    app.main()
