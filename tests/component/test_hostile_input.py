"""Hostile bytes and absurd JSON into the worker's processing: never an exception, every
record accounted for, every refused one dead-lettered with its original bytes."""

from __future__ import annotations

import base64
import json
from collections import Counter

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import Settings
from pipeline.contract.codec import Decoded
from pipeline.domain import JourneyPolicy, Outcome
from pipeline.policy import event_decoder
from pipeline.topics import DEAD_LETTER, EVENTS
from pipeline.worker.changelog import Recovered
from pipeline.worker.metrics import Metrics
from pipeline.worker.processing import Processor

from ..support import complete
from .cluster import Record

NOW = 1_767_225_600_000
GOOD = {"event_id": "e", "event_type": "page_viewed", "occurred_at": NOW, "anonymous_id": "a"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=30,
)  # fmt: skip
absurd = [
    b"[" * 100_000 + b"]" * 100_000,  # nesting far past any parser's depth
    b'{"event_id": "x", "occurred_at": 1e999999}',
    b'{"event_id": "x", "occurred_at": ' + b"9" * 5000 + b"}",
    b"\xff\xfe\x00\x00",
    b'{"event_id": "\x00", "event_type": "page_viewed", "occurred_at": 1, "anonymous_id": "a"}',
    b'{"event_id": "a", "event_id": "b"}',
    b"",
    orjson.dumps({**GOOD, "properties": {"x": "y" * 70_000}}),
    orjson.dumps({**GOOD, "occurred_at": -1}),
    orjson.dumps({**GOOD, "anonymous_id": "a" * 10_000}),
    orjson.dumps({**GOOD, "order": {"items": [{"id": None}] * 1000}}),
]


def dumps(value: object) -> bytes:
    """JSON as any producer might write it: big integers, NaN and Infinity included."""
    return json.dumps(value).encode()


records = st.one_of(
    st.binary(max_size=300),
    json_values.map(dumps),
    st.dictionaries(st.sampled_from(sorted(GOOD) + ["customer_id", "order", "product"]),
                    json_values).map(lambda d: dumps({**GOOD, **d})),
)  # fmt: skip


def processor() -> Processor:
    processor = Processor(Settings(partitions=1), JourneyPolicy(), Metrics(), "route", "log")
    processor.assign({0: Recovered()}, 0.0)
    return processor


@settings(max_examples=100, deadline=None)
@given(st.lists(records, min_size=1, max_size=20))
def test_every_record_is_processed_or_dead_lettered_with_its_original_bytes(values):
    batch = [Record(EVENTS, 0, n, None, v, NOW) for n, v in enumerate(values)]
    flush = complete(processor().process(batch, 1.0, NOW))
    letters = [orjson.loads(m[2]) for m in flush.messages if m[0] == DEAD_LETTER]
    invalid = [d for d in letters if d["reason"] not in ("late", "partial")]
    partial = [d for d in letters if d["reason"] == "partial"]
    decoded = list(zip(values, _decoded(values), strict=True))
    assert sorted(base64.b64decode(d["original"]) for d in invalid) == sorted(
        v for v, d in decoded if d is None
    )
    assert sorted(base64.b64decode(d["original"]) for d in partial) == sorted(
        v for v, d in decoded if d is not None and d.drops
    )
    assert all(d["topic"] == EVENTS and d["offset"] is not None for d in letters)


def _decoded(values: list[bytes]) -> list[Decoded | None]:
    decoder = event_decoder(Settings(partitions=1))
    out: list[Decoded | None] = []
    for value in values:
        try:
            out.append(decoder.decode(value, NOW))
        except ValueError:
            out.append(None)
    return out


def test_absurd_records_are_counted_and_the_worker_goes_on():
    worker = processor()
    batch = [Record(EVENTS, 0, n, None, v, NOW) for n, v in enumerate(absurd)]
    complete(worker.process(batch, 1.0, NOW))
    outcomes = Counter({k: v for k, v in _counts(worker).items() if v})
    assert sum(outcomes.values()) == len(absurd)
    good = orjson.dumps({**GOOD, "event_id": "after", "customer_id": "c"})  # applies at once
    after = complete(worker.process([Record(EVENTS, 0, len(absurd), b"c", good, NOW)], 2, NOW))
    assert any(m[0] != DEAD_LETTER for m in after.messages), "a good record still gets through"


def _counts(worker: Processor) -> dict[str, float]:
    family = worker.metrics.events
    return {o: family.labels(o)._value.get() for o in Outcome.ALL}
