"""What an app built on minihadoop.server answers when something goes wrong unexpectedly,
or a URL cannot be decoded: WebHDFS's error shape, and nothing about the server's disk."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

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
