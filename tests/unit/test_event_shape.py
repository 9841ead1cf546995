"""The msgspec shape of the event never vouches for an event the JSON Schema rejects."""

import copy
import itertools

import jsonschema
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.contract.codec import load_schema
from pipeline.contract.event_shape import plainly_valid
from pipeline.tools.generate import generate

SCHEMA = jsonschema.Draft202012Validator(load_schema("clickstream-event.v1"))

VALID = [orjson.loads(r.value) for r in itertools.islice(generate(3000, 300, seed=3), 3000)]
FIELDS = ["schema_version", "event_id", "event_type", "occurred_at", "customer_id",
          "anonymous_id", "channel", "page", "campaign", "product", "order", "rating",
          "nps_score", "properties", "unknown_field"]  # fmt: skip
NESTED = ["id", "product_id", "name", "category", "price", "currency", "quantity", "url",
          "referrer", "title", "source", "value", "items"]  # fmt: skip
values = st.sampled_from([
    None, True, False, 0, 1, 5, 6, 10, 11, -1, 2**63, 0.0, 1.5, -0.5, "", "x", "web",
    "k" * 200, "k" * 201, {}, [], [{"price": -1}], [{"quantity": 0}], [{"name": 3}],
])  # fmt: skip


@st.composite
def events(draw):
    """A valid event with up to three changes: a field set, deleted, or set one level down."""
    data = orjson.loads(orjson.dumps(draw(st.sampled_from(VALID))))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(FIELDS))
        how = draw(st.sampled_from(["set", "delete", "nested"]))
        if how == "delete":
            data.pop(name, None)
        elif how == "set" or not isinstance(data.get(name), dict):
            data[name] = copy.deepcopy(draw(values))  # a value of its own: no cycles
        else:
            data[name][draw(st.sampled_from(NESTED))] = copy.deepcopy(draw(values))
    return data


def vouched(data):
    return plainly_valid(orjson.dumps(data))


@settings(max_examples=3000)
@given(events())
def test_never_vouches_for_an_event_the_schema_rejects(data):
    if vouched(data):
        assert SCHEMA.is_valid(data), data


@given(events())
def test_a_missing_required_field_is_never_vouched_for(data):
    for name in ("event_id", "event_type", "occurred_at"):
        assert not vouched({k: v for k, v in data.items() if k != name})


def test_a_repeated_field_is_judged_by_every_value():
    """orjson keeps a repeated key's last value: one that is wrong anywhere is not vouched for."""
    good = b'{"event_id": "e", "event_type": "t", "occurred_at": 1, "customer_id": "c"'
    assert plainly_valid(good + b"}")
    assert not plainly_valid(good + b', "rating": 3, "rating": "x"}')
    assert not plainly_valid(good + b', "rating": "x", "rating": 3}')


def test_generated_events_take_the_quick_path():
    assert all(map(vouched, VALID))
    assert all(map(SCHEMA.is_valid, VALID))
