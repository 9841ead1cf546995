"""Loading an operator's stage-rules file: JSON Schema first, then the core's own checks."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from ..domain import StageRules
from .codec import load_schema

__all__ = ["RulesFileError", "load_rules"]


class RulesFileError(ValueError):
    """A rules file that cannot be used; the message names the file and the problem."""


def load_rules(path: Path) -> StageRules:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise RulesFileError(f"stage rules {path}: cannot read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise RulesFileError(f"stage rules {path}: not valid JSON ({error})") from None
    validator = jsonschema.Draft202012Validator(load_schema("stage-rules.v1"))
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        where = "/".join(map(str, first.absolute_path)) or "(top)"
        raise RulesFileError(
            f"stage rules {path}: {where}: {first.message}"
            + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    try:
        return StageRules.from_dict(document)
    except ValueError as error:
        raise RulesFileError(f"{path}: {error}") from None
