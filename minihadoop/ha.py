"""The namenode group as its members see it: each one's role, term and log positions.

Asked of every namenode at once (`GET /nn/v1/ha`), each with a short timeout: a namenode
that does not answer is `down`. `minihadoop admin ha` prints this; the dashboard shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

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


def _ask(client: httpx.Client, name: str, url: str, timeout: float) -> NamenodeState:
    try:
        response = client.get(f"{url.rstrip('/')}/nn/v1/ha", timeout=timeout)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
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
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
        return NamenodeState(name=name, url=url, role=DOWN, error=str(e) or type(e).__name__)


def group_state(
    namenodes: Mapping[str, str], client: httpx.Client, *, timeout: float = 2.0
) -> list[NamenodeState]:
    """Every namenode's state, asked in parallel; `namenodes` maps names to client URLs."""
    if not namenodes:
        return []
    with ThreadPoolExecutor(max_workers=len(namenodes)) as pool:
        futures = [pool.submit(_ask, client, n, u, timeout) for n, u in namenodes.items()]
        return [f.result() for f in futures]
