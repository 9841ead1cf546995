"""The journey core stays pure: standard library only, no clock reads, in every module
under `pipeline/domain/`, its subpackages included."""

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pipeline.domain
from pipeline.compiled import ENCODER, WORKER

DOMAIN = Path(pipeline.domain.__file__).parent
CLOCK_CALLS = {"time", "time_ns", "monotonic", "now", "utcnow", "today", "perf_counter"}


def _modules() -> list[Path]:
    return sorted(DOMAIN.rglob("*.py"))


def _imported(source: str) -> Iterator[str]:
    """The absolute module names a source imports (relative imports are the core's own)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""


def _foreign(source: str) -> list[str]:
    """What a source imports that is neither the standard library nor relative."""
    return [name for name in _imported(source) if name.split(".")[0] not in sys.stdlib_module_names]


def test_the_check_walks_subpackages_and_refuses_any_library():
    assert any(path.parent.name == "analytics" for path in _modules())
    source = "import json\nimport orjson\nfrom msgspec import Struct\nimport zstandard, aiohttp\n"
    source += "from . import events\nfrom pipeline.domain import events\n"
    assert _foreign(source) == ["orjson", "msgspec", "zstandard", "aiohttp", "pipeline.domain"]


def test_domain_imports_nothing_but_the_standard_library_and_itself():
    for path in _modules():
        foreign = _foreign(path.read_text())
        assert not foreign, f"{path.relative_to(DOMAIN)} imports {foreign} (relative imports only)"


def test_domain_never_reads_the_clock():
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = path.relative_to(DOMAIN)
                assert node.func.attr not in CLOCK_CALLS, f"{name} calls .{node.func.attr}()"


def test_the_compiled_modules_outside_the_core_import_only_the_standard_library_and_it():
    """`pipeline.contract.records` and the worker's `WORKER` modules are compiled with the
    core: the same rules hold for them (their relative imports reach the core only)."""
    for path in (ENCODER, *WORKER):
        source = path.read_text()
        assert not _foreign(source), path.name
        relative = [
            (node.level, node.module or "")
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.level
        ]
        assert all(level == 2 and module.split(".")[0] == "domain"
                   for level, module in relative), (path.name, relative)  # fmt: skip
