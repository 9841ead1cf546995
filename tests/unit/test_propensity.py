"""The session purchase model: features, the online model, its evaluation, and the engine
scoring, learning and publishing (a planted buying signal found, labels never lost)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.contract.records import encoded, score_record
from pipeline.contract.scores import scores_evaluation
from pipeline.domain import (
    Count,
    Event,
    JourneyEngine,
    JourneyPolicy,
    Output,
    Outputs,
    RecordType,
    SessionClosed,
    parse_time,
    process,
)
from pipeline.domain.journey_state import JourneyState
from pipeline.domain.propensity.daily import DAILY_FEATURES, retire
from pipeline.domain.propensity.evaluation import calibration_bins, evaluate, roc_auc
from pipeline.domain.propensity.features import FEATURES, cart_rule
from pipeline.domain.propensity.model import OnlineLogistic
from pipeline.domain.propensity.policy import PropensityPolicy
from tests.support import T0, event, order, product

MIN = 60_000


def pairwise_auc(scores: list[float], labels: list[bool]) -> float:
    """The reference: every (positive, negative) pair, ties counting half."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]) | st.floats(0, 1), st.booleans()
        ),
        min_size=2,
        max_size=60,
    )
)
def test_roc_auc_is_the_share_of_pairs_ranked_right(pairs):
    scores, labels = [s for s, _ in pairs], [y for _, y in pairs]
    if all(labels) or not any(labels):
        assert roc_auc(scores, labels) is None
        return
    assert roc_auc(scores, labels) == pytest.approx(pairwise_auc(scores, labels))


