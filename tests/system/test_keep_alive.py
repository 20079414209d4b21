"""An error response leaves the client's keep-alive connection usable: a real uvicorn
server and one pooled HTTP connection, as a browser or a service client holds it."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn
from fastapi import FastAPI

from fastapi_building_blocks.fastapi import install_problem_handlers
from tests.system.service_process import free_port


def local_address(response: httpx.Response) -> tuple[str, int]:
    """The client side of the TCP connection that carried `response`."""
    stream = response.extensions["network_stream"]
    return tuple(stream.get_extra_info("client_addr"))


async def test_requests_after_an_unexpected_500_reuse_the_same_connection() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/fine")
    async def fine() -> dict[str, str]:
        return {"status": "ok"}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    peers: set[tuple[str, int]] = set()
    try:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
            failed = await client.get("/boom")
            peers.add(local_address(failed))
            follow_ups = []
            for _ in range(10):
                response = await client.get("/fine")
                follow_ups.append(response.status_code)
                peers.add(local_address(response))
    finally:
        server.should_exit = True
        await serving

    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert follow_ups == [200] * 10
    assert len(peers) == 1  # one connection served them all
