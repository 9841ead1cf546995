"""Loading an operator's rules files (stage rules, funnels, page rules): JSON Schema first,
then the core's own checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import jsonschema

from ..domain import StageRules
from ..domain.analytics import Funnel, PageRules, funnels_from_dict
from .codec import load_schema

__all__ = ["RulesFileError", "load_funnels", "load_page_rules", "load_rules"]

T = TypeVar("T")


class RulesFileError(ValueError):
    """A rules file that cannot be used; the message names the file and the problem."""


def _load(path: Path, what: str, schema: str, build: Callable[[dict[str, Any]], T]) -> T:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise RulesFileError(f"{what} {path}: cannot read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise RulesFileError(f"{what} {path}: not valid JSON ({error})") from None
    validator = jsonschema.Draft202012Validator(load_schema(schema))
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        where = "/".join(map(str, first.absolute_path)) or "(top)"
        raise RulesFileError(
            f"{what} {path}: {where}: {first.message}"
            + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    try:
        return build(document)
    except ValueError as error:
        raise RulesFileError(f"{path}: {error}") from None


def load_rules(path: Path) -> StageRules:
    return _load(path, "stage rules", "stage-rules.v1", StageRules.from_dict)


def load_funnels(path: Path) -> tuple[Funnel, ...]:
    return _load(path, "funnels", "funnels.v1", funnels_from_dict)


def load_page_rules(path: Path) -> PageRules:
    return _load(path, "page rules", "page-rules.v1", PageRules.from_dict)
