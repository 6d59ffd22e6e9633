"""The dashboard's view of the namenode group: this namenode's own state, and each peer's
as it answers `GET /nn/v1/ha` within a short timeout (`down` if it does not)."""

from __future__ import annotations

import httpx

from minihadoop.ha import NamenodeState, group_state
from minihadoop.rest import tls_verify
from minihadoop.signing import ClusterAuth
from namenode.namesystem import Namesystem


class GroupView:
    def __init__(self, system: Namesystem, *, timeout: float = 1.5) -> None:
        self.system = system
        self.timeout = timeout
        settings = system.settings
        self._client = httpx.Client(
            auth=ClusterAuth(settings.token) if settings.token else None,
            verify=tls_verify(settings.tls_ca),
        )

    def states(self) -> list[NamenodeState]:
        """Every namenode of the group, this one first."""
        own = self.system.ha_status()
        me = NamenodeState(
            name=own["id"],
            url=self.system.peers.get(own["id"], ""),
            role=own["role"],
            term=own["term"],
            commit=own["commit"],
            applied=own["applied"],
            leader=own["leader"],
            match={peer: p["match"] for peer, p in own["peers"].items()},
        )
        others = {n: u for n, u in self.system.peers.items() if n != me.name}
        return [me, *group_state(others, self._client, timeout=self.timeout)]
