"""A web process serves at most WEB_MAX_IN_FLIGHT requests at once; the next is refused at once
with 503 and Retry-After, instead of queueing inside the process for seconds."""

import asyncio
import json

from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator

from botsinais.asgi import application
from botsinais.middleware import InFlightLimit


def held_app(release: asyncio.Event):
    """An ASGI app whose requests stay in flight until release is set."""

    async def app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    return app


def test_the_request_beyond_the_limit_gets_503_with_retry_after_at_once(settings):
    settings.BUSY_RETRY_AFTER = 3

    async def scenario():
        release = asyncio.Event()
        limited = InFlightLimit(held_app(release), limit=2)
        held = [
            asyncio.create_task(HttpCommunicator(limited, "POST", "/api/x/").get_response(5))
            for _ in range(2)
        ]
        await asyncio.sleep(0.05)  # both are in flight
        refused = await HttpCommunicator(limited, "POST", "/api/x/").get_response(1)
        page = await HttpCommunicator(limited, "GET", "/dashboard/").get_response(1)
        release.set()
        return refused, page, [await task for task in held]

    refused, page, held = async_to_sync(scenario)()
    assert refused["status"] == 503
    headers = dict(refused["headers"])
    assert headers[b"retry-after"] == b"3"
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(refused["body"])["retry_after"] == 3
    assert (page["status"], dict(page["headers"])[b"content-type"][:10]) == (503, b"text/plain")
    assert [response["status"] for response in held] == [200, 200]


def test_health_is_never_refused_so_probes_see_the_truth():
    async def scenario():
        release = asyncio.Event()
        limited = InFlightLimit(held_app(release), limit=1)
        busy = asyncio.create_task(HttpCommunicator(limited, "GET", "/api/x/").get_response(5))
        await asyncio.sleep(0.05)
        probe = asyncio.create_task(
            HttpCommunicator(limited, "GET", "/api/health/").get_response(5)
        )
        await asyncio.sleep(0.05)
        release.set()
        return await probe, await busy

    probe, busy = async_to_sync(scenario)()
    assert (probe["status"], busy["status"]) == (200, 200)


def test_the_deployed_application_is_limited(settings):
    assert isinstance(application.application.application_mapping["http"], InFlightLimit)
