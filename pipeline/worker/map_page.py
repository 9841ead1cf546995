"""The journey map page (`journey_map.html`: plain SVG and script, no build step, no CDN).

Served live at `/` on the worker's web port, where it reads the analytics API; or
written by `journey report` with its data inside, as one static file.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

__all__ = ["SPANS", "map_page"]

_DATA: Final = "/*JOURNEY_DATA*/null"
"""Where a static page's data goes (the live page fetches it instead)."""

SPANS: Final = ("24h", "7d", "28d", "all")
"""The windows the page offers."""


def map_page(data: str | None = None) -> str:
    """The page; with `data` (JSON: per span, the API's answers), a static page of it."""
    page = resources.files(__package__).joinpath("journey_map.html").read_text()
    return page if data is None else page.replace(_DATA, data.replace("</", "<\\/"))
