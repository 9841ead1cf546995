"""Shared fixtures: schema validators and an offline run over generated data."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import orjson
import pytest
from click.testing import CliRunner

from pipeline import CORE_MODE
from pipeline.cli import main
from pipeline.contract.codec import load_schema
from pipeline.tools.generate import generate

DATA = Path(__file__).parent / "data"

SCHEMA_OF_FILE = {
    "stage-transitions.jsonl": "stage-transition.v1",
    "cart-abandonments.jsonl": "cart-alert.v1",
    "sessions.jsonl": "session.v1",
    "dead-letter.jsonl": "dead-letter.v1",
    "paths.jsonl": "paths.v3",
    "funnels.jsonl": "funnel-window.v1",
    "voc.jsonl": "voc.v1",
}


def pytest_report_header():
    return f"journey core: {CORE_MODE}"


@pytest.fixture(scope="session")
def validators():
    """A strict JSON Schema 2020-12 validator per schema name."""

    def make(name):
        schema = load_schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        return jsonschema.Draft202012Validator(schema)

    names = {*SCHEMA_OF_FILE.values(), "clickstream-event.v1", "customer-view.v1"}
    return {name: make(name) for name in names}


def run_process(tmp_path: Path, input_path: Path, *args: str) -> tuple[dict, Path]:
    out_dir = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["process", "--input", str(input_path), "--output-dir", str(out_dir), "--json", *args]
    )
    assert result.exit_code == 0, result.output
    return orjson.loads(result.output), out_dir


@pytest.fixture(scope="session")
def generated_run(tmp_path_factory):
    """20k generated events (1 % malformed) through `journey process`."""
    tmp = tmp_path_factory.mktemp("generated")
    source = tmp / "events.jsonl"
    source.write_bytes(
        b"".join(r.value + b"\n" for r in generate(20_000, 800, seed=3, malformed=0.01))
    )
    summary, out_dir = run_process(tmp, source)
    return source, summary, out_dir
