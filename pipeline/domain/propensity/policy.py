"""How the session purchase model scores, learns and publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CHURN_7D", "MODELS", "PURCHASE_7D", "SESSION_PURCHASE", "Features", "PropensityPolicy"]

SESSION_PURCHASE: Final = "session_purchase"
"""Whether an open session ends with an order; baseline: cart and checkout alone."""
PURCHASE_7D: Final = "purchase_7d"
"""Whether a customer active in the last 28 days orders in the next 7; baseline: their
orders in the last 28 days."""
CHURN_7D: Final = "churn_7d"
"""Whether a customer active in the last 7 days is not seen in the next 7; baseline: days
since they were last seen."""
MODELS: Final = (SESSION_PURCHASE, PURCHASE_7D, CHURN_7D)

Features = tuple[float, ...]
"""What a model sees of a journey: a tuple of plain floats (the cyclic collector leaves it
alone once it looked at it)."""


@dataclass(frozen=True, slots=True)
class PropensityPolicy:
    step: float = 0.05
    """A session's score is published again once it moved this much since its last one (and
    on every cart and checkout event)."""
    min_labels: int = 200
    """A model publishes once it learned this many examples of each outcome."""
    evaluation: int = 10_000
    """The latest labels the rolling evaluation (AUC, log loss, calibration) is computed on."""
    learning_rate: float = 0.01
    l2: float = 1e-4
