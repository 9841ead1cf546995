"""Load the journey core compiled by mypyc (`make core`) when its build is fresh.

The build (`pipeline.tools.compile_core`) writes extension modules and a manifest
into `pipeline/_core/`; the sources stay the only code in the tree. At import
this module checks the manifest against the sources and the interpreter: when
they agree, a finder ahead of the path hands out the compiled modules of
`pipeline.domain`, of `pipeline.contract.records` (the encoder of the core's
decisions, standard library only like the core) and of the worker's event time
and input positions (`WORKER`); otherwise the pure-Python sources run and
`MODE` says why.
`JOURNEY_PURE=1` asks for the sources whatever the build.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["BUILD", "CORE", "ENCODER", "MODE", "WORKER", "compiled_sources", "source_digests"]

PACKAGE = Path(__file__).parent
CORE = PACKAGE / "domain"
ENCODER = PACKAGE / "contract" / "records.py"
WORKER = (PACKAGE / "worker" / "event_time.py", PACKAGE / "worker" / "positions.py")
"""The worker's modules on the path of every record, standard library and core only: event
time across partitions and input positions."""
BUILD = PACKAGE / "_core"
MANIFEST = "manifest.json"


def compiled_sources() -> list[Path]:
    """The modules mypyc compiles: the core's, without the package `__init__`s, the
    encoder of its decisions, and the worker's per-record bookkeeping (`WORKER`)."""
    core = [p for p in CORE.rglob("*.py") if p.name != "__init__.py"]
    return sorted([*core, ENCODER, *WORKER])


def source_digests() -> dict[str, str]:
    """sha256 of every compiled source, by its path under `pipeline/`."""
    return {
        path.relative_to(PACKAGE).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in compiled_sources()
    }


class _CompiledFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules by name; every other import goes on as usual."""

    def __init__(self, modules: dict[str, Path]) -> None:
        self.modules = modules

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        where = self.modules.get(fullname)
        return None if where is None else importlib.util.spec_from_file_location(fullname, where)


def _fresh_build() -> tuple[dict[str, Path] | None, str]:
    """The compiled modules by name, or None and why the sources run instead."""
    if os.environ.get("JOURNEY_PURE", "") not in ("", "0"):
        return None, "pure (JOURNEY_PURE is set)"
    try:
        manifest = json.loads((BUILD / MANIFEST).read_text())
        tag, sources, files = manifest["cache_tag"], manifest["sources"], manifest["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, "pure (no compiled build: `make core` compiles the core)"
    if tag != sys.implementation.cache_tag:
        return None, f"pure (the build is for {tag}, not this interpreter)"
    stale = sorted({name for name, _ in source_digests().items() ^ sources.items()})
    if stale:
        return None, f"pure (the build is stale: {stale[0]} changed; `make core` rebuilds it)"
    modules = {name: BUILD / file for name, file in files.items()}
    missing = [str(path) for path in modules.values() if not path.exists()]
    if missing:
        return None, f"pure (the build is incomplete: {missing[0]} is missing)"
    return modules, "compiled"


def _install() -> str:
    modules, mode = _fresh_build()
    if modules is not None:
        if "pipeline.domain" in sys.modules:
            return "pure (the core was imported before the compiled build could load)"
        sys.meta_path.insert(0, _CompiledFinder(modules))
    return mode


MODE = _install()
"""`compiled`, or `pure (...)` with the reason the sources run."""
