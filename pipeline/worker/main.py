"""Running a worker process: topics, Kafka clients, web port, the loop until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from .. import CORE_MODE
from ..config import Settings
from ..domain import JourneyPolicy
from ..gc_policy import time_pauses
from ..kafka.admin import check_partitions, ensure_topics
from ..kafka.connection import aiokafka_options
from .loop import JourneyWorker
from .web import serve

__all__ = ["run_worker"]


def run_worker(settings: Settings, bootstrap: str, policy: JourneyPolicy) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    log = logging.getLogger("journey.worker")
    log.info("journey core: %s", CORE_MODE)
    created = ensure_topics(settings, bootstrap)
    if created:
        log.info("created topics %s", created)
    check_partitions(settings, bootstrap)
    asyncio.run(_main(settings, bootstrap, policy))


def clients(
    settings: Settings, bootstrap: str
) -> tuple[AIOKafkaConsumer, AIOKafkaProducer, AIOKafkaProducer, Callable[[], AIOKafkaConsumer]]:
    """The worker's Kafka clients: its group consumer, its producer of outputs and route
    records, its producer of state (changelog), and a factory of consumers outside the
    group (changelog recovery, the owner directory)."""
    options = aiokafka_options(settings)

    def producer() -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=0, max_batch_size=512 * 1024, acks="all",
            **options,
        )  # fmt: skip

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=settings.app_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout,
        heartbeat_interval_ms=max(1000, settings.kafka_session_timeout // 10),
        max_poll_records=settings.batch_size,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait,
        partition_assignment_strategy=(RangePartitionAssignor,),
        **options,
    )

    def reader() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
            **options,
        )  # fmt: skip

    return consumer, producer(), producer(), reader


async def _main(settings: Settings, bootstrap: str, policy: JourneyPolicy) -> None:
    worker = JourneyWorker(settings, policy, *clients(settings, bootstrap))
    pauses = worker.metrics.gc_pauses
    time_pauses(lambda generation, seconds: pauses.labels(str(generation)).observe(seconds))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stopping.set)
    runner = await serve(worker, settings.web_host, settings.web_port)
    try:
        await worker.run()
    finally:
        await runner.cleanup()
