"""Restarting the worker process in place when its consumer cannot be brought back by seeks.

faust can skip records it had fetched (around a table recovery) and then not
deliver them again even after a seek. It never commits past a record that was
not acknowledged, so a fresh consumer resumes from before the missing records;
state and positions are already in the changelog. The process replaces itself
(same pid, same arguments) with the broker address pinned, so an embedded
broker it started keeps serving the new image. Restarts are bounded: past
`MAX_RESTARTS` the worker keeps running and says why it cannot progress.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

__all__ = ["MAX_RESTARTS", "restart_consumer"]

log = logging.getLogger("journey.worker")

MAX_RESTARTS = 20
_COUNT = "JOURNEY_INTERNAL_RESTARTS"
"""Restarts so far, carried across `exec` (not a setting: the worker sets it itself)."""


def restart_consumer(stuck: Sequence[tuple[str, int]], bootstrap: str) -> None:
    """Replace this process by a fresh run of the same command, unless restarts are used up."""
    done = int(os.environ.get(_COUNT, "0"))
    names = ", ".join(f"{topic}[{partition}]" for topic, partition in stuck)
    if done >= MAX_RESTARTS:
        log.error("input stuck on %s after %d restarts; not restarting again", names, done)
        return
    log.warning("input stuck on %s: restarting the worker to resume from committed offsets", names)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, _COUNT: str(done + 1), "JOURNEY_KAFKA_BOOTSTRAP": bootstrap}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)
