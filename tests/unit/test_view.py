import orjson
from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import Settings
from pipeline.domain import InvalidEvent
from pipeline.domain.view import MAX_KEY_LENGTH, journey_view, key_problem
from pipeline.policy import event_decoder

from ..support import MINUTE, T0, Run, anonymous_then_login, event, product


def test_view_shows_stage_open_session_cart_and_last_transitions(validators):
    run = Run([
        event("page_viewed", 0, channel="email"),
        event("product_viewed", MINUTE, product=product("p", price=12.5)),
        event("cart_item_added", 2 * MINUTE, product=product("p", price=12.5, quantity=2)),
    ], finish=False)  # fmt: skip
    view = journey_view(run.engine.states["c-1"])
    validators["customer-view.v1"].validate({**view, "partition": 0})
    assert view["stage"] == run.transitions[-1]["to_stage"]
    assert [t["to_stage"] for t in view["last_transitions"]] == [
        t["to_stage"] for t in run.transitions
    ]
    [session] = view["open_sessions"]
    assert session["event_count"] == 3 and session["first_channel"] == "email"
    assert view["cart"]["value"] == 25.0 and view["cart"]["items"][0]["quantity"] == 2
    assert view["cart"]["abandoned"] is False and view["event_count"] == 3


def test_a_stitched_anonymous_journey_points_at_its_customer(validators):
    run = Run(anonymous_then_login(), finish=False)
    anonymous = journey_view(run.engine.states["a-9"])
    customer = journey_view(run.engine.states["c-9"])
    for view in (anonymous, customer):
        validators["customer-view.v1"].validate({**view, "partition": 1})
    assert anonymous["alias_of"] == "c-9"
    assert customer["anonymous_ids"] == ["a-9"]
    assert customer["cart"]["items"][0]["product_id"] == "p"
    assert customer["open_sessions"][0]["event_count"] == 4


def test_bad_keys_are_named_and_good_ones_pass():
    assert key_problem("") == "the key is empty"
    assert "at most 200" in str(key_problem("k" * (MAX_KEY_LENGTH + 1)))
    assert key_problem("a\x00b") is None, "the ingest takes control characters: so does the API"
    assert key_problem("c-1") is None and key_problem("k" * MAX_KEY_LENGTH) is None


@given(st.text(max_size=MAX_KEY_LENGTH + 5))
def test_the_api_takes_exactly_the_keys_the_ingest_takes(key):
    record = {"event_id": "e", "event_type": "x", "occurred_at": T0, "customer_id": key}
    try:
        event_decoder(Settings()).decode(orjson.dumps(record), T0)
        ingested = True
    except InvalidEvent:
        ingested = False
    assert (key_problem(key) is None) == ingested
