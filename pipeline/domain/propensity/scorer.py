"""The engine's propensity models: they score journeys, learn their outcomes, and publish.

`session_purchase` scores the events of open sessions and learns each closed session;
`purchase_7d` and `churn_7d` score a customer's snapshot of the day at their first event
of the day and learn the snapshots whose 7 days have passed (`daily`). One set of models
per engine (a worker's partition; the whole file offline), part of its state: `to_data`
goes to the changelog with the journeys, so a worker that takes the partition over goes
on from the same weights. A model publishes once it learned `min_labels` examples of
each outcome. A session's score goes out on every cart and checkout event, and on any
other once it moved `step` since the session's last published one (at its first, from
the model's base rate: a score at the base rate says nothing yet); a customer's 7-day
scores, once one moved `step` since their last published ones.
"""

from __future__ import annotations

from math import fabs
from typing import Any

from ..decisions import Score
from ..events import Event
from ..journey_state import JourneyState, Outputs
from .daily import DAILY_FEATURES
from .evaluation import Evaluation, evaluate
from .features import CHECKOUT_STEPS, FEATURES, cart_rule
from .model import OnlineLogistic
from .policy import CHURN_7D, PURCHASE_7D, SESSION_PURCHASE, Features, PropensityPolicy

__all__ = ["LEARNED", "PUBLISHED", "Learner", "Propensity", "report"]

LEARNED = "labels learned latest, each scored just before the model learned it"
"""What `report`'s evaluation is over."""
PUBLISHED = "published scores, against whether their session converted"
"""What an evaluation of the output records (`contract.scores`) is over."""
_ORDERS_28D = DAILY_FEATURES.index("orders_28d")
_SINCE_SEEN = DAILY_FEATURES.index("days_since_seen")


class Learner:
    """One model, the labels it learned and its evaluation over the latest."""

    def __init__(self, name: str, features: tuple[str, ...], policy: PropensityPolicy) -> None:
        self.name = name
        self.features = features
        self.least = policy.min_labels
        self.model = OnlineLogistic(len(features), policy.learning_rate, policy.l2)
        self.positive = 0
        self.negative = 0
        self.evaluation = Evaluation(policy.evaluation)

    @property
    def seen(self) -> int:
        return self.positive + self.negative

    @property
    def publishing(self) -> bool:
        return self.positive >= self.least and self.negative >= self.least

    @property
    def base_rate(self) -> float:
        return self.positive / self.seen if self.seen else 0.0

    def learn(self, features: Features, label: bool, rule: float) -> None:
        """Learn one example, scored first (and by the baseline `rule`) for the evaluation."""
        self.evaluation.add(self.model.predict(features), rule, label)
        self.model.learn(features, label)
        if label:
            self.positive += 1
        else:
            self.negative += 1

    def drivers(self, x: Features) -> list[tuple[str, float]]:
        """The three features with the largest shares of the log-odds at `x`, largest first."""
        shares = self.model.contributions(x)
        first = second = third = -1
        largest = larger = large = -1.0
        for i in range(len(shares)):
            size = fabs(shares[i])
            if size > largest:
                third, large, second, larger, first, largest = (
                    second,
                    larger,
                    first,
                    largest,
                    i,
                    size,
                )
            elif size > larger:
                third, large, second, larger = second, larger, i, size
            elif size > large:
                third, large = i, size
        names = self.features
        return [(names[i], shares[i]) for i in (first, second, third) if i >= 0]

    def score(
        self, state: JourneyState, event: Event, session_id: str | None, x: Features,
        score: float, step: str | None,
    ) -> Score:  # fmt: skip
        return Score(state.key, state.customer_id, state.anonymous_id, self.name, score,
                     session_id, event.event_id, event.occurred_at, self.seen, step,
                     self.drivers(x))  # fmt: skip

    def to_data(self) -> list[Any]:
        return [self.model.to_data(), self.positive, self.negative]

    def restore(self, data: list[Any]) -> None:
        """Take over `to_data`'s values; a model of another feature set starts over."""
        if self.model.restore(data[0]):
            self.positive, self.negative = data[1], data[2]


