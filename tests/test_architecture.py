"""The journey core stays pure: standard library only, no clock reads."""

import ast
from pathlib import Path

import pipeline.domain

DOMAIN = Path(pipeline.domain.__file__).parent
FORBIDDEN = {
    "faust",
    "aiokafka",
    "kafka",
    "confluent_kafka",
    "orjson",
    "prometheus_client",
    "fastjsonschema",
    "jsonschema",
    "mode",
    "rich",
    "click",
}
CLOCK_CALLS = {"time", "time_ns", "monotonic", "now", "utcnow", "today", "perf_counter"}


def _modules():
    return sorted(DOMAIN.glob("*.py"))


def test_domain_imports_nothing_but_the_standard_library_and_itself():
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
                assert not name.startswith("pipeline."), f"{path.name}: use relative imports"


def test_domain_never_reads_the_clock():
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in CLOCK_CALLS, f"{path.name} calls .{node.func.attr}()"
