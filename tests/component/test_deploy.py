"""What can be checked of deploy/ and docker-compose.yml without a Docker engine."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import ENV_NAMES, Settings

from ..support import settings_from

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_every_journey_variable_in_compose_is_a_setting_and_parses():
    known = set(ENV_NAMES)
    for name, service in SERVICES.items():
        env = service.get("environment") or {}
        journey = {k: str(v) for k, v in env.items() if k.startswith("JOURNEY_")}
        assert set(journey) <= known, f"{name}: unknown {set(journey) - known}"
        settings_from(journey)


def test_images_are_pinned_and_the_build_uses_the_dockerfile():
    for name, service in SERVICES.items():
        image = service.get("image", "")
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image {image!r} not pinned"
        assert not image.endswith(":latest") or "build" in service, f"{name}: floating tag"
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_service_commands_are_journey_commands():
    runner = CliRunner()
    for name, service in SERVICES.items():
        command = service.get("command")
        if "build" in service and command:
            result = runner.invoke(main, [*command[:2], "--help"])
            assert result.exit_code == 0, f"{name}: `journey {' '.join(command)}`: {result.output}"


def test_dockerfile_copies_what_exists_runs_as_non_root_and_checks_health():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from=)(.+?) \S+$", text, flags=re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"COPY {path}: missing"
    assert re.search(r"^USER (?!root)\S+", text, flags=re.M)
    assert "/healthz" in text and "HEALTHCHECK" in text
    assert 'ENTRYPOINT ["journey"]' in text
    assert "pipeline.tools.compile_core" in text, "the image runs the compiled core"


def test_prometheus_scrapes_the_compose_workers_on_the_web_port():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = config["scrape_configs"]
    targets = {t for job in jobs for c in job["static_configs"] for t in c["targets"]}
    port = Settings().web_port
    assert targets == {f"{name}:{port}" for name in SERVICES if name.startswith("worker-")}
