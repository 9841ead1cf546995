"""The analytics on a real broker: the aggregate topics equal `journey process` window by
window on a backlog, any worker answers the analytics API for the whole pipeline, and the
journey map page in a real browser (headless Chromium) shows the API's numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from pipeline.config import Settings
from pipeline.domain import Output
from pipeline.offline.runner import process_records
from pipeline.policy import event_decoder, journey_policy
from pipeline.topics import OUTPUT_TOPICS

from ..support import (
    analytics_windows,
    assert_settled_windows_equal,
    known_customers,
    offline_analytics,
    settled,
)
from .conftest import PARTITIONS, Pipeline, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RECEIVED = 2_000_000_000_000


def watermark(pipeline: Pipeline, index: int) -> int:
    """The lowest aligned watermark of the worker's partitions, in ms (0: none yet)."""
    for line in pipeline.metrics(index).splitlines():
        if line.startswith("journey_watermark_timestamp_seconds "):
            return int(float(line.split()[-1]) * 1000)
    return 0


@pytest.fixture(scope="module")
def fed(module_pipeline, tmp_path_factory):
    """Two workers fed a backlog of real-looking traffic."""
    tmp = tmp_path_factory.mktemp("analytics")
    records = known_customers(6000, 150, seed=23, partitions=PARTITIONS, by="crc32", anonymous=True)
    process_records(
        [v for _k, v in records], journey_policy(Settings()), tmp, event_decoder(Settings())
    )
    pipeline = module_pipeline
    pipeline.produce(records)
    workers = [pipeline.start_worker(), pipeline.start_worker()]
    for worker in workers:
        pipeline.wait_ready(worker, timeout=90)
    return pipeline, workers, offline_analytics(tmp), records


def test_the_aggregate_topics_equal_journey_process_window_by_window(fed):
    pipeline, workers, offline, _records = fed
    compared: list[int] = []

    def equal() -> bool:
        frontier = min(watermark(pipeline, w) for w in workers)
        if not frontier:
            return False
        online = analytics_windows(
            {o: pipeline.read(OUTPUT_TOPICS[o], timeout=30) for o in Output.ANALYTICS}
        )
        try:
            compared[:] = [assert_settled_windows_equal(online, offline, settled(frontier))]
        except AssertionError:
            return False
        return compared[0] > 100

    wait_until(equal, 180, "the settled analytics windows to equal the offline ones", every=2)
    parts = {r["part"] for r in pipeline.read(OUTPUT_TOPICS[Output.PATHS])}
    assert parts == set(range(PARTITIONS)), "one part per partition"


def test_any_worker_answers_the_analytics_api_for_the_whole_pipeline(fed):
    pipeline, workers, _offline, _records = fed

    def same_answers():
        answers = [pipeline.get(w, "/paths?dimension=event_type&window=all")[2] for w in workers]
        return answers[0]["steps"] and answers[0] == answers[1] and answers[0]

    paths = wait_until(same_answers, 60, "both workers to answer the same paths", every=1)
    assert {s["dimension"] for s in paths["steps"]} == {"event_type"}
    status, _headers, funnel = pipeline.get(workers[0], "/funnels/checkout?window=all")
    assert status == 200 and [s["name"] for s in funnel["steps"]][0] == "visit"
    entered = [s["entered"] for s in funnel["steps"]]
    assert entered == sorted(entered, reverse=True) and entered[0] > 0
    status, _headers, missing = pipeline.get(workers[0], "/funnels/nope")
    assert status == 404 and "checkout" in missing["funnels"]
    status, _headers, bad = pipeline.get(workers[0], "/paths?dimension=colour")
    assert status == 400 and "colour" in bad["error"]
    status, _headers, voc = pipeline.get(workers[1], "/voc?window=all")
    assert status == 200 and {r["kind"] for r in voc["overall"]} == {"nps", "rating"}
    late = pipeline.start_worker()  # started after the analytics were published
    pipeline.wait_ready(late, timeout=90)
    query = "/paths?dimension=event_type&window=all"
    wait_until(lambda: pipeline.get(late, query)[2] == pipeline.get(workers[0], query)[2], 60,
               "a worker started later to answer as the others do", every=1)  # fmt: skip


