"""`journey process`: the journey core over files (the oracle the worker is held to)."""
