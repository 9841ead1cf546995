"""HTTP endpoints on the worker's web port (aiohttp).

`/metrics` (Prometheus text format), `/healthz` (the process is alive),
`/readyz` (broker reachable, partitions assigned and state recovered, input
not stuck; a JSON body says why not), `/customers/{key}` (the query API,
`pipeline.query`: personal data, so behind `JOURNEY_API_TOKEN` when set),
`/propensity` (the session purchase model of this worker's partitions: labels learned,
its evaluation and calibration over the latest), and
with the analytics on, the journey map at `/` and the analytics API
(`analytics_api`: aggregates, no personal data).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..config import reveal
from ..domain.propensity.scorer import LEARNED, report
from .analytics_api import add_routes
from .query import Handler, customer_handler

if TYPE_CHECKING:
    from .loop import JourneyWorker

__all__ = ["serve"]


def bearer_only(token: str | None, handler: Handler) -> Handler:
    """`handler` behind `Authorization: Bearer <token>` (401 otherwise); open when no token."""
    if not token:
        return handler
    expected = f"Bearer {token}".encode()

    async def guarded(request: web.Request) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response(
                {"error": "a valid Authorization: Bearer token is required"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="journey"'},
            )
        return await handler(request)

    return guarded


def routes(worker: JourneyWorker) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(worker.metrics.registry)
        return web.Response(body=body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        broker_error = await worker.broker_problem()
        if broker_error:
            return web.json_response(
                {"status": "not ready", "reason": "broker unreachable", "error": broker_error},
                status=503,
            )
        stuck = worker.positions.stuck()
        if stuck:
            return web.json_response(
                {
                    "status": "not ready",
                    "reason": "input partitions stuck before records that were skipped",
                    "stuck": [f"{topic}[{partition}]" for topic, partition in stuck],
                },
                status=503,
            )
        if worker.ready:
            return web.json_response({"status": "ready", "partitions": sorted(worker.engines)})
        return web.json_response(
            {
                "status": "not ready",
                "reason": "waiting for partition assignment and state recovery",
            },
            status=503,
        )

    async def propensity(request: web.Request) -> web.Response:
        if worker.processor.policy.propensity is None:
            return web.json_response(
                {"error": "the propensity model is off (JOURNEY_PROPENSITY=off)"}, status=404
            )
        models = [e.propensity for e in worker.engines.values() if e.propensity is not None]
        return web.json_response({"over": LEARNED, "models": report(models)})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/propensity", propensity)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    customers = bearer_only(
        reveal(worker.settings.api_token),
        customer_handler(worker),
    )
    app.router.add_get("/customers/{key:.+}", customers)
    if worker.analytics is not None:
        add_routes(app, worker.analytics)
    return app


async def serve(worker: JourneyWorker, host: str, port: int) -> web.AppRunner:
    """Start serving; the caller cleans the returned runner up."""
    runner = web.AppRunner(routes(worker), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
