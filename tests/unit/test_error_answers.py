"""What an app built on minihadoop.server answers when something goes wrong unexpectedly,
or a URL cannot be decoded: WebHDFS's error shape, and nothing about the server's disk."""

from __future__ import annotations

import asyncio
import gc
import types

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from minihadoop.server import install_error_handlers


def app_failing_with(exc: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    @app.get("/fine/{name}")
    def fine(name: str) -> dict[str, str]:
        return {"name": name}

    return app


def get(app: FastAPI, *urls: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://d") as client:
            return [await client.get(u) for u in urls]

    return asyncio.run(fetch())


def test_an_unexpected_oserror_does_not_show_the_file_it_names() -> None:
    error = OSError(36, "File name too long", "/var/lib/minihadoop/data/current/x" * 10)
    (r,) = get(app_failing_with(error), "/boom")
    assert r.status_code == 500
    message = r.json()["RemoteException"]["message"]
    assert message == "OSError: File name too long"


@pytest.mark.parametrize("url", ["/fine/a%ED%A0%80", "/fine/%FF", "/fine/a%0Ab", "/fine/x?q=%C0"])
def test_undecodable_urls_are_400_before_any_route(url: str) -> None:
    r, good = get(app_failing_with(RuntimeError()), url, "/fine/%C3%BC")
    assert r.status_code == 400, r.text
    assert r.json()["RemoteException"]["exception"] == "IllegalArgumentException"
    assert good.json() == {"name": "ü"}


class Ask(BaseModel):  # at module level: the route's body annotation must resolve to it
    n: int


def test_a_json_body_that_does_not_parse_is_not_left_in_a_garbage_cycle() -> None:
    """FastAPI's decode error, its cause and their tracebacks hold the frames that decoded
    the body, and the body, in a cycle that only the collector frees: the handler breaks
    it, so the body goes with the answer, whatever the collector's thresholds."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/ask")
    def ask(req: Ask) -> dict[str, int]:
        return {"n": req.n}

    size = 1 << 20
    body = b"{" + b"x" * size  # not JSON

    async def post() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://d") as client:
            r = await client.post(
                "/ask", content=body, headers={"content-type": "application/json"}
            )
            assert r.status_code == 400
            return str(r.json()["RemoteException"]["message"])

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds stays in gc.garbage
    try:
        message = asyncio.run(post())
        gc.collect()
        # The server's frames holding the body (the client's request object keeps its own
        # copy, in a cycle of httpx's).
        held = [
            g.f_code.co_name
            for g in gc.garbage
            if isinstance(g, types.FrameType)
            and any(isinstance(o, bytes | str) and len(o) >= size for o in gc.get_referents(g))
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert "JSON decode error" in message  # the body was decoded, and failed
    assert not held  # unbroken: json.loads' frames and FastAPI's, holding it
