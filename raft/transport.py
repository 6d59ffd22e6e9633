"""Raft messages between namenodes: HTTP POSTs signed with the cluster key, both ways.

One sender thread per peer, so a peer that is slow, stopped or partitioned away delays
only the messages meant for it. Each sender takes everything queued for its peer and posts
it as one batch; a batch that fails is dropped, not retried — Raft resends what matters
(heartbeats, appends after a reject, votes on the next timeout), and stale messages are
worse than none. The queue is bounded: a peer that cannot keep up loses the oldest
messages first.

The peer answers on the same request (`?answer=1`): the body of its reply is a batch of
its messages for this node, written once the batch it was sent is handled and persisted.
An append and its answer thus cost one request, not two, and whatever queues for the peer
meanwhile goes out in the next batch (group commit on the follower's disk too).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Mapping, Sequence

import httpx

from minihadoop.rest import tls_verify
from minihadoop.signing import ClusterAuth
from raft.codec import decode_batch, encode_batch
from raft.types import Message, NodeId

log = logging.getLogger("minihadoop.raft")
PATH = "/internal/v1/raft"
MAX_QUEUED = 4096
MAX_BATCH = 256
# Appends and votes are small and must arrive within an election timeout or not at all;
# a snapshot may be large.
TIMEOUT = httpx.Timeout(3.0, connect=1.0)
SNAPSHOT_TIMEOUT = httpx.Timeout(60.0, connect=1.0)


class _Peer:
    def __init__(self, node: NodeId, url: str, client: httpx.Client) -> None:
        self.node = node
        self.url = url.rstrip("/") + PATH
        self.client = client
        self.queue: collections.deque[Message] = collections.deque(maxlen=MAX_QUEUED)
        self.wake = threading.Condition()
        self.failures = 0


class HttpTransport:
    def __init__(
        self,
        node: NodeId,
        peers: Mapping[NodeId, str],
        token: str,
        *,
        tls_ca: str = "",
    ) -> None:
        self.node = node
        # Where the peers' answers go: the host's `receive`, set once the host exists.
        self.receive: Callable[[Message], None] | None = None
        self._client = httpx.Client(
            auth=ClusterAuth(token),
            timeout=TIMEOUT,
            verify=tls_verify(tls_ca),
            limits=httpx.Limits(max_connections=2 * len(peers) + 2),
        )
        self._peers = {n: _Peer(n, url, self._client) for n, url in peers.items()}
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._run, args=(p,), name=f"raft-send-{n}", daemon=True)
            for n, p in self._peers.items()
        ]
        for t in self._threads:
            t.start()

    def send(self, messages: Sequence[Message]) -> None:
        for m in messages:
            peer = self._peers.get(m.to)
            if peer is None:
                log.warning("raft message for unknown peer %s dropped", m.to)
                continue
            with peer.wake:
                peer.queue.append(m)
                peer.wake.notify()

    def close(self) -> None:
        self._stopping = True
        for peer in self._peers.values():
            with peer.wake:
                peer.wake.notify()
        for t in self._threads:
            t.join(timeout=5)
        self._client.close()

    def _run(self, peer: _Peer) -> None:
        while True:
            with peer.wake:
                while not peer.queue and not self._stopping:
                    peer.wake.wait()
                if self._stopping:
                    return
                batch = [peer.queue.popleft() for _ in range(min(MAX_BATCH, len(peer.queue)))]
            self._post(peer, batch)

    def _post(self, peer: _Peer, batch: list[Message]) -> None:
        timeout = SNAPSHOT_TIMEOUT if any(m.snapshot for m in batch) else TIMEOUT
        try:
            response = peer.client.post(
                peer.url,
                params={"answer": "1"},
                content=encode_batch(batch),
                timeout=timeout,
            )
            response.raise_for_status()
            answers = decode_batch(response.content)
        except (httpx.HTTPError, ValueError) as e:
            peer.failures += 1
            if peer.failures in (1, 10) or peer.failures % 100 == 0:
                log.info("raft: %d message(s) to %s lost: %s", len(batch), peer.url, e)
            return
        peer.failures = 0
        for m in answers:
            if m.frm != peer.node or m.to != self.node:
                log.warning("raft: %s answered with a message from %s to %s", peer.url, m.frm, m.to)
                return
        if self.receive is not None:
            for m in answers:
                self.receive(m)
