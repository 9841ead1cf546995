"""The engine's propensity: scores the events of open sessions, learns closed sessions.

One model per engine (a worker's partition; the whole file offline), part of its state:
`to_data` goes to the changelog with the journeys, so a worker that takes the partition
over goes on from the same weights. Scores are published once the model learned
`min_labels` sessions of each outcome: on every cart and checkout event of a session,
and on any other once the score moved `step` since the session's last published one (at
its first, from the share of sessions that converted: a score at the base rate says
nothing yet).
"""

from __future__ import annotations

from typing import Any

from ..decisions import Score
from ..journey_state import Outputs
from .evaluation import Evaluation, evaluate
from .features import CHECKOUT_STEPS, FEATURES, cart_rule
from .model import OnlineLogistic
from .policy import SESSION_PURCHASE, PropensityPolicy

__all__ = ["LEARNED", "PUBLISHED", "Propensity", "report"]

_DRIVERS = 3
LEARNED = "sessions learned latest, each scored just before the model learned it"
"""What `report`'s evaluation is over."""
PUBLISHED = "published scores, against whether their session converted"
"""What an evaluation of the output records (`contract.scores`) is over."""


class Propensity:
    def __init__(self, policy: PropensityPolicy) -> None:
        self.policy = policy
        self.model = OnlineLogistic(len(FEATURES), policy.learning_rate, policy.l2)
        self.converted = 0
        self.not_converted = 0
        self.evaluation = Evaluation(policy.evaluation)
        self.changed = False
        """Learned something since the last `take_changed`."""

    @property
    def labels_seen(self) -> int:
        return self.converted + self.not_converted

    @property
    def publishing(self) -> bool:
        least = self.policy.min_labels
        return self.converted >= least and self.not_converted >= least

    def learn(self, out: Outputs) -> None:
        """Learn the closed sessions in `out.labels`, each scored first for the evaluation."""
        model, evaluation = self.model, self.evaluation
        for features, converted in out.labels:
            evaluation.add(model.predict(features), cart_rule(features), converted)
            model.learn(features, converted)
            if converted:
                self.converted += 1
            else:
                self.not_converted += 1
        if out.labels:
            self.changed = True
            out.labels.clear()

    def score(self, out: Outputs) -> None:
        """Score the events in `out.scoring` and publish the scores due (`out.scores`)."""
        if not self.publishing:
            out.scoring.clear()
            return
        model, step = self.model, self.policy.step
        base_rate = self.converted / self.labels_seen
        for state, session, event, features, cart_event in out.scoring:
            score = model.predict(features)
            last = base_rate if session.published is None else session.published
            if not cart_event and abs(score - last) < step:
                continue
            session.published = score
            cart = state.cart
            if cart.items and cart.session_id == session.session_id:
                cart.score = score
            out.scores.append(
                Score(
                    state.key,
                    state.customer_id,
                    state.anonymous_id,
                    SESSION_PURCHASE,
                    score,
                    session.session_id,
                    event.event_id,
                    event.occurred_at,
                    self.labels_seen,
                    CHECKOUT_STEPS[cart_rule(features)],
                    self._drivers(features),
                )
            )
        out.scoring.clear()

    def _drivers(self, features: list[float]) -> list[tuple[str, float]]:
        shares = self.model.contributions(features)
        top = sorted(range(len(shares)), key=lambda i: -abs(shares[i]))[:_DRIVERS]
        return [(FEATURES[i], shares[i]) for i in top]

    def report(self) -> dict[str, Any]:
        """Labels learned, and the evaluation over the latest (`Evaluation.summary`)."""
        return report([self])

    def take_changed(self) -> list[Any] | None:
        """The model's state if it learned since the last call (None: unchanged)."""
        if not self.changed:
            return None
        self.changed = False
        return self.to_data()

    def to_data(self) -> list[Any]:
        return [self.model.to_data(), self.converted, self.not_converted]

    def restore(self, data: list[Any]) -> None:
        """Take over `to_data`'s values; a model of another feature set starts over."""
        if self.model.restore(data[0]):
            self.converted, self.not_converted = data[1], data[2]


def report(models: list[Propensity]) -> dict[str, Any]:
    """The labels several engines' models learned, and the evaluation over their latest
    labels together (a worker's partitions)."""
    recent = [entry for model in models for entry in model.evaluation.recent]
    return {
        "model": SESSION_PURCHASE,
        "converted": sum(model.converted for model in models),
        "not_converted": sum(model.not_converted for model in models),
        "publishing": sum(model.publishing for model in models),
        **evaluate([e[0] for e in recent], [e[1] for e in recent], [e[2] for e in recent]),
    }
