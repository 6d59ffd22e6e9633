"""The namenode group as its members see it: each one's role, term and log positions.

Asked of every namenode at once (`GET /nn/v1/ha`), each within a deadline for the whole
call — connecting, sending and reading the answer — so a namenode that is stopped, or a
process at its address that answers a byte a second, costs no more than that: it is
`down`. `minihadoop admin ha` prints this; the dashboard shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from minihadoop.rest import Verify

DOWN = "down"


@dataclass(frozen=True, slots=True)
class NamenodeState:
    name: str
    url: str
    role: str  # leader, follower, pre_candidate, candidate, or down
    term: int | None = None
    commit: int | None = None
    applied: int | None = None
    leader: str | None = None
    # On the leader: how far each peer's log is known to match its own.
    match: dict[str, int | None] = field(default_factory=dict)
    error: str = ""


def parse_state(name: str, url: str, body: Any) -> NamenodeState:
    """A namenode's answer to `GET /nn/v1/ha`; KeyError, TypeError or ValueError if it is
    not one."""
    return NamenodeState(
        name=str(body.get("id") or name),
        url=url,
        role=str(body["role"]),
        term=int(body["term"]),
        commit=int(body["commit"]),
        applied=int(body["applied"]),
        leader=body.get("leader"),
        match={
            peer: (p.get("match") if isinstance(p, dict) else None)
            for peer, p in (body.get("peers") or {}).items()
        },
    )


async def _ask(client: httpx.AsyncClient, name: str, url: str, deadline: float) -> NamenodeState:
    try:
        async with asyncio.timeout(deadline):
            response = await client.get(f"{url.rstrip('/')}/nn/v1/ha")
            response.raise_for_status()
            return parse_state(name, url, response.json())
    except TimeoutError:
        return NamenodeState(name=name, url=url, role=DOWN, error=f"no answer in {deadline}s")
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as e:
        return NamenodeState(name=name, url=url, role=DOWN, error=str(e) or type(e).__name__)


async def group_state_async(
    namenodes: Mapping[str, str], client: httpx.AsyncClient, *, timeout: float = 2.0
) -> list[NamenodeState]:
    return list(await asyncio.gather(*(_ask(client, n, u, timeout) for n, u in namenodes.items())))


def group_state(
    namenodes: Mapping[str, str],
    *,
    auth: httpx.Auth | None = None,
    verify: Verify = True,
    timeout: float = 2.0,
) -> list[NamenodeState]:
    """Every namenode's state, asked in parallel, each within `timeout` seconds in all;
    `namenodes` maps names to client URLs. Not from inside a running event loop."""
    if not namenodes:
        return []

    async def ask_all() -> list[NamenodeState]:
        async with httpx.AsyncClient(auth=auth, verify=verify) as client:
            return await group_state_async(namenodes, client, timeout=timeout)

    return asyncio.run(ask_all())
