"""Running a worker process: topics, web port, the consumer loop until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from ..config import Settings
from ..domain import JourneyPolicy
from ..kafka.admin import ensure_topics
from .loop import JourneyWorker
from .web import serve

__all__ = ["run_worker"]


def run_worker(settings: Settings, bootstrap: str, policy: JourneyPolicy) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    created = ensure_topics(settings, bootstrap)
    if created:
        logging.getLogger("journey.worker").info("created topics %s", created)
    asyncio.run(_main(settings, bootstrap, policy))


async def _main(settings: Settings, bootstrap: str, policy: JourneyPolicy) -> None:
    worker = JourneyWorker(settings, bootstrap, policy)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stopping.set)
    runner = await serve(worker, settings.web_host, settings.web_port)
    try:
        await worker.run()
    finally:
        await runner.cleanup()