class Propensity:
    def __init__(self, policy: PropensityPolicy) -> None:
        self.policy = policy
        self.session = Learner(SESSION_PURCHASE, FEATURES, policy)
        self.purchase = Learner(PURCHASE_7D, DAILY_FEATURES, policy)
        self.churn = Learner(CHURN_7D, DAILY_FEATURES, policy)
        self.changed = False
        """Learned something since the last `take_changed`."""
        self.evaluated = 0
        """Examples learned when the evaluations were last taken (`take_evaluations`)."""

    @property
    def learners(self) -> tuple[Learner, Learner, Learner]:
        return self.session, self.purchase, self.churn

    def learn(self, out: Outputs) -> None:
        """Learn the closed sessions in `out.labels` and the snapshots in `out.daily`."""
        session, purchase, churn = self.learners
        for features, converted in out.labels:
            session.learn(features, converted, cart_rule(features))
        for features, bought, gone in out.daily:
            purchase.learn(features, bought, features[_ORDERS_28D])
            if gone is not None:
                churn.learn(features, gone, features[_SINCE_SEEN])
        if out.labels or out.daily:
            self.changed = True
            out.labels.clear()
            out.daily.clear()

    def score(self, out: Outputs) -> None:
        """Score what `out.scoring` and `out.daily_scoring` hold, publish what is due."""
        self._sessions(out)
        self._customers(out)

    def _sessions(self, out: Outputs) -> None:
        learner, step = self.session, self.policy.step
        model, base_rate = learner.model, learner.base_rate
        for state, session, event, features, cart_event in out.scoring:
            score = model.predict(features)
            last = base_rate if session.published is None else session.published
            if not cart_event and fabs(score - last) < step:
                continue
            session.published = score
            cart = state.cart
            if cart.items and cart.session_id == session.session_id:
                cart.score = score
            checkout = CHECKOUT_STEPS[cart_rule(features)]
            out.scores.append(learner.score(state, event, session.session_id, features, score,
                                            checkout))  # fmt: skip
        out.scoring.clear()

    def _customers(self, out: Outputs) -> None:
        purchase, churn, step = self.purchase, self.churn, self.policy.step
        for state, event, features in out.daily_scoring:
            scores = [purchase.model.predict(features), churn.model.predict(features)]
            last = state.daily_scores or [purchase.base_rate, churn.base_rate]
            for n, learner in enumerate((purchase, churn)):
                if learner.publishing and fabs(scores[n] - last[n]) >= step:
                    last[n] = scores[n]
                    out.scores.append(learner.score(state, event, None, features, scores[n], None))
            if any(learner.publishing for learner in (purchase, churn)):
                state.daily_scores = last
        out.daily_scoring.clear()

    def report(self) -> list[dict[str, Any]]:
        """Per model: labels learned, and the evaluation over the latest."""
        return report([self])

    def take_changed(self) -> list[Any] | None:
        """The models' state if they learned since the last call (None: unchanged)."""
        if not self.changed:
            return None
        self.changed = False
        return self.to_data()

    def take_evaluations(self, every: int) -> list[Any] | None:
        """The evaluations' labels once `every` examples, or a tenth of those held, were
        learned since they were last taken (None: not yet): written that seldom, as they
        weigh 17 bytes a label."""
        learned = sum(learner.evaluation.added for learner in self.learners)
        held = sum(min(e.added, e.size) for e in (learner.evaluation for learner in self.learners))
        if learned - self.evaluated < min(every, max(held // 10, 1)):
            return None
        self.evaluated = learned
        return [learner.evaluation.to_data() for learner in self.learners]

    def to_data(self) -> list[Any]:
        return [learner.to_data() for learner in self.learners]

    def restore(self, data: list[Any] | None, evaluations: list[Any] | None) -> None:
        """Take over the models' `to_data` and the evaluations last taken."""
        for learner, saved in zip(self.learners, data or [None] * 3, strict=True):
            if saved is not None:
                learner.restore(saved)
        for learner, taken in zip(self.learners, evaluations or [None] * 3, strict=True):
            if taken is not None:
                learner.evaluation.restore(taken)
        self.evaluated = sum(learner.evaluation.added for learner in self.learners)


def report(models: list[Propensity]) -> list[dict[str, Any]]:
    """Per model, the labels several engines' models learned (a worker's partitions), and the
    evaluation over their latest labels together."""
    figures = []
    for n, name in enumerate((SESSION_PURCHASE, PURCHASE_7D, CHURN_7D)):
        learners = [model.learners[n] for model in models]
        recent = [entry for learner in learners for entry in learner.evaluation.recent]
        figures.append({
            "model": name,
            "positive": sum(learner.positive for learner in learners),
            "negative": sum(learner.negative for learner in learners),
            "publishing": sum(learner.publishing for learner in learners),
            **evaluate([e[0] for e in recent], [e[1] for e in recent], [e[2] for e in recent]),
        })  # fmt: skip
    return figures
