"""The datanode registry: who is alive, how full, and what each node must do next. Pure.

A node registers, then heartbeats. One silent for longer than the dead-node timeout is
declared DEAD by `expire(now)` (the caller drops its replicas and re-replicates). A dead
node that heartbeats again is told to re-register and send a full block report, as HDFS
does. Commands for a node queue here and leave with its next heartbeat reply.

Like HDFS's "blocks scheduled", a node remembers the block writes it was chosen for and has
not yet reported (`schedule` / `received`). Its `view` counts them as transfers under way
and takes their bytes off its free space: between two heartbeats every node's reported
numbers stand still, and without this every block of a burst would go to the same node.
A scheduled write never reported (the writer died) stops counting after `SCHEDULED_TTL`.

Heartbeats are the one call made without the namesystem's lock (a thousand nodes send one
every few seconds, and none should wait behind a replication round): `heartbeat` only
stores plain fields and takes commands from the node's deque, each of which is one atomic
step, so it cannot tear what the locked callers do. Everything else, stale scheduled writes
included (`forget_stale`, on the monitor's tick), happens under the lock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from minihadoop.models import Command, DatanodeRef, DatanodeState, HeartbeatRequest, RegisterRequest
from namenode.placement import NodeView


@dataclass
class DatanodeDescriptor:
    id: str
    url: str
    rack: str
    registered_at: float
    last_heartbeat: float
    state: DatanodeState = DatanodeState.LIVE
    capacity: int = 0
    used: int = 0
    remaining: int = 0
    active_transfers: int = 0
    commands: deque[Command] = field(default_factory=deque)
    # block id -> (bytes, when): writes this node was chosen for, not yet reported received
    scheduled: dict[int, tuple[int, float]] = field(default_factory=dict)
    scheduled_bytes: int = 0  # their sum, kept as they come and go: views are built often
    SCHEDULED_TTL: ClassVar[float] = 60.0

    # The address the node's requests came from. Clients are matched against it for
    # locality: a writer or reader knows its IP, not the name a datanode advertises.
    ip: str = ""

    @property
    def host(self) -> str:
        return self.ip or urlsplit(self.url).hostname or ""

    @property
    def ref(self) -> DatanodeRef:
        return DatanodeRef(id=self.id, url=self.url, rack=self.rack)

    @property
    def view(self) -> NodeView:
        return NodeView(
            id=self.id,
            host=self.host,
            rack=self.rack,
            capacity=self.capacity,
            remaining=max(0, self.remaining - self.scheduled_bytes),
            active_transfers=self.active_transfers + len(self.scheduled),
        )

    def schedule(self, block_id: int, size: int, now: float) -> None:
        """This node was chosen to receive a replica of `block_id` (about `size` bytes)."""
        self.received(block_id)
        self.scheduled[block_id] = (size, now)
        self.scheduled_bytes += size

    def received(self, block_id: int) -> None:
        size, _ = self.scheduled.pop(block_id, (0, 0.0))
        self.scheduled_bytes -= size

    def forget_stale(self, now: float) -> None:
        stale = [b for b, (_, when) in self.scheduled.items() if now - when > self.SCHEDULED_TTL]
        for block_id in stale:
            self.received(block_id)

    def clear_scheduled(self) -> None:
        self.scheduled.clear()
        self.scheduled_bytes = 0

    @property
    def is_live(self) -> bool:
        return self.state in (DatanodeState.LIVE, DatanodeState.DECOMMISSIONING)


class DatanodeRegistry:
    def __init__(self, *, dead_timeout: float) -> None:
        self.dead_timeout = dead_timeout
        self.nodes: dict[str, DatanodeDescriptor] = {}

    def register(self, req: RegisterRequest, now: float, ip: str = "") -> DatanodeDescriptor:
        node = self.nodes.get(req.datanode_id)
        if node is None or node.state is DatanodeState.DEAD:
            node = DatanodeDescriptor(
                id=req.datanode_id,
                url=req.url.rstrip("/"),
                rack=req.rack,
                registered_at=now,
                last_heartbeat=now,
            )
            self.nodes[req.datanode_id] = node
        else:  # a live node re-registering (e.g. restarted quickly): keep its state
            node.url, node.rack, node.last_heartbeat = req.url.rstrip("/"), req.rack, now
            node.commands.clear()
            node.clear_scheduled()
        node.capacity, node.used, node.remaining = req.capacity, req.used, req.remaining
        node.ip = ip or node.ip
        return node

    def heartbeat(self, req: HeartbeatRequest, now: float) -> DatanodeDescriptor | None:
        """Record a heartbeat; None when the node must register first. Safe without the
        namesystem's lock (see the module's note): plain stores, nothing iterated."""
        node = self.nodes.get(req.datanode_id)
        if node is None or node.state is DatanodeState.DEAD:
            return None
        node.last_heartbeat = now
        node.capacity, node.used, node.remaining = req.capacity, req.used, req.remaining
        node.active_transfers = req.active_transfers
        return node

    def forget_stale(self, now: float) -> None:
        """Scheduled writes never reported within `SCHEDULED_TTL` stop counting."""
        for node in self.nodes.values():  # under the lock: no node comes or goes meanwhile
            if node.scheduled:
                node.forget_stale(now)

    def expire(self, now: float) -> list[DatanodeDescriptor]:
        """Declare nodes silent for too long dead; the ones newly dead."""
        dead = []
        for node in self.nodes.values():
            if node.is_live and now - node.last_heartbeat > self.dead_timeout:
                node.state = DatanodeState.DEAD
                node.commands.clear()
                node.clear_scheduled()
                node.active_transfers = 0
                dead.append(node)
        return dead

    def get(self, datanode_id: str) -> DatanodeDescriptor | None:
        return self.nodes.get(datanode_id)

    def live(self) -> dict[str, DatanodeDescriptor]:
        return {k: n for k, n in self.nodes.items() if n.is_live}

    def writable(self) -> dict[str, NodeView]:
        """Nodes that may receive new replicas: live and not being drained."""
        return {k: n.view for k, n in self.nodes.items() if n.state is DatanodeState.LIVE}

    def queue(self, datanode_id: str, command: Command) -> None:
        node = self.nodes.get(datanode_id)
        if node is not None and node.is_live:
            node.commands.append(command)

    def take_commands(self, datanode_id: str, limit: int = 100) -> list[Command]:
        node = self.nodes.get(datanode_id)
        out: list[Command] = []
        while node is not None and len(out) < limit:
            try:  # one atomic pop at a time: a command queued meanwhile is never lost
                out.append(node.commands.popleft())
            except IndexError:
                break
        return out

    def by_url(self) -> dict[str, DatanodeDescriptor]:
        return {n.url: n for n in self.nodes.values()}
