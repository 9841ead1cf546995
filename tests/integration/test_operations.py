"""Operations on a real broker: the query API across two workers, and a real
Prometheus server scraping a worker and agreeing with the output topics."""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest

from pipeline.config import Settings
from pipeline.domain import Output
from pipeline.domain.view import MAX_KEY_LENGTH
from pipeline.kafka.admin import ensure_topics
from pipeline.topics import DEAD_LETTER, OUTPUT_TOPICS
from pipeline.worker.routing import partitioner

from ..support import dashboard_expressions, known_customers
from .conftest import PARTITIONS, Pipeline, answers, consumed, free_port, wait_until

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).parents[2] / "deploy"


def metric_value(pipeline: Pipeline, worker: int, name: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in pipeline.metrics(worker).splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    )


def last_stages(pipeline: Pipeline) -> dict[str, str]:
    """Each journey's latest stage, from the transitions topic (one key: one partition)."""
    stages: dict[str, str] = {}
    for record in pipeline.read(OUTPUT_TOPICS[Output.TRANSITIONS]):
        stages[record["journey_key"]] = record["to_stage"]
    return stages


def settled_answer(pipeline: Pipeline, worker: int, path: str) -> tuple[int, dict, dict]:
    """The worker's answer once it is not 503 (partition ownership moving)."""
    return wait_until(
        lambda: (answer := pipeline.get(worker, path))[0] != 503 and answer,
        30,
        f"an answer to {path} from worker {worker}",
    )


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


def test_any_worker_answers_for_any_key(pipeline_factory, validators):
    """Behind the API token, on loopback by default, forwarded to the owner with the token."""
    pipeline = pipeline_factory()
    pipeline.settings["JOURNEY_API_TOKEN"] = "t0ken-for-the-test"
    workers = [pipeline.start_worker(), pipeline.start_worker()]
    for worker in workers:
        pipeline.wait_ready(worker)
    wait_until(
        lambda: (
            [metric_value(pipeline, w, "journey_assigned_partitions") for w in workers]
            in ([2.0, 2.0], [1.0, 3.0], [3.0, 1.0])
        ),
        60,
        "the two workers to split the partitions",
    )
    odd_key = "c-\x01tab\there"  # the ingest takes any 1-200 characters: so does the API
    records = known_customers(1500, 60, seed=5)
    odd = {**orjson.loads(records[0][1]), "event_id": "odd-1", "customer_id": odd_key}
    records.append((odd_key, orjson.dumps({**odd, "anonymous_id": None})))
    pipeline.produce(records)
    wait_until(
        lambda: sum(consumed(pipeline, w) for w in workers) >= len(records), 60, "all consumed"
    )
    stages = last_stages(pipeline)
    assert len(stages) >= 50
    validator = validators["customer-view.v1"]
    partition_of = partitioner(PARTITIONS)
    served_by_other = 0
    for key, stage in sorted(stages.items()):
        both = [settled_answer(pipeline, w, f"/customers/{urllib.parse.quote(key)}")
                for w in workers]  # fmt: skip
        (status_a, headers_a, body_a), (status_b, headers_b, body_b) = both
        assert status_a == status_b == 200, (key, both)
        assert body_a == body_b
        validator.validate(body_a)
        assert body_a["journey_key"] == key and body_a["stage"] == stage
        assert body_a["partition"] == partition_of(key)
        assert body_a["last_transitions"][-1]["to_stage"] == stage
        owner = headers_a["X-Journey-Served-By"]
        assert headers_b["X-Journey-Served-By"] == owner
        served_by_other += owner != pipeline.url(0)
    assert 0 < served_by_other < len(stages), "both workers own keys; each forwards to the other"

    for worker in workers:
        status, _, body = pipeline.get(worker, "/customers/nobody-has-this-key")
        assert status == 404 and body["journey_key"] == "nobody-has-this-key"
        status, _, body = pipeline.get(worker, "/customers/" + "k" * (MAX_KEY_LENGTH + 1))
        assert status == 400 and "at most 200" in body["error"]
        status, _, body = settled_answer(
            pipeline, worker, "/customers/" + urllib.parse.quote(odd_key)
        )
        assert status == 200 and body["journey_key"] == odd_key
        status, headers, _ = pipeline.get(worker, "/customers/nobody-has-this-key", token=False)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        for path in ("/metrics", "/healthz", "/readyz"):
            assert answers(pipeline.workers[worker], pipeline.url(worker) + path, str), path
        assert listening_addresses(pipeline.ports[worker]) == {"127.0.0.1"}