class _Numbers(HTMLParser):
    """The `data-value`s of the page's elements, by a path of ids and data attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.links: list[int] = []
        self._table: str | None = None
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
        if tag == "tr":
            self._row = a.get("data-step") or a.get("data-node")
        if tag == "path" and a.get("data-count"):
            self.links.append(int(a["data-count"] or 0))
        if "data-value" in a and tag == "td" and "entered" in (a.get("class") or ""):
            self.values[f"{self._table}/{self._row}/entered"] = a["data-value"] or ""
        if tag == "b" and a.get("id"):
            self.values[a["id"] or ""] = a.get("data-value") or ""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it)")
def test_the_journey_map_in_chromium_shows_the_apis_numbers(fed, tmp_path):
    pipeline, workers, _offline, _records = fed
    url = f"{pipeline.url(workers[1])}/"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--virtual-time-budget=15000", "--window-size=1400,1500"]  # fmt: skip

    def propensity() -> list[dict]:
        return pipeline.get(workers[1], "/propensity")[2]["models"]

    def rendered() -> tuple[str, list[dict]] | None:
        """The page, drawn while the models' evaluation stood still (idle partitions still
        close sessions as the wall clock moves)."""
        before = propensity()
        dom = subprocess.run([*command, "--dump-dom", url], capture_output=True, text=True,
                             timeout=90).stdout  # fmt: skip
        drawn = 'data-loaded="yes"' in dom and "funnel-checkout" in dom and before[0]["labels"]
        return (dom, before) if drawn and propensity() == before else None

    dom, models = wait_until(rendered, 120, "the page to draw the analytics", every=2)
    page = _Numbers()
    page.feed(dom)
    funnel = pipeline.get(workers[0], "/funnels/checkout?window=24h")[2]
    for n, step in enumerate(funnel["steps"]):
        assert page.values[f"funnel-checkout/{n}/entered"] == str(step["entered"])
    paths = pipeline.get(workers[0], "/paths?dimension=page&window=24h")[2]
    assert sum(page.links) == sum(s["count"] for s in paths["steps"]) > 0
    voc = pipeline.get(workers[0], "/voc?window=24h")[2]
    nps = next((r["nps"] for r in voc["overall"] if r["kind"] == "nps"), None)
    assert page.values["nps-overall"] == ("" if nps is None else re.sub(r"\.0$", "", str(nps)))
    shown = dict(re.findall(r'data-model="([a-z_0-9]+)"><td>[a-z_0-9]+</td><td class="num auc"'
                            r' data-value="([^"]*)"', dom))  # fmt: skip
    assert shown.keys() == {m["model"] for m in models}
    for model in models:
        auc = shown[model["model"]]
        assert (None if auc == "null" else float(auc)) == model["auc"]
    bins = [b for b in models[0]["calibration"] if b["count"]]
    assert bins and len(re.findall(r'<circle class="bin" cx="\d', dom)) == len(bins)
    shot = tmp_path / "journey-map.png"
    subprocess.run([*command, f"--screenshot={shot}", url], capture_output=True, timeout=90)
    assert shot.stat().st_size > 20_000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it)")
def test_a_report_opens_on_the_whole_input(tmp_path):
    from pipeline.tools.generate import generate
    from pipeline.tools.report import write_report

    settings = Settings()
    values = [r.value for r in generate(6000, 400, seed=17)]  # two weeks of traffic
    process_records(values, journey_policy(settings), tmp_path, event_decoder(settings))
    page_file = tmp_path / "journey-map.html"
    data = write_report(tmp_path, page_file)
    whole = sum(s["count"] for s in data["all"]["paths"]["page"]["steps"])
    assert whole > sum(s["count"] for s in data["24h"]["paths"]["page"]["steps"]) > 0
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--virtual-time-budget=10000", "--dump-dom", page_file.as_uri()]  # fmt: skip
    dom = subprocess.run(command, capture_output=True, text=True, timeout=90).stdout
    assert 'data-loaded="yes"' in dom
    page = _Numbers()
    page.feed(dom)
    assert sum(page.links) == whole
    session = data["propensity"]["models"][0]  # published scores against their sessions
    assert session["labels"] > 500 and f'data-value="{session["auc"]}"' in dom
    drawn = len(re.findall(r'<circle class="bin" cx="\d', dom))
    assert drawn == sum(1 for b in session["calibration"] if b["count"])
