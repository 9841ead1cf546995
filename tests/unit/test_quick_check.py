"""The hand-written check never vouches for an event the JSON Schema rejects."""

import itertools

import jsonschema
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.contract.codec import load_schema
from pipeline.contract.quick_check import plainly_valid
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
            data[name] = draw(values)
        else:
            data[name][draw(st.sampled_from(NESTED))] = draw(values)
    return data


@settings(max_examples=3000)
@given(events())
def test_never_vouches_for_an_event_the_schema_rejects(data):
    if plainly_valid(data):
        assert SCHEMA.is_valid(data), data


@given(events())
def test_a_missing_required_field_is_never_vouched_for(data):
    for name in ("event_id", "event_type", "occurred_at"):
        assert not plainly_valid({k: v for k, v in data.items() if k != name})


def test_generated_events_take_the_quick_path():
    assert all(map(plainly_valid, VALID))
    assert all(map(SCHEMA.is_valid, VALID))
