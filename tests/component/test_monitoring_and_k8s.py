"""Alerting rules (promtool), the Grafana dashboard and the Kubernetes manifests,
checked against what the worker really exports and serves."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from pipeline.config import ENV_NAMES
from pipeline.worker.metrics import Metrics

from ..support import DASHBOARD, dashboard_expressions, settings_from

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.31"
RULES = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="no `promtool`: install the Debian package `prometheus` (make test does)",
)


def exported_series() -> set[str]:
    """Every series name a worker's /metrics can show (labelled families before any label)."""
    names = set()
    for family in Metrics().registry.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def rule_expressions() -> list[str]:
    return [rule["expr"] for group in RULES["groups"] for rule in group["rules"]]


@needs_promtool
def test_rules_pass_promtool_check_and_their_unit_tests():
    prometheus = DEPLOY / "prometheus"
    for args in (["check", "rules", "rules.yml"], ["test", "rules", "rules.test.yml"]):
        result = subprocess.run(
            [PROMTOOL, *args], cwd=prometheus, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_the_issue_asks_for_exists_with_a_severity_and_a_summary():
    alerts = {r["alert"]: r for group in RULES["groups"] for r in group["rules"]}
    assert {
        "JourneyWorkerDown",
        "JourneyConsumerLagHigh",
        "JourneyDeadLetterRateHigh",
        "JourneyNoEventsProcessed",
        "JourneyAlertPublishingStalled",
    } <= set(alerts)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    tests = yaml.safe_load((DEPLOY / "prometheus" / "rules.test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    assert tested == set(alerts), "every alert has a promtool test"


@pytest.mark.parametrize(
    "expressions", [rule_expressions(), dashboard_expressions()], ids=["rules", "dashboard"]
)
def test_queries_name_only_series_the_worker_exports(expressions):
    exported = exported_series() | {"up"}
    assert expressions
    for expr in expressions:
        names = set(re.findall(r"\b((?:journey|process)_[a-z_]+)\b", expr))
        if "up{" in expr:
            names.add("up")
        assert names, expr
        assert names <= exported, f"{expr}: {names - exported} not exported"


def test_dashboard_covers_the_operations_views_and_uses_the_provisioned_source():
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    titles = " ".join(p["title"].lower() for p in DASHBOARD["panels"])
    for view in ("throughput", "lag", "funnel", "abandonment", "recovery", "dead letters",
                 "latency"):  # fmt: skip
        assert view in titles, view
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["description"], panel["title"]
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "journey.yml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in compose["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]


def manifests() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files, "kustomization lists every manifest"
    return [doc for name in files for doc in yaml.safe_load_all((K8S / name).read_text())]


def test_kubernetes_manifests_validate_against_the_pinned_schemas():
    docs = manifests()
    assert {d["kind"] for d in docs} >= {"StatefulSet", "Service", "ConfigMap", "Job"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_rejects_a_misspelled_field():
    worker = next(d for d in manifests() if d["kind"] == "StatefulSet")
    broken = copy.deepcopy(worker)
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_workers_are_configured_probed_and_addressed_as_the_worker_expects():
    docs = manifests()
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert set(config) <= set(ENV_NAMES)
    settings = settings_from(config)
    worker = next(d for d in docs if d["kind"] == "StatefulSet")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["worker"]
    assert container["ports"][0]["containerPort"] == settings.web_port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in container["env"]}
    assert {n for n in env if n.startswith("JOURNEY_")} <= set(ENV_NAMES)
    headless = next(d for d in docs if d["kind"] == "Service" and d["spec"].get("clusterIP"))
    assert worker["spec"]["serviceName"] == headless["metadata"]["name"]
    advertised = env["JOURNEY_ADVERTISED_URL"]["value"]
    assert advertised == f"http://$(POD_NAME).{headless['metadata']['name']}:{settings.web_port}"
    assert worker["spec"]["replicas"] <= settings.partitions
