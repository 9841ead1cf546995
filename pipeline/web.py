"""HTTP endpoints on the worker's web port (faust's aiohttp server).

`/metrics` (Prometheus text format), `/healthz` (the process is alive),
`/readyz` (partitions assigned and state recovered; a JSON body says why not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from .agents import JourneyWorker

__all__ = ["add_routes"]


def add_routes(worker: JourneyWorker) -> None:
    app = worker.app

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        body = generate_latest(worker.metrics.registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        stuck = worker.positions.stuck()
        if stuck:
            return web.json(
                {
                    "status": "not ready",
                    "reason": "input partitions stuck before records that were skipped",
                    "stuck": [f"{topic}[{partition}]" for topic, partition in stuck],
                },
                status=503,
            )
        if worker.ready:
            return web.json({"status": "ready", "partitions": sorted(worker.engines)})
        return web.json(
            {
                "status": "not ready",
                "reason": "waiting for partition assignment and state recovery",
            },
            status=503,
        )
