"""Running a worker process: topics first, then the faust worker until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

import faust

from .agents import JourneyWorker
from .config import Settings
from .domain import JourneyPolicy
from .kafka_admin import ensure_topics, fence_changelog

__all__ = ["run_worker"]

_FAUST_LEVELS = {"debug": "debug", "info": "info", "warning": "warn", "error": "error"}


def run_worker(settings: Settings, bootstrap: str, policy: JourneyPolicy) -> None:
    created = ensure_topics(settings, bootstrap)
    if created:
        logging.getLogger("journey.worker").info("created topics %s", created)
    fence_changelog(settings, bootstrap)
    worker = JourneyWorker(settings, bootstrap, policy)
    faust.Worker(
        worker.app,
        loglevel=_FAUST_LEVELS[settings.log_level],
        redirect_stdouts=False,
        override_logging=True,
    ).execute_from_commandline()
