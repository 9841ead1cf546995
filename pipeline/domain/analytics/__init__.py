"""The journey analytics: paths, funnels and the voice of the customer in event-time windows.

The core reports facts (`facts`); an `AnalyticsTable` per part counts them into
tumbling windows and writes each window's records when it closes; `rollup`
merges parts and windows for readers.
"""

from .nodes import DIMENSIONS, EXIT, OTHER, START, PageRules
from .policy import STAGES_FUNNEL, AnalyticsPolicy, Funnel, default_document, funnels_from_dict
from .table import AnalyticsTable
from .window import Window

__all__ = [
    "DIMENSIONS",
    "EXIT",
    "OTHER",
    "START",
    "STAGES_FUNNEL",
    "AnalyticsPolicy",
    "AnalyticsTable",
    "Funnel",
    "PageRules",
    "Window",
    "default_document",
    "funnels_from_dict",
]
