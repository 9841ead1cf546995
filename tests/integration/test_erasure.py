"""`journey forget` on a running pipeline: the customer and the anonymous id stitched to
it leave the state and the changelog; the query API answers 404, also after a restart."""

from __future__ import annotations

import signal
import subprocess

import orjson
import pytest

from pipeline.worker.routing import partitioner

from ..support import MINUTE, event
from .conftest import JOURNEY, PARTITIONS, consumed, wait_until
from .test_worker import stitches_pending

pytestmark = pytest.mark.integration


def test_forget_erases_a_customer_and_its_stitched_anonymous_id(pipeline_factory):
    pipeline = pipeline_factory()
    worker = pipeline.start_worker()
    pipeline.wait_ready(worker)
    partition_of = partitioner(PARTITIONS)
    customer = next(f"c-{n}" for n in range(100) if partition_of(f"c-{n}") != partition_of("a-9"))
    steps = [
        [event("page_viewed", 0, customer=None, anonymous="a-9"),
         event("page_viewed", 0, customer="c-keep")],
        [event("logged_in", MINUTE, customer=customer, anonymous="a-9")],
    ]  # fmt: skip
    sent = 0
    for step in steps:
        pipeline.produce([(e.key, orjson.dumps(e.data)) for e in step])
        sent += len(step)
        wait_until(lambda sent=sent: consumed(pipeline, worker) >= sent
                   and not stitches_pending(pipeline, worker), 30,
                   "the step consumed and its stitch done")  # fmt: skip
    assert pipeline.get(worker, f"/customers/{customer}")[2]["anonymous_ids"] == ["a-9"]
    assert pipeline.get(worker, "/customers/a-9")[2]["alias_of"] == customer

    done = subprocess.run(
        [str(JOURNEY), "forget", customer], env=pipeline.env(pipeline.ports[worker]),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 erasure requests sent" in done.stderr

    def gone() -> bool:
        return all(pipeline.get(worker, f"/customers/{k}")[0] == 404 for k in (customer, "a-9"))

    wait_until(gone, 30, "the customer and its anonymous id to be erased")
    assert pipeline.get(worker, "/customers/c-keep")[0] == 200
    assert "journey_erasures_total 2.0" in pipeline.metrics(worker)

    pipeline.stop(worker, signal.SIGTERM)
    again = pipeline.start_worker()
    pipeline.wait_ready(again)
    after_restart = [pipeline.get(again, f"/customers/{k}")[0] for k in (customer, "a-9")]
    assert after_restart == [404, 404], "recovered from the changelog without them"
    assert pipeline.get(again, "/customers/c-keep")[0] == 200


def test_forget_refuses_what_no_event_could_carry(pipeline_factory):
    pipeline = pipeline_factory()
    done = subprocess.run(
        [str(JOURNEY), "forget", "k" * 201], env=pipeline.env(0),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "at most 200" in done.stderr