def prometheus_query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = orjson.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def scalar(port: int, expr: str) -> float | None:
    result = prometheus_query(port, expr)
    return float(result[0]["value"][1]) if result else None


@pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="no `prometheus` binary: install the Debian package `prometheus` (make test does)",
)
def test_prometheus_scrapes_the_worker_and_agrees_with_the_topics(pipeline_factory, tmp_path):
    pipeline = pipeline_factory()
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker)
    records = known_customers(3000, 200, seed=23)
    records.append(("broken", b"{not json"))
    pipeline.produce(records)
    wait_until(lambda: consumed(pipeline, worker) >= len(records), 60, "all consumed")

    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{DEPLOY / 'prometheus' / 'rules.yml'}]\n"
        "scrape_configs:\n"
        "  - job_name: journey\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{pipeline.ports[worker]}']}}]\n"
    )
    with (tmp_path / "prometheus.log").open("wb") as log:
        server = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: answers(server, f"http://127.0.0.1:{port}/-/ready",
                            lambda: f"prometheus exited with {server.returncode}"),
            60, "Prometheus to be ready",
        )  # fmt: skip
        wait_until(lambda: scalar(port, 'up{job="journey"}') == 1, 60, "a successful scrape")
        transitions = pipeline.read(OUTPUT_TOPICS[Output.TRANSITIONS])
        alerts = Counter(r["type"] for r in pipeline.read(OUTPUT_TOPICS[Output.CART_ALERTS]))
        sessions = Counter(r["type"] for r in pipeline.read(OUTPUT_TOPICS[Output.SESSIONS]))
        dead = pipeline.read(DEAD_LETTER)
        by_stage = Counter(r["to_stage"] for r in transitions)
        assert len(transitions) > 100 and alerts["cart_abandoned"] > 0 and len(dead) == 1
        expected = {
            "sum(journey_stage_transitions_total)": len(transitions),
            **{
                f'sum(journey_stage_transitions_total{{to_stage="{stage}"}})': n
                for stage, n in by_stage.items()
            },
            'journey_alerts_published_total{type="cart_abandoned"}': alerts["cart_abandoned"],
            'journey_alerts_published_total{type="cart_recovered"}': alerts["cart_recovered"],
            "sum(journey_sessions_closed_total)": sessions["session_closed"],
            "journey_session_duration_seconds_count": sessions["session_closed"],
            "sum(journey_dead_letters_total)": len(dead),
            'journey_dead_letters_total{reason="malformed_json"}': 1,
            'journey_events_consumed_total{outcome="ok"}': len(records) - 1,
            "journey_processing_latency_seconds_count": len(records),
            'count(journey_consumer_lag_records{topic="clickstream.events"})': PARTITIONS,
        }
        seen: dict[str, float | None] = {}

        def agrees() -> bool:
            seen.update({expr: scalar(port, expr) for expr in expected})
            return all(seen[expr] == value for expr, value in expected.items())

        try:
            wait_until(agrees, 30, "Prometheus's series to equal the topics' counts", every=1)
        except AssertionError as error:
            wrong = {e: (seen[e], v) for e, v in expected.items() if seen[e] != v}
            raise AssertionError(f"{error}; (scraped, expected): {wrong}") from None
        empty = [expr for expr in dashboard_expressions() if not prometheus_query(port, expr)]
        assert not empty, f"dashboard queries with no data: {empty}"
        assert len(_rules(port)) >= 5
        wait_until(
            lambda: all(rule["health"] == "ok" for rule in _rules(port)), 30,
            "every alerting rule evaluated without error",
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


def _rules(port: int) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5) as r:
        groups = orjson.loads(r.read())["data"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_readyz_says_when_the_broker_is_gone(tmp_path):
    from pipeline.kafka.broker import start_embedded_broker

    broker = start_embedded_broker()
    pipeline = Pipeline(broker.bootstrap, "readyz", tmp_path)
    try:
        ensure_topics(
            Settings(kafka_bootstrap=broker.bootstrap, app_id="readyz", partitions=PARTITIONS),
            broker.bootstrap,
        )
        worker = pipeline.start_worker()
        pipeline.wait_ready(worker)
        assert pipeline.get(worker, "/readyz")[0] == 200
        broker.stop()
        status, _, body = wait_until(
            lambda: (answer := pipeline.get(worker, "/readyz"))[0] == 503 and answer,
            30,
            "/readyz to report the broker gone",
        )
        assert body["reason"] == "broker unreachable" and body["error"]
        assert pipeline.get(worker, "/healthz")[0] == 200, "alive, only not ready"
    finally:
        pipeline.close()
        broker.stop()
