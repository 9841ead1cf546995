"""How the session purchase model scores, learns and publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CART_RULE", "SESSION_PURCHASE", "PropensityPolicy"]

SESSION_PURCHASE: Final = "session_purchase"
"""The model scoring whether an open session ends with an order."""
CART_RULE: Final = "cart_rule"
"""The baseline it is measured against: cart and checkout alone (`features.cart_rule`)."""


@dataclass(frozen=True, slots=True)
class PropensityPolicy:
    step: float = 0.05
    """A session's score is published again once it moved this much since its last one (and
    on every cart and checkout event)."""
    min_labels: int = 200
    """Scores are published once the model learned this many sessions that converted and this
    many that did not."""
    evaluation: int = 10_000
    """The latest labels the rolling evaluation (AUC, log loss, calibration) is computed on."""
    learning_rate: float = 0.01
    l2: float = 1e-4
