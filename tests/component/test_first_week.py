"""What a new user meets past the demo: a wrong path, no broker, the wrong input format.
Each gets one line that names the thing and the fix, and no traceback."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.tools.generate import generate

from ..certificates import KEY_PASSWORD, make_certificates
from ..conftest import DATA
from ..support import free_port, read_jsonl, settings_from

JOURNEY = Path(sys.executable).parent / "journey"
RULES = Path(__file__).resolve().parents[2] / "pipeline" / "domain" / "default_stage_rules.json"


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


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


MTLS = {
    "JOURNEY_KAFKA_SECURITY_PROTOCOL": "SSL",
    "JOURNEY_KAFKA_SSL_CERTFILE": "{client_cert}",
    "JOURNEY_KAFKA_SSL_KEYFILE": "{client_key}",
}


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"JOURNEY_KAFKA_SSL_CAFILE": "/nope.pem"}, ("JOURNEY_KAFKA_SSL_CAFILE", "/nope.pem")),
        ({"JOURNEY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, ("JOURNEY_KAFKA_SASL_USERNAME",)),
        ({**MTLS, "JOURNEY_KAFKA_SSL_PASSWORD": "wrong"},
         ("JOURNEY_KAFKA_SSL_CERTFILE", "{client_cert}", "JOURNEY_KAFKA_SSL_PASSWORD")),
        ({**MTLS, "JOURNEY_KAFKA_SSL_KEYFILE": "{server_key}", "JOURNEY_KAFKA_SSL_PASSWORD":
          KEY_PASSWORD}, ("not a certificate and its key", "{server_key}")),
        ({**MTLS, "JOURNEY_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "JOURNEY_KAFKA_SSL_PASSWORD":
          KEY_PASSWORD}, ("JOURNEY_KAFKA_SSL_CERTFILE needs", "SSL")),
        ({"JOURNEY_KAFKA_SSL_KEYFILE": "{client_key}"}, ("without JOURNEY_KAFKA_SSL_CERTFILE",)),
        ({"JOURNEY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "JOURNEY_KAFKA_SASL_MECHANISM":
          "OAUTHBEARER"}, ("JOURNEY_KAFKA_SASL_OAUTH_TOKEN_FILE",)),
    ],
    ids=["missing CA file", "SASL without a user", "wrong key password",
         "key of another certificate", "client certificate in plain text", "key alone",
         "OAUTHBEARER without a token"],
)  # fmt: skip
def test_files_and_credentials_are_checked_at_start(env, words, certs):
    paths = {name: str(path) for name, path in vars(certs).items()}
    env = {name: value.format(**paths) for name, value in env.items()}
    one_line_error(journey("settings", **env), *(word.format(**paths) for word in words))


def test_a_command_validates_only_the_settings_it_uses(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(r.value + b"\n" for r in generate(50, 5)))
    offline = journey(
        "process", "--input", str(events), "--output-dir", str(tmp_path / "out"),
        JOURNEY_WEB_PORT="99999", JOURNEY_KAFKA_SSL_CAFILE="/nope.pem",
    )  # fmt: skip
    assert offline.returncode == 0, offline.stderr
    one_line_error(journey("worker", JOURNEY_WEB_PORT="99999"), "JOURNEY_WEB_PORT", "99999")


def test_the_settings_in_effect_print_as_lines_to_paste_back():
    changed = {"JOURNEY_SESSION_GAP": "45m", "JOURNEY_LATENESS": "90s", "JOURNEY_PARTITIONS": "3"}
    result = journey("settings", **changed)
    assert result.returncode == 0, result.stderr
    pasted = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert {name: pasted[name] for name in changed} == changed
    assert settings_from(pasted) == settings_from(changed)


@pytest.mark.parametrize("command", ["run", "worker"])
def test_run_and_worker_check_the_rules_file_before_they_start_anything(command, tmp_path):
    broken = tmp_path / "rules.json"
    broken.write_text('{"rules": "not a list"}')
    result = journey(command, JOURNEY_STAGE_RULES=str(broken))
    one_line_error(result, str(broken))


def test_a_misspelt_event_type_in_the_rules_is_warned_about_and_its_rule_counts_zero(tmp_path):
    """The backtest shows the dead rule: matches per rule, with the typo's rule at 0 where
    the file as shipped matches."""
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(r.value + b"\n" for r in generate(3000, 100)))
    document = json.loads(RULES.read_text())
    for rule in document["rules"]:
        rule["event_types"] = [
            "order_refundd" if t == "order_refunded" else t for t in rule["event_types"]
        ]
    typo = tmp_path / "rules.json"
    typo.write_text(json.dumps(document))
    runs = {}
    for name, rules in (("shipped", RULES), ("typo", typo)):
        result = journey("process", "--input", str(events), "--output-dir",
                         str(tmp_path / name), "--rules", str(rules), "--json")  # fmt: skip
        assert result.returncode == 0, result.stderr
        runs[name] = (json.loads(result.stdout)["matches_by_rule"], result.stderr)
    (shipped, quiet), (typoed, warned) = runs["shipped"], runs["typo"]
    assert "warning" not in quiet
    assert "'order_refundd'" in warned and "did you mean 'order_refunded'?" in warned
    assert shipped["refund"] > 0 and typoed["refund"] == 0
    assert {r for r, n in shipped.items() if n != typoed[r]} == {"refund"}
    assert set(shipped) == {rule["id"] for rule in document["rules"]}


@pytest.mark.parametrize("fmt", ["rees46", "snowplow"])
def test_a_csv_row_that_does_not_match_the_header_is_a_dead_letter_naming_its_line(fmt, tmp_path):
    source = DATA / ("rees46-sample.csv" if fmt == "rees46" else "snowplow-sample.csv")
    lines = source.read_text().splitlines()
    header, good = lines[0], lines[1:6]
    longer, shorter = good[0] + ",extra", ",".join(good[1].split(",")[:3])
    text = "\n".join([header, good[0], longer, "", shorter, *good[2:]]) + "\n"
    csv_file = tmp_path / f"input.{fmt}.csv"
    csv_file.write_text(text)
    result = journey("process", "--format", fmt, "--input", str(csv_file), "--output-dir",
                     str(tmp_path / "out"), "--json")  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    dead = read_jsonl(tmp_path / "out" / "dead-letter.jsonl")
    rows = {d["offset"]: d for d in dead if d["reason"] == "malformed_row"}
    width = len(header.split(","))
    assert set(rows) == {3, 5}, dead  # file lines: the header is 1, a blank line is 4
    assert rows[3]["error"] == f"line 3 has {width + 1} fields; the header has {width}"
    assert rows[5]["error"] == f"line 5 has 3 fields; the header has {width}"
    assert base64.b64decode(rows[3]["original"]).decode() == longer
    summary = json.loads(result.stdout)
    assert summary["records"] - summary["events_by_outcome"]["invalid"] >= 4


def test_jsonl_dead_letters_name_the_file_line_blank_lines_counted(tmp_path):
    good = [r.value for r in generate(3, 2)]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([good[0], b"", b"{not json", good[1], b"", b"[]", good[2]]))
    result = journey("process", "--input", str(events), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    dead = read_jsonl(tmp_path / "out" / "dead-letter.jsonl")
    assert [(d["offset"], d["reason"]) for d in dead] == [
        (3, "malformed_json"), (6, "not_an_object")
    ]  # fmt: skip
