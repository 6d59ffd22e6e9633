"""The dashboard's view of the namenode group: this namenode's own state, and each peer's
as it last answered `GET /nn/v1/ha`.

The peers are asked by one background thread every `every` seconds while the dashboard is
being looked at (a page within the last `watched` seconds), and every `idle` seconds
otherwise — so a first look finds roles at most that old, and a busy group spends almost
nothing on a dashboard nobody reads. Each round has a deadline for the whole call; pages
read what it found last and never wait on a peer — a peer that is stopped, or a stranger at
its address answering a byte a second, costs the dashboard nothing (it shows `down`).
"""

from __future__ import annotations

import threading
import time

from minihadoop.ha import NamenodeState, group_state
from minihadoop.rest import tls_verify
from minihadoop.signing import ClusterAuth
from namenode.namesystem import Namesystem


class GroupView:
    def __init__(
        self,
        system: Namesystem,
        *,
        every: float = 2.0,
        timeout: float = 1.5,
        watched: float = 60.0,
        idle: float = 15.0,
    ) -> None:
        self.system = system
        self.every = every
        self.timeout = timeout
        self.watched = watched
        self.idle = idle
        self._looked_at = -watched
        self._wake = threading.Event()
        settings = system.settings
        self._auth = ClusterAuth(settings.token) if settings.token else None
        self._verify = tls_verify(settings.tls_ca)
        self._others = {n: u for n, u in system.peers.items() if n != system.node_id}
        self._found: list[NamenodeState] = [
            NamenodeState(name=n, url=u, role="unknown") for n, u in self._others.items()
        ]
        if self._others:
            threading.Thread(target=self._refresh, name="group-view", daemon=True).start()

    def _refresh(self) -> None:
        while True:
            self._found = self._ask()
            self._wake.wait(self.idle)
            self._wake.clear()  # before looking: a page asking from now on wakes us again
            while time.monotonic() - self._looked_at <= self.watched:
                self._found = self._ask()
                time.sleep(self.every)

    def _ask(self) -> list[NamenodeState]:
        return group_state(self._others, auth=self._auth, verify=self._verify, timeout=self.timeout)

    def states(self) -> list[NamenodeState]:
        """Every namenode of the group, this one first."""
        self._looked_at = time.monotonic()
        self._wake.set()
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
        return [me, *self._found]