def test_calibration_bins_and_the_figures_of_a_small_sample():
    scores = [0.05, 0.15, 0.15, 0.95, 1.0]
    labels = [False, True, False, True, True]
    bins = calibration_bins(scores, labels)
    assert [b["count"] for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[1]["predicted"] == pytest.approx(0.15) and bins[1]["observed"] == 0.5
    assert bins[2]["predicted"] is None and bins[9]["observed"] == 1.0
    figures = evaluate(scores, [0, 1, 1, 2, 2], labels)
    assert figures["brier"] == pytest.approx((0.05**2 + 0.85**2 + 0.15**2 + 0.05**2 + 0.0) / 5)
    assert figures["auc"] == pytest.approx(pairwise_auc(scores, labels))
    assert figures["rule_auc"] == pytest.approx(pairwise_auc([0, 1, 1, 2, 2], labels))
    # calibration error: |0.05-0| + 2*|0.15-0.5| + 2*|0.975-1|, over 5
    assert figures["calibration_error"] == pytest.approx((0.05 + 0.7 + 0.05) / 5)
    assert figures["lift_top_10"] == pytest.approx(1 / 0.6)


def test_the_online_model_learns_a_signal_and_restores_exactly():
    rng = random.Random(3)
    model = OnlineLogistic(3, 0.05, 1e-4)
    rows = []
    for _ in range(4000):
        x = (rng.gauss(0, 1), rng.gauss(5, 2), rng.random())
        rows.append((x, rng.random() < 1 / (1 + 2.718 ** -(2 * x[0] - 0.5 * (x[1] - 5)))))
    for x, y in rows[:3000]:
        model.learn(x, y)
    held = rows[3000:]
    auc = roc_auc([model.predict(x) for x, _ in held], [y for _, y in held])
    assert auc is not None and auc > 0.8
    assert model.weights[0] > 0 > model.weights[1]
    twin = OnlineLogistic(3, 0.05, 1e-4)
    assert twin.restore(model.to_data())
    assert [twin.predict(x) for x, _ in held] == [model.predict(x) for x, _ in held]
    assert not OnlineLogistic(4, 0.05, 1e-4).restore(model.to_data())  # other features


def test_features_read_the_session_the_cart_and_the_customer():
    engine = JourneyEngine(JourneyPolicy(propensity=PropensityPolicy()))
    out = Outputs()
    shoe = product("shoe", 80.0)
    steps = [
        event("nps_submitted", 0, nps_score=9),
        event("support_contacted", MIN),
        event("cart_item_added", 2 * MIN, product=shoe),
        event("order_completed", 3 * MIN, order=order("o-1", shoe)),
        # a day later: a new session
        event("page_viewed", 1440 * MIN, channel="email", campaign={"source": "newsletter"}),
        event("product_viewed", 1441 * MIN, product=shoe),
        event("product_compared", 1442 * MIN),
        event("cart_item_added", 1443 * MIN, product=shoe),
        event("checkout_started", 1444 * MIN),
    ]
    for e in steps:
        engine.on_event(e, out, e.occurred_at)
    session = engine.states["c-1"].sessions[-1]
    assert not out.scores  # the model publishes nothing before it learned enough
    got = dict(zip(FEATURES, _features_now(engine), strict=True))
    assert session.event_count == 5 and session.products == 1 and session.research == 1
    assert got["checkout_started"] == 1.0 and got["payment_entered"] == 0.0
    assert got["cart_items"] == 1.0 and got["cart_value"] == pytest.approx(4.394449, rel=1e-5)
    assert got["entry_email"] == 1.0 and got["entry_campaign"] == 1.0
    assert got["never_ordered"] == 0.0 and got["last_nps"] == 0.9 and got["nps_known"] == 1.0
    assert got["returning"] == 1.0 and got["minutes_since_last_event"] == pytest.approx(0.693147)
    assert cart_rule(_features_now(engine)) == 2


def _features_now(engine: JourneyEngine) -> list[float]:
    from pipeline.domain.propensity.features import session_features

    state = engine.states["c-1"]
    session = state.sessions[-1]
    state.event_count -= 1  # as the event sees it, before it counts
    try:
        return session_features(state, session, session.ended_at, MIN)
    finally:
        state.event_count += 1


def shopper(rng: random.Random, n: int, start: int, researcher: bool) -> list[dict[str, Any]]:
    """One visit: researchers (compare products, read reviews) buy 5x as often as others;
    some who do not buy leave a cart."""
    key, t, events = f"a-{n}", start, []

    def emit(kind: str, **fields: Any) -> None:
        nonlocal t
        t += rng.randrange(10_000, 120_000)
        events.append({"event_id": f"e-{n}-{len(events)}", "event_type": kind,
                       "occurred_at": T0 + t, "anonymous_id": key, **fields})  # fmt: skip

    buys = rng.random() < (0.5 if researcher else 0.1)
    emit("page_viewed")
    for _ in range(rng.randrange(1, 4)):
        emit("product_viewed", product=product(f"p{rng.randrange(20)}"))
    if researcher:
        emit("product_compared")
        emit("reviews_viewed", product=product("p1"))
    if buys or rng.random() < 0.4:
        item = product(f"p{rng.randrange(20)}", float(rng.randrange(10, 200)))
        emit("cart_item_added", product=item)
        emit("cart_viewed")
        if buys:
            emit("checkout_started")
            emit("payment_info_entered")
            emit("order_completed", order=order(f"o-{n}", item))
    return events


def planted(visits: int, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = [
        e for n in range(visits) for e in shopper(rng, n, n * 20_000, researcher=rng.random() < 0.3)
    ]
    return sorted(events, key=lambda e: e["occurred_at"])


class Run:
    """The engine over `events` in time order, and the records it published."""

    def __init__(
        self, events: list[dict[str, Any]], policy: PropensityPolicy, end: bool = True
    ) -> None:
        self.engine = JourneyEngine(JourneyPolicy(propensity=policy))
        self.end = end
        self.scores: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.closed = 0
        self.out = Outputs()
        self.feed(events)

    def feed(self, events: list[dict[str, Any]]) -> None:
        out = self.out
        for data in events:
            e = Event.from_dict(data)
            self.engine.on_event(e, out, e.occurred_at)
            self.take(out)
        if self.end:
            self.engine.on_eof(out)
            self.take(out)

    def take(self, out: Outputs) -> None:
        self.scores += [score_record(s) for s in out.scores]
        for decision in out.decisions:
            output, _key, record = encoded(decision)
            if output == Output.SESSIONS:
                self.sessions.append(record)
            elif record.get("type") == RecordType.CART_ABANDONED:
                self.alerts.append(record)
            self.closed += isinstance(decision, SessionClosed)
        out.scores.clear()
        out.decisions.clear()


def test_a_planted_buying_signal_beats_the_cart_rule_and_no_label_is_lost():
    events = planted(4000)
    assert len(events) > 20_000
    run = Run(events, PropensityPolicy(min_labels=100))
    models = run.engine.propensity
    assert models is not None and models.session.publishing
    closed = run.out.counts[Count.SESSIONS_CLOSED] + run.out.counts[Count.SESSIONS_OVER_CAP]
    assert models.session.seen == closed == run.closed == 4000
    figures = scores_evaluation(run.scores, run.sessions)
    assert figures["labels"] > 5000
    # the rule sees the cart only; the model also sees the research that drives buying
    assert figures["auc"] > figures["rule_auc"] + 0.05, figures
    assert figures["calibration_error"] < 0.1, figures
    first = run.scores[0]
    assert first["labels_seen"] >= 200 and first["checkout_step"] in ("none", "cart")


def test_alerts_carry_their_sessions_last_score_and_no_score_follows_an_order():
    run = Run(planted(2000), PropensityPolicy(min_labels=100))
    last: dict[str, float] = {}
    for score in run.scores:
        last[score["session_id"]] = score["score"]
    with_score = [a for a in run.alerts if a["purchase_propensity"] is not None]
    assert run.alerts[0]["purchase_propensity"] is None  # before the model publishes
    assert len(with_score) > 100
    for alert in with_score:
        assert alert["purchase_propensity"] == last[alert["session_id"]]
    ordered = {(e["anonymous_id"], e["occurred_at"]) for e in planted(2000)
               if e["event_type"] == "order_completed"}  # fmt: skip
    scored_after = [
        s for s in run.scores
        if any(k == s["journey_key"] and t < parse_time(s["occurred_at"]) for k, t in ordered)
    ]  # fmt: skip
    assert not scored_after


def test_a_restored_model_scores_as_the_one_that_kept_running():
    events = planted(1500)
    half = len(events) // 2
    whole = Run(events, PropensityPolicy(min_labels=50))
    first = Run(events[:half], PropensityPolicy(min_labels=50), end=False)
    snapshot = first.engine.snapshot()
    assert snapshot.models is not None and first.engine.propensity is not None
    assert snapshot.evaluations is not None  # the first: at least one label since none
    evaluations = snapshot.evaluations
    states = [state for _key, state in snapshot.states if state is not None]
    resumed = Run([], PropensityPolicy(min_labels=50), end=False)
    resumed.engine.restore(states, first.engine.watermark, models=snapshot.models,
                           evaluations=evaluations)  # fmt: skip
    resumed.end = True
    resumed.feed(events[half:])
    assert first.scores + resumed.scores == whole.scores
    assert resumed.engine.propensity and whole.engine.propensity
    assert resumed.engine.propensity.report() == whole.engine.propensity.report()


DAY = 86_400_000


def test_a_customers_days_are_labelled_once_their_seven_days_passed():
    """Active on days 0 (an order), 3 and 20: the event of day 20 labels days 1 to 13; the
    journey removed on day 40 labels days 14 to 33 and loses 34 to 48."""
    policy = JourneyPolicy(propensity=PropensityPolicy())
    state, out = JourneyState(key="c-1"), Outputs()
    shoe = product("shoe", 80.0)
    for n, (day, kind, fields) in enumerate([
        (0, "order_completed", {"order": order("o-1", shoe)}),
        (3, "page_viewed", {}),
        (20, "page_viewed", {}),
    ]):  # fmt: skip
        process(state, event(kind, day * DAY, event_id=f"e-{n}", **fields), 0, policy, out)
    assert len(out.daily_scoring) == 2  # the first events of days 3 and 20
    assert len(out.daily) == 13  # days 1-13, each active in the 28 days before it
    assert not any(bought for _x, bought, _gone in out.daily)  # the order came before them
    churn = [gone for _x, _bought, gone in out.daily]
    assert churn == [False] * 3 + [True] * 7 + [None] * 3  # 1-3 see day 3; 11-13: not active
    features = dict(zip(DAILY_FEATURES, out.daily[0][0], strict=True))  # day 1
    assert features["active_days_28d"] == 1 and features["no_order_28d"] == 0.0
    assert features["orders_28d"] == pytest.approx(0.693147)
    retired = Outputs()
    retire(state, (T0 // DAY + 40) * DAY, retired)  # removed on day 40
    assert len(retired.daily) == 20  # days 14-33
    assert [gone for _x, _b, gone in retired.daily if gone is not None] == [True] * 7  # 21-27
    assert retired.counts[Count.DAILY_LABELS_LOST] == 15  # 34-48: within 28 days of day 20
