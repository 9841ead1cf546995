"""An online logistic regression on standardized features, learned one label at a time.

The scaler keeps each feature's running mean and variance (Welford) and is updated by
every label before the weights are; the weights follow plain stochastic gradient
descent on the log loss with an L2 penalty. Lists of floats, so that mypyc compiles
the loops to native arithmetic; `to_data` is exact through JSON.
"""

from __future__ import annotations

from math import exp, sqrt
from typing import Any

from .policy import Features

__all__ = ["OnlineLogistic", "sigmoid"]


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + exp(-x))
    e = exp(x)
    return e / (1.0 + e)


class OnlineLogistic:
    def __init__(self, size: int, learning_rate: float, l2: float) -> None:
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seen = 0
        self.mean = [0.0] * size
        self.m2 = [0.0] * size
        self.weights = [0.0] * size
        self.bias = 0.0
        self.slopes = [0.0] * size
        """The weights over the raw features (weight / standard deviation), and with
        `intercept` the model as one dot product: `predict` costs one pass, no list."""
        self.intercept = 0.0

    def standardized(self, x: Features) -> list[float]:
        mean, m2, n = self.mean, self.m2, self.seen
        z = [0.0] * len(x)
        if n < 2:
            return z
        for i in range(len(x)):
            variance = m2[i] / n
            if variance > 0.0:
                z[i] = (x[i] - mean[i]) / sqrt(variance)
        return z

    def contributions(self, x: Features) -> list[float]:
        """Each feature's share of the log-odds at `x` (weight times standardized value)."""
        slopes, mean = self.slopes, self.mean
        return [slopes[i] * (x[i] - mean[i]) for i in range(len(slopes))]

    def predict(self, x: Features) -> float:
        slopes = self.slopes
        s = self.intercept
        for i in range(len(slopes)):
            s += slopes[i] * x[i]
        return sigmoid(s)

    def _fold(self) -> None:
        """The standardization folded into the weights (`slopes`, `intercept`)."""
        mean, m2, n, weights = self.mean, self.m2, self.seen, self.weights
        intercept = self.bias
        for i in range(len(weights)):
            variance = m2[i] / n if n >= 2 else 0.0
            slope = weights[i] / sqrt(variance) if variance > 0.0 else 0.0
            self.slopes[i] = slope
            intercept -= slope * mean[i]
        self.intercept = intercept

    def learn(self, x: Features, label: bool) -> None:
        self.seen += 1
        n = self.seen
        mean, m2 = self.mean, self.m2
        for i in range(len(x)):
            delta = x[i] - mean[i]
            mean[i] += delta / n
            m2[i] += delta * (x[i] - mean[i])
        rate, l2, weights = self.learning_rate, self.l2, self.weights
        z = self.standardized(x)
        s = self.bias
        for i in range(len(z)):
            s += weights[i] * z[i]
        error = sigmoid(s) - (1.0 if label else 0.0)
        for i in range(len(z)):
            weights[i] -= rate * (error * z[i] + l2 * weights[i])
        self.bias -= rate * error
        self._fold()

    def to_data(self) -> list[Any]:
        return [self.seen, self.mean, self.m2, self.weights, self.bias]

    def restore(self, data: list[Any]) -> bool:
        """Take over `to_data`'s values; False (and nothing taken) if they are of another
        feature set."""
        if len(data[1]) != len(self.mean):
            return False
        self.seen = data[0]
        self.mean, self.m2, self.weights = list(data[1]), list(data[2]), list(data[3])
        self.bias = data[4]
        self._fold()
        return True
