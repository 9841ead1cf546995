"""The compiled core: loaded only while its build matches the sources, and identical to them."""

from __future__ import annotations

import importlib.machinery
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pipeline.domain.analytics.table
import pipeline.domain.engine
from pipeline import CORE_MODE, compiled

JOURNEY = Path(sys.executable).parent / "journey"
EXTENSION = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def test_the_mode_says_which_code_runs():
    loaded = [pipeline.domain.engine.__file__, pipeline.domain.analytics.table.__file__]
    if CORE_MODE == "compiled":
        assert all(path.endswith(EXTENSION) for path in loaded), loaded
    else:
        assert all(path.endswith(".py") for path in loaded), (CORE_MODE, loaded)


def test_journey_pure_runs_the_sources():
    probe = "import pipeline, pipeline.domain.engine as e; print(pipeline.CORE_MODE, e.__file__)"
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "JOURNEY_PURE": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.startswith("pure (JOURNEY_PURE is set)") and shown.rstrip().endswith(".py")


def _manifest(tmp_path, monkeypatch, **changes):
    monkeypatch.delenv("JOURNEY_PURE", raising=False)
    monkeypatch.setattr(compiled, "BUILD", tmp_path)
    (tmp_path / "core.so").write_bytes(b"")
    manifest = {
        "cache_tag": sys.implementation.cache_tag,
        "sources": compiled.source_digests(),
        "modules": {"pipeline.domain.engine": "core.so"},
    }
    (tmp_path / compiled.MANIFEST).write_text(json.dumps({**manifest, **changes}))


def test_a_fresh_build_is_used(tmp_path, monkeypatch):
    _manifest(tmp_path, monkeypatch)
    modules, mode = compiled._fresh_build()
    assert mode == "compiled" and modules == {"pipeline.domain.engine": tmp_path / "core.so"}


def test_a_stale_build_names_the_changed_source(tmp_path, monkeypatch):
    sources = compiled.source_digests()
    sources["domain/engine.py"] = "0" * 64
    _manifest(tmp_path, monkeypatch, sources=sources)
    assert compiled._fresh_build() == (
        None,
        "pure (the build is stale: domain/engine.py changed; `make core` rebuilds it)",
    )


def test_a_build_for_another_interpreter_or_missing_is_not_used(tmp_path, monkeypatch):
    _manifest(tmp_path, monkeypatch, cache_tag="cpython-399")
    assert compiled._fresh_build() == (
        None,
        "pure (the build is for cpython-399, not this interpreter)",
    )
    (tmp_path / compiled.MANIFEST).write_text("{")
    assert compiled._fresh_build()[1].startswith("pure (no compiled build")
    _manifest(tmp_path, monkeypatch, modules={"pipeline.domain.engine": "gone.so"})
    assert compiled._fresh_build()[1].startswith("pure (the build is incomplete")


def test_outputs_are_the_same_bytes_compiled_or_pure_under_any_hash_seed(generated_run, tmp_path):
    """Offline output is one byte sequence: the compiled core (when built) with one string-hash
    seed against the sources with another (set and dict order must never leak out); only the
    dead letters' receipt times differ."""
    source, _summary, first = generated_run
    again = tmp_path / "pure"
    subprocess.run(
        [JOURNEY, "process", "--input", str(source),
         "--output-dir", str(again)],
        env={**os.environ, "JOURNEY_PURE": "1", "PYTHONHASHSEED": "12345"},
        capture_output=True,
        check=True,
    )  # fmt: skip
    names = sorted(path.name for path in first.iterdir())
    assert names == sorted(path.name for path in again.iterdir())
    for name in names:
        assert _without_wall_clock(first / name) == _without_wall_clock(again / name), name


def _without_wall_clock(path: Path) -> bytes:
    """The file's bytes less the dead letters' `received_at` (the wall clock of the run)."""
    return re.sub(rb'"received_at":"[^"]*"', b"", path.read_bytes())
