"""The paths records as a consumer of `journey.paths` reads them: the README's SQL over the
sunk records and `pipeline.contract.paths.merge_paths` (the query API's totals) agree."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from pathlib import Path

import orjson

from pipeline.config import Settings
from pipeline.contract.paths import merge_paths
from pipeline.domain.analytics import DIMENSIONS
from pipeline.domain.analytics.table import paths_key
from pipeline.domain.events import parse_time
from pipeline.offline.runner import process_records
from pipeline.policy import event_decoder, journey_policy
from pipeline.tools.generate import generate

from ..support import read_jsonl

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_sql() -> str:
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "the README shows one SQL query"
    return blocks[0]


def sunk(records: list[dict]) -> sqlite3.Connection:
    """The records as a warehouse sink holds them: a row per record, its key and offset."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE paths (kafka_offset INTEGER, record_key TEXT, record TEXT)")
    db.executemany("INSERT INTO paths VALUES (?, ?, ?)", [
        (offset, paths_key(r["dimension"], parse_time(r["window_start"]), r["part"]),
         orjson.dumps(r).decode())
        for offset, r in enumerate(records)
    ])  # fmt: skip
    return db


def test_the_readme_sql_sums_each_key_s_latest_record_as_the_api_does(tmp_path):
    settings = Settings()
    events = [r.value for r in generate(6000, 400, seed=3)]
    process_records(events, journey_policy(settings), tmp_path, event_decoder(settings))
    records = read_jsonl(tmp_path / "paths.jsonl")
    groups = Counter((r["dimension"], r["window_start"], r["part"]) for r in records)
    assert max(groups.values()) > 1, "windows written again: only the latest record counts"

    got = {(d, f, t): n for d, f, t, n in sunk(records).execute(readme_sql())}
    want = {
        (dimension, step["from"], step["to"]): step["count"]
        for dimension in DIMENSIONS
        for step in merge_paths(records, dimension)["steps"]
    }
    assert got == want and sum(got.values()) > len(events)
    every: Counter[tuple[str, str, str]] = Counter()
    for r in records:
        for step in r["steps"]:
            every[r["dimension"], step["from"], step["to"]] += step["count"]
    assert every != Counter(got), "summing every record, not the latest, counts twice"
