"""The settings as text: the README's table, lines to paste back, warnings about
`JOURNEY_*` variables that are not settings."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from .config import ENV_NAMES, PREFIX, Settings, env_name

__all__ = ["env_lines", "settings_markdown", "unknown_settings"]


def settings_markdown() -> str:
    """The settings table for the README."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = "unset" if field.default is None else f"`{field.default}`"
        rows.append(f"| `{env_name(name)}` | {default} | {field.description} |")
    return "\n".join(rows)


_READ_ELSEWHERE = ("JOURNEY_PURE",)
"""Variables of the project read outside the settings (at import: `pipeline.compiled`)."""


def unknown_settings(env: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each `JOURNEY_*` variable that is not a setting (a typo is otherwise
    ignored without a word), with the closest name."""
    env = os.environ if env is None else env
    warnings = []
    for name in sorted(env):
        if name.startswith(PREFIX) and name not in ENV_NAMES and name not in _READ_ELSEWHERE:
            close = difflib.get_close_matches(name, ENV_NAMES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings


def env_lines(settings: BaseSettings) -> list[str]:
    """The settings in effect as `JOURNEY_…=value` lines a shell or an env file takes back
    (secrets masked, unset ones as comments)."""
    lines = []
    shown: dict[str, Any] = settings.model_dump(mode="json")
    for name, value in shown.items():
        if value is None:
            lines.append(f"# {env_name(name)} is unset")
        elif isinstance(getattr(settings, name), SecretStr):
            lines.append(f"{env_name(name)}=***")
        else:
            lines.append(f"{env_name(name)}={value}")
    return lines
