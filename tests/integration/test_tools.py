"""`journey replay`, `journey generate --kafka` and `journey tail` against a real broker."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.kafka.admin import ensure_topics
from pipeline.topics import EVENTS

pytestmark = pytest.mark.integration


@pytest.fixture
def broker_env(bootstrap, monkeypatch):
    monkeypatch.setenv("JOURNEY_KAFKA_BOOTSTRAP", bootstrap)
    ensure_topics(Settings(kafka_bootstrap=bootstrap), bootstrap, internal=False)
    return bootstrap


def tail_events(runner: CliRunner) -> list[str]:
    result = runner.invoke(main, ["tail", EVENTS, "--from-beginning", "--json", "--idle", "2"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_replay_sends_every_record_keyed_and_tail_reads_them_back(broker_env, tmp_path):
    records = [
        {"event_id": f"e-{n}", "event_type": "page_viewed", "occurred_at": 1_767_225_600_000 + n,
         "customer_id": f"c-{n % 3}"}
        for n in range(50)
    ]  # fmt: skip
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"{broken\n")
    runner = CliRunner()
    result = runner.invoke(main, ["replay", str(source)])
    assert result.exit_code == 0, result.output
    assert "sent 51 records" in result.output
    back = tail_events(runner)
    assert "{broken" in back, "a record that is not JSON is sent and shown as it is"
    ids = [orjson.loads(line)["event_id"] for line in back if line != "{broken"]
    assert sorted(ids) == sorted(r["event_id"] for r in records)


def test_generate_to_kafka_at_a_rate(broker_env):
    runner = CliRunner()
    result = runner.invoke(main, ["generate", "--kafka", "--count", "200", "--rate", "400"])
    assert result.exit_code == 0, result.output
    assert len(tail_events(runner)) == 200


def test_tail_names_a_missing_topic(broker_env):
    result = CliRunner().invoke(main, ["tail", "no.such.topic", "--idle", "1"])
    assert result.exit_code == 2 and "no.such.topic" in result.output
