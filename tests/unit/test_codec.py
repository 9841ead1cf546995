import base64

import orjson
import pytest

from pipeline.contract.codec import EventDecoder, dead_letter
from pipeline.contract.drift import apply, describe
from pipeline.domain import InvalidEvent, Reason

from ..support import HOUR, T0

decoder = EventDecoder(max_bytes=2048, max_skew_ms=HOUR)
blocking = EventDecoder(max_bytes=2048, max_skew_ms=HOUR, drift="block")
RECEIVED = T0
GOOD = {
    "event_id": "e1",
    "event_type": "page_viewed",
    "occurred_at": "2026-03-02T09:00:00Z",
    "anonymous_id": "a1",
}


def raw(**changes):
    data = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in data.items() if v is not ...})


@pytest.mark.parametrize(
    ("record", "reason", "says"),
    [
        (b'{"event_id": ', Reason.MALFORMED_JSON, "not valid JSON"),
        (b"[1, 2]", Reason.NOT_AN_OBJECT, "got list"),
        (raw(event_id=...), Reason.MISSING_FIELD, "event_id"),
        (raw(anonymous_id=...), Reason.MISSING_FIELD, "customer_id or anonymous_id"),
        (raw(anonymous_id=None), Reason.MISSING_FIELD, "customer_id or anonymous_id"),
        (raw(occurred_at="tomorrow"), Reason.BAD_TIMESTAMP, "'tomorrow'"),
        (raw(occurred_at="2026-03-02T09:00:00"), Reason.BAD_TIMESTAMP, "no time zone"),
        (raw(occurred_at=1_772_442_000), Reason.BAD_TIMESTAMP, "milliseconds"),
        (raw(schema_version=2), Reason.UNKNOWN_SCHEMA_VERSION, "got 2"),
        (raw(rating="five"), Reason.WRONG_TYPE, "rating must be integer (got 'five')"),
        (raw(nps_score=11), Reason.INVALID_FIELD, "nps_score"),
        (raw(channel="pigeon"), Reason.INVALID_FIELD, "pigeon"),
        (raw(properties={"blob": "x" * 3000}), Reason.OVERSIZE, "limit is 2048"),
        (
            raw(occurred_at="2099-06-01T00:00:00Z"),
            Reason.FUTURE_TIMESTAMP,
            "JOURNEY_MAX_CLOCK_SKEW",
        ),
        (raw(occurred_at=T0 + HOUR + 1), Reason.FUTURE_TIMESTAMP, "1.0 h after"),
    ],
)
def test_bad_records_get_a_reason_code_and_a_message_naming_the_problem(record, reason, says):
    """Under `JOURNEY_DRIFT=block`; under `omit` only the envelope's faults refuse an event."""
    with pytest.raises(InvalidEvent) as caught:
        blocking.decode(record, RECEIVED)
    assert caught.value.reason == reason
    assert says in str(caught.value)


def test_unknown_fields_and_types_are_kept_and_epoch_millis_accepted():
    event, _ = decoder.decode(
        raw(event_type="weather_checked", occurred_at=T0, extra={"x": 1}), RECEIVED
    )
    assert event.occurred_at == T0 and event.data["extra"] == {"x": 1}
    assert event.key == "a1"


def test_customer_id_is_the_journey_key_when_both_are_present():
    assert decoder.decode(raw(customer_id="c1"), RECEIVED).event.key == "c1"


def test_omit_drops_the_malformed_part_and_keeps_the_event():
    order = {"id": "o1", "value": 30, "items": [{"id": "p1", "price": 10}, {"id": None},
                                                  {"id": "p3", "price": -5}]}  # fmt: skip
    event, drops = decoder.decode(
        raw(event_type="order_completed", order=order, product={"price": -1}, rating=9),
        RECEIVED,
    )
    assert event.data["order"] == {"id": "o1", "value": 30, "items": [{"id": "p1", "price": 10}]}
    assert "product" not in event.data and "rating" not in event.data
    assert sorted(d.field for d in drops) == [
        "order.items[].id", "order.items[].price", "product.price", "rating",
    ]  # fmt: skip
    assert "dropped order.items[1] (order.items[1].id must be string or integer" in describe(drops)
    again = apply(orjson.loads(raw(event_type="order_completed", order=order,
                                   product={"price": -1}, rating=9)),
                  [d.part for d in drops])  # fmt: skip
    assert again == event.data, "the drops replay on the original bytes (after a route hop)"


@pytest.mark.parametrize(
    "record",
    [raw(event_id=""), raw(anonymous_id=None), raw(occurred_at="tomorrow"), raw(schema_version=2)],
)
def test_omit_never_drops_the_envelope(record):
    with pytest.raises(InvalidEvent):
        decoder.decode(record, RECEIVED)


def test_dead_letter_keeps_the_original_bytes():
    record = dead_letter(Reason.MALFORMED_JSON, "broken", b"\xff{", received_at=T0, offset=3)
    assert base64.b64decode(record["original"]) == b"\xff{"
    assert record["received_at"] == "2026-03-02T09:00:00.000Z"


def test_an_event_up_to_the_allowed_skew_ahead_of_its_record_is_accepted():
    assert decoder.decode(raw(occurred_at=T0 + HOUR), RECEIVED).event.occurred_at == T0 + HOUR
    assert decoder.decode(raw(occurred_at=T0 - 400 * 24 * HOUR), RECEIVED)  # old is fine
