"""`journey process` end to end on files: contracts, reference models, formats."""

from __future__ import annotations

import base64
import gzip
from collections import defaultdict
from datetime import datetime

import orjson

from ..conftest import DATA, SCHEMA_OF_FILE, run_process
from ..support import read_jsonl

GAP_MS = 30 * 60_000


def test_every_emitted_record_validates_against_its_schema(generated_run, validators):
    _source, _summary, out_dir = generated_run
    for file, schema in SCHEMA_OF_FILE.items():
        records = read_jsonl(out_dir / file)
        assert records, f"{file} is empty"
        for record in records:
            validators[schema].validate(record)


def test_summary_counts_match_the_files_and_nothing_is_dropped(generated_run):
    source, summary, out_dir = generated_run
    lines = source.read_bytes().count(b"\n")
    assert summary["records"] == lines == 20_000
    outcomes = summary["events_by_outcome"]
    assert sum(outcomes.values()) == lines
    dead = read_jsonl(out_dir / "dead-letter.jsonl")
    assert len(dead) == sum(summary["dead_letters_by_reason"].values())
    partial = [d for d in dead if d["reason"] == "partial"]
    assert outcomes["invalid"] == len(dead) - len(partial)
    assert set(summary["dead_letters_by_reason"]) == {
        "malformed_json",
        "missing_field",
        "bad_timestamp",
        "not_an_object",
        "partial",
    }
    assert sum(summary["fields_dropped"].values()) == len(partial), "one part each here"
    originals = {base64.b64decode(d["original"]) for d in dead}
    assert originals <= set(source.read_bytes().splitlines())
    by_output = summary["records_by_output"]
    assert by_output["stage_transitions"] == len(read_jsonl(out_dir / "stage-transitions.jsonl"))
    alerts = read_jsonl(out_dir / "cart-abandonments.jsonl")
    assert by_output["cart_abandoned"] == sum(a["type"] == "cart_abandoned" for a in alerts)
    assert by_output["cart_recovered"] == sum(a["type"] == "cart_recovered" for a in alerts)


def _reference_sessions(
    events_by_key: dict[str, list[int]],
) -> dict[str, list[tuple[int, int, int]]]:
    """GA4/Snowplow's rule, written plainly: a new session after more than 30 min idle."""
    result = {}
    for key, times in events_by_key.items():
        times = sorted(times)
        sessions, start, last, count = [], times[0], times[0], 1
        for t in times[1:]:
            if t - last > GAP_MS:
                sessions.append((start, last, count))
                start, count = t, 0
            last, count = t, count + 1
        sessions.append((start, last, count))
        result[key] = sessions
    return result


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_sessions_agree_with_the_reference_30_minute_model_on_generated_data(generated_run):
    source, _summary, out_dir = generated_run
    ours = defaultdict(list)
    for s in read_jsonl(out_dir / "sessions.jsonl"):
        if s["type"] == "session_closed":
            ours[s["journey_key"]].append(
                (_ms(s["started_at"]), _ms(s["ended_at"]), s["event_count"])
            )
    dead = {
        base64.b64decode(d["original"])
        for d in read_jsonl(out_dir / "dead-letter.jsonl")
        if d["reason"] != "partial"  # processed, without the malformed part
    }
    times = defaultdict(list)
    aliases = {}
    for line in source.read_bytes().splitlines():
        if line in dead:
            continue
        e = orjson.loads(line)
        t = _ms(e["occurred_at"])
        if e.get("customer_id") and e.get("anonymous_id"):
            aliases[e["anonymous_id"]] = e["customer_id"]
        times[(e.get("customer_id"), e.get("anonymous_id"))].append(t)
    by_key = defaultdict(list)
    for (customer, anonymous), ts in times.items():
        by_key[customer or aliases.get(anonymous, anonymous)].extend(ts)
    reference = _reference_sessions(by_key)
    assert {k: sorted(v) for k, v in ours.items()} == reference


