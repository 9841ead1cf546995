"""`GET /customers/{key}`: one journey's view, from whichever worker owns its partition.

A worker answers for the partitions it holds; for any other key it forwards
the request to the owner the directory names (one hop: a forwarded request is
never forwarded again) and relays the answer. 400 for a key no event could
carry, 404 for a key the owner holds no journey for, 503 (with Retry-After)
while ownership is moving, 502 when the owner cannot be reached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp
from aiohttp import web

from ..domain.view import journey_view, key_problem

if TYPE_CHECKING:
    from .loop import JourneyWorker

__all__ = ["FORWARDED_BY", "Handler", "customer_handler"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FORWARDED_BY = "X-Journey-Forwarded-By"
SERVED_BY = "X-Journey-Served-By"
_FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=5)


def _error(status: int, message: str, **extra: object) -> web.Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


def _credentials(request: web.Request) -> dict[str, str]:
    """The caller's Authorization, passed on to the owner (workers share one token)."""
    given = request.headers.get("Authorization")
    return {"Authorization": given} if given else {}


def customer_handler(worker: JourneyWorker) -> Handler:
    async def customer(request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        problem = key_problem(key)
        if problem:
            return _error(400, problem)
        partition = worker.partition_of(key)
        engine = worker.engines.get(partition)
        served_by = {SERVED_BY: worker.url}
        if engine is not None:
            state = engine.states.get(key)
            if state is None:
                return _error(404, "no journey has this key", journey_key=key, partition=partition)
            view = {**journey_view(state), "partition": partition}
            return web.json_response(view, headers=served_by)
        owner = worker.owners.owner(partition)
        if request.headers.get(FORWARDED_BY) or owner in (None, worker.url):
            return _error(
                503, "the key's partition is being reassigned; retry", partition=partition
            )
        assert owner is not None
        try:
            async with (
                aiohttp.ClientSession(timeout=_FORWARD_TIMEOUT) as session,
                session.get(
                    f"{owner}/customers/{quote(key, safe='')}",
                    headers={FORWARDED_BY: worker.url, **_credentials(request)},
                ) as answer,
            ):
                return web.Response(
                    body=await answer.read(),
                    status=answer.status,
                    content_type="application/json",
                    headers={
                        k: v for k, v in answer.headers.items() if k in (SERVED_BY, "Retry-After")
                    },
                )
        except (aiohttp.ClientError, TimeoutError) as error:
            return _error(502, f"the owner {owner} did not answer: {error}", partition=partition)

    return customer
