"""requirements.lock (what `make install` installs, hashes checked) keeps step with
pyproject.toml: every declared dependency pinned to a version it allows, every pin hashed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]


def pins() -> dict[str, tuple[str, int]]:
    """Locked name -> (version, number of hashes)."""
    found: dict[str, tuple[str, int]] = {}
    name = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", line)
        if pin:
            name = canonicalize_name(pin[1])
            found[name] = (pin[2], 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
    return found


def test_every_declared_dependency_is_pinned_with_hashes_to_an_allowed_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    locked = pins()
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: run make lock"
        version, _ = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} does not satisfy {text!r}: run make lock"
        )
    unhashed = [name for name, (_v, hashes) in locked.items() if hashes == 0]
    assert not unhashed, f"pins without a hash: {unhashed}"
