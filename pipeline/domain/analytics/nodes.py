"""Touchpoint nodes: what an event is in each path dimension, and page normalisation.

A page node is the URL's path with the query and fragment stripped, every segment
that looks like an id replaced by `:id` (the patterns of the page rules), then
aliases applied (`/index.html` -> `/`). Events without a page have no page node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["DIMENSIONS", "EXIT", "OTHER", "START", "TOUCHPOINTS", "PageRules", "url_path"]

START: Final = "(start)"
EXIT: Final = "(exit)"
OTHER: Final = "(other)"

DIMENSIONS: Final = ("event_type", "page", "channel", "stage")
"""The path dimensions, in the order of a trail entry's fields after its time."""

TOUCHPOINTS: Final = ("event_type", "page")
"""The dimensions whose nodes are touchpoints: node records (visits, exits, support
contacts) are kept for them, and friction is judged on them."""


_URLS_MEMO: Final = 10_000
_paths: dict[str, str | None] = {}
"""URL -> path, for the URLs seen lately (a site's pages repeat; splitting one costs more
than the rest of counting the event)."""


def url_path(url: object) -> str | None:
    """The path of a page URL (absolute or relative), without query or fragment."""
    if not isinstance(url, str) or not url:
        return None
    if url in _paths:
        return _paths[url]
    if len(_paths) >= _URLS_MEMO:
        _paths.clear()
    try:
        path: str | None = urlsplit(url).path or "/"
    except ValueError:
        path = None
    _paths[url] = path
    return path


@dataclass(frozen=True, slots=True)
class PageRules:
    """How a URL path becomes a page node."""

    id_patterns: tuple[re.Pattern[str], ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> PageRules:
        """From a page-rules document (`schemas/page-rules.v1.json`)."""
        patterns = []
        for pattern in document.get("id_patterns", []):
            try:
                patterns.append(re.compile(pattern))
            except re.error as error:
                raise ValueError(
                    f"id_patterns: {pattern!r} is not a regular expression ({error})"
                ) from None
        return cls(tuple(patterns), dict(document.get("aliases", {})))

    def node(self, path: str) -> str:
        segments = path.rstrip("/").split("/") if path != "/" else [""]
        normal = "/".join(
            ":id" if any(p.fullmatch(s) for p in self.id_patterns) else s for s in segments
        )
        normal = normal or "/"
        return self.aliases.get(normal, normal)
