"""The analytics API and the journey map page, answered by any worker for the whole pipeline.

`GET /paths?dimension=page&window=24h`, `GET /funnels`, `GET /funnels/{id}?window=7d`,
`GET /voc?window=28d`, `GET /friction?window=24h`: sliding views over the last
`window` of event time (up to the latest closed window; `all`: everything held),
rolled up from the tumbling windows and summed over parts. `GET /` is the journey
map page, which draws from these.
"""

from __future__ import annotations

from aiohttp import web

from ..domain.analytics import DIMENSIONS
from ..domain.analytics.views import friction_view, funnel_ids, funnel_view, paths_view, voc_view
from ..durations import parse_duration
from .analytics_view import AnalyticsView
from .map_page import map_page

__all__ = ["add_routes"]


def _span(request: web.Request, default: str) -> int | None:
    text = request.query.get("window", default)
    if text == "all":
        return None
    try:
        return parse_duration(text)
    except ValueError as error:
        raise web.HTTPBadRequest(
            text=f'{{"error": "window: {error}"}}', content_type="application/json"
        ) from None


def add_routes(app: web.Application, view: AnalyticsView) -> None:
    rollup = view.rollup

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=map_page(), content_type="text/html")

    async def paths(request: web.Request) -> web.Response:
        dimension = request.query.get("dimension", "page")
        if dimension not in DIMENSIONS:
            return web.json_response(
                {"error": f"dimension {dimension!r} is not one of {', '.join(DIMENSIONS)}"},
                status=400,
            )
        span = _span(request, "24h")
        await view.read_for(span)
        return web.json_response(paths_view(rollup, dimension, span))

    async def funnels(request: web.Request) -> web.Response:
        return web.json_response({"funnels": funnel_ids(rollup)})

    async def funnel(request: web.Request) -> web.Response:
        name = request.match_info["id"]
        found = funnel_view(rollup, name, _span(request, "7d"))
        if found is None:
            return web.json_response(
                {"error": f"no records of funnel {name!r}", "funnels": funnel_ids(rollup)},
                status=404,
            )
        return web.json_response(found)

    async def voc(request: web.Request) -> web.Response:
        return web.json_response(voc_view(rollup, _span(request, "28d")))

    async def friction(request: web.Request) -> web.Response:
        return web.json_response({"friction": friction_view(rollup, _span(request, "24h"))})

    app.router.add_get("/", page)
    app.router.add_get("/paths", paths)
    app.router.add_get("/funnels", funnels)
    app.router.add_get("/funnels/{id}", funnel)
    app.router.add_get("/voc", voc)
    app.router.add_get("/friction", friction)