def test_rees46_format_orders_stitch_multi_row_purchases_and_recover_carts(tmp_path, validators):
    summary, out_dir = run_process(tmp_path, DATA / "rees46-sample.csv", "--format", "rees46")
    assert summary["events_by_outcome"] == {"ok": 15, "duplicate": 1, "invalid": 1}
    assert summary["dead_letters_by_reason"] == {"bad_timestamp": 1}
    alerts = read_jsonl(out_dir / "cart-abandonments.jsonl")
    by_key = defaultdict(list)
    for a in alerts:
        by_key[a["journey_key"]].append(a["type"])
    assert by_key == {
        "554748717": ["cart_abandoned"],
        "550050854": ["cart_abandoned", "cart_recovered"],
    }
    transitions = read_jsonl(out_dir / "stage-transitions.jsonl")
    first_buyer = [t["to_stage"] for t in transitions if t["journey_key"] == "541312140"]
    assert first_buyer == ["consideration", "purchase"], "one order of two rows, not a repeat order"
    sessions = [
        s for s in read_jsonl(out_dir / "sessions.jsonl") if s["journey_key"] == "554748717"
    ]
    assert [s["event_count"] for s in sessions] == [3, 2]


def test_a_snowplow_row_with_no_timestamp_is_a_dead_letter_not_a_crash(tmp_path):
    lines = (DATA / "snowplow-sample.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    for column in ("derived_tstamp", "dvce_created_tstamp"):
        row[header.index(column)] = ""
    source = tmp_path / "no-time.csv"
    source.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    summary, out_dir = run_process(tmp_path, source, "--format", "snowplow")
    assert summary["events_by_outcome"] == {"ok": 86, "invalid": 1}
    [letter] = read_jsonl(out_dir / "dead-letter.jsonl")
    assert "occurred_at" in letter["error"]


def test_snowplow_sessions_agree_with_the_trackers_own_session_ids(tmp_path):
    import csv

    summary, out_dir = run_process(tmp_path, DATA / "snowplow-sample.csv", "--format", "snowplow")
    assert summary["events_by_outcome"] == {"ok": 87}
    with (DATA / "snowplow-sample.csv").open() as f:
        rows = list(csv.DictReader(f))
    tracker = defaultdict(set)
    device_of = {}
    for row in rows:
        tracker[row["domain_userid"]].add(row["domain_sessionid"])
        device_of[row["domain_userid"]] = row["domain_userid"]
        if row["user_id"]:
            device_of[row["user_id"]] = row["domain_userid"]
    ours = defaultdict(int)
    for s in read_jsonl(out_dir / "sessions.jsonl"):
        if s["type"] == "session_closed":
            # sessions closed before login stay under the device's anonymous id
            ours[device_of[s["journey_key"]]] += 1
    assert dict(ours) == {device: len(ids) for device, ids in tracker.items()}


def test_gzip_input_and_a_changed_rules_file(tmp_path):
    source = tmp_path / "in.jsonl.gz"
    event = {
        "event_id": "e1",
        "event_type": "search_performed",
        "customer_id": "c",
        "occurred_at": "2026-03-02T09:00:00Z",
    }
    source.write_bytes(gzip.compress(orjson.dumps(event) + b"\n"))
    summary, _ = run_process(tmp_path, source)
    assert summary["transitions_by_stage"] == {"consideration": 1}
    rules = orjson.loads(
        (DATA.parent.parent / "pipeline/domain/default_stage_rules.json").read_bytes()
    )
    rules["rules"].insert(
        0, {"id": "search-is-intent", "stage": "purchase", "event_types": ["search_performed"]}
    )
    rules_path = tmp_path / "rules.json"
    rules_path.write_bytes(orjson.dumps(rules))
    summary, _ = run_process(tmp_path, source, "--rules", str(rules_path))
    assert summary["transitions_by_stage"] == {"purchase": 1}


def test_cli_errors_are_clear(tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(
        main, ["process", "--input", str(tmp_path / "nope.jsonl"), "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "No such file" in result.output
    bad = tmp_path / "rules.json"
    bad.write_text("{")
    result = CliRunner().invoke(
        main,
        ["process", "--input", "-", "--output-dir", str(tmp_path), "--rules", str(bad)],
        input=b"",
    )
    assert result.exit_code == 1 and "not valid JSON" in result.output
    assert "Usage:" not in result.output  # a bad file is not a usage mistake
