"""Purchase propensity scored inside the session: features of the journey state
(`features`), an online logistic model (`model`), its rolling evaluation (`evaluation`),
and the engine's part that scores, learns and publishes (`scorer`).

Import the modules themselves: `journey_state` needs `policy` before the others can load.
"""
