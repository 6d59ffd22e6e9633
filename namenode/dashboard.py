"""The web dashboard (placeholder until the dashboard lands)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from namenode.namesystem import Namesystem


def router(system: Namesystem, read: Any) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    @api.get("/", dependencies=[read])
    def home() -> RedirectResponse:
        return RedirectResponse("/nn/v1/cluster")

    del system
    return api
