"""What a new user meets past the demo: a wrong path, no broker, the wrong input format.
Each gets one line that names the thing and the fix, and no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.tools.generate import generate

from ..conftest import DATA
from ..support import free_port

JOURNEY = Path(sys.executable).parent / "journey"


def journey(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    settings = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    return subprocess.run(
        [str(JOURNEY), *args], capture_output=True, text=True, timeout=120, env={**settings, **env}
    )


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def test_an_output_dir_that_names_a_file(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(r.value + b"\n" for r in generate(20, 5)))
    taken = tmp_path / "out.txt"
    taken.write_text("")
    result = journey("process", "--input", str(events), "--output-dir", str(taken))
    one_line_error(result, "--output-dir", str(taken), "is a file", "folder")


@pytest.mark.parametrize("command", [("topics", "create"), ("topics", "list"), ("tail",)])
def test_a_tool_with_no_broker_at_the_configured_address(command):
    address = f"127.0.0.1:{free_port()}"
    result = journey(*command, JOURNEY_KAFKA_BOOTSTRAP=address)
    one_line_error(result, f"no Kafka broker answered at {address}", "JOURNEY_KAFKA_BOOTSTRAP")


@pytest.mark.parametrize(
    ("source", "fmt"), [(DATA / "rees46-sample.csv", "jsonl"), (None, "snowplow")]
)
def test_input_in_another_format_than_said_is_dead_lettered_with_a_hint(source, fmt, tmp_path):
    """A CSV read as JSONL, JSONL read as Snowplow's CSV: every record a dead letter with
    its reason, the run goes on, and the summary asks whether --format is right."""
    if source is None:
        source = tmp_path / "events.jsonl"
        source.write_bytes(b"".join(r.value + b"\n" for r in generate(50, 5)))
    result = journey("process", "--input", str(source), "--format", fmt, "--output-dir",
                     str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    letters = (tmp_path / "out" / "dead-letter.jsonl").read_text().splitlines()
    assert len(letters) > 10
    refused = f"{len(letters)} of {len(letters)} records refused: is the input's --format right?"
    assert refused in result.stdout
    assert "dead-letter.jsonl" in result.stdout


def test_a_second_worker_or_run_on_a_taken_port_fails_at_once():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command in ("worker", "run"):
            result = journey(command, JOURNEY_WEB_PORT=port)
            one_line_error(result, f"port {port}", "is taken", "JOURNEY_WEB_PORT")


def test_a_bad_setting_is_one_line_naming_the_variable_not_a_usage_message():
    result = journey("settings", JOURNEY_SESSION_GAP="half an hour")
    line = one_line_error(result, "JOURNEY_SESSION_GAP", "'half an hour'", "30m")
    assert "Usage" not in line


def test_a_misspelt_variable_is_warned_about_with_the_closest_name():
    result = journey("settings", JOURNEY_SESION_GAP="45m")
    assert result.returncode == 0
    assert "JOURNEY_SESION_GAP is not a setting" in result.stderr
    assert "did you mean JOURNEY_SESSION_GAP?" in result.stderr


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"JOURNEY_KAFKA_SSL_CAFILE": "/nope.pem"}, ("JOURNEY_KAFKA_SSL_CAFILE", "/nope.pem")),
        ({"JOURNEY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, ("JOURNEY_KAFKA_SASL_USERNAME",)),
    ],
)
def test_files_and_credentials_are_checked_at_start(env, words):
    one_line_error(journey("settings", **env), *words)


def test_the_settings_in_effect_print_as_lines_to_paste_back():
    changed = {"JOURNEY_SESSION_GAP": "45m", "JOURNEY_LATENESS": "90s", "JOURNEY_PARTITIONS": "3"}
    result = journey("settings", **changed)
    assert result.returncode == 0, result.stderr
    pasted = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert {name: pasted[name] for name in changed} == changed
    assert Settings.from_env(pasted) == Settings.from_env(changed)


def test_journey_run_checks_the_rules_file_before_it_starts_anything(tmp_path):
    broken = tmp_path / "rules.json"
    broken.write_text('{"rules": "not a list"}')
    result = journey("run", JOURNEY_STAGE_RULES=str(broken))
    one_line_error(result, str(broken))
