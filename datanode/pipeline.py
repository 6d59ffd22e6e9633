"""Pipeline writes: store a block while forwarding the same bytes to the next datanode.

Wire format of a block write (``PUT /dn/v1/blocks/<id>?gen=&length=&bpc=``, header
``X-Targets: <url>,<url>`` naming the rest of the pipeline): the body is the block's
`length` data bytes followed by their CRC32C checksums (one per `bpc` bytes). Each node
checks the data against the checksums before it finalizes, so a bit flipped on any hop is
caught there, and the block is acknowledged only once every node that answers has it on disk.

A downstream node that fails or stalls is dropped from the pipeline: this node keeps writing,
reports the failure in its answer, and the namenode re-replicates later (HDFS's behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx

from datanode.blockstore import BlockStore, Replica
from minihadoop.checksum import checksum_length
from minihadoop.errors import ChecksumError, IllegalArgumentError
from minihadoop.models import BlockWriteResult
from minihadoop.signing import CONTENT

_END = b""


@dataclass(frozen=True, slots=True)
class WriteSpec:
    block_id: int
    gen: int
    length: int
    bytes_per_checksum: int
    targets: tuple[str, ...] = ()

    def query(self) -> dict[str, int]:
        return {"gen": self.gen, "length": self.length, "bpc": self.bytes_per_checksum}

    @property
    def body_length(self) -> int:
        return self.length + checksum_length(self.length, self.bytes_per_checksum)


def block_url(base: str, block_id: int) -> str:
    return f"{base}/dn/v1/blocks/{block_id}"


async def send_block(
    client: httpx.AsyncClient,
    spec: WriteSpec,
    body: Callable[[], AsyncIterator[bytes]],
    content: str | None,
    timeout: float,
) -> BlockWriteResult:
    """PUT a block (data then checksums) down the pipeline `spec.targets`.

    A target that refuses the connection — dead, but not yet declared dead — is skipped and
    the block goes to the next one, which forwards to the rest; no byte was sent to it, so
    `body()` can be started afresh. Skipped targets are listed as failed in the result.

    `content` is the body's SHA-256 as its writer signed it, passed on so every node of
    the pipeline checks the same bytes against it; None sends it as an unsigned payload
    (`minihadoop.signing`), still covered by its CRC32C checksums.
    """
    headers = {"x-targets": "", "content-length": str(spec.body_length)}
    if content is not None:
        headers[CONTENT] = content
    skipped: list[str] = []
    for i, first in enumerate(spec.targets):
        try:
            response = await client.put(
                block_url(first, spec.block_id),
                params=spec.query(),
                content=body(),
                headers={**headers, "x-targets": ",".join(spec.targets[i + 1 :])},
                timeout=httpx.Timeout(timeout),
            )
        except httpx.ConnectError:
            skipped.append(first)
            continue
        if response.status_code != 200:
            raise PipelineError(first, response.status_code, response.text[:300])
        result = BlockWriteResult.model_validate(response.json())
        return BlockWriteResult(stored=result.stored, failed=skipped + result.failed)
    raise PipelineError(spec.targets[-1], 503, f"no target reachable: {', '.join(skipped)}")


class PipelineError(Exception):
    def __init__(self, url: str, status: int, detail: str) -> None:
        super().__init__(f"{url} answered {status}: {detail}")
        self.url = url
        self.status = status


@dataclass
class _Downstream:
    queue: asyncio.Queue[bytes]
    task: asyncio.Task[BlockWriteResult]
    alive: bool = True
    failed: list[str] = field(default_factory=list)


async def receive_block(
    store: BlockStore,
    spec: WriteSpec,
    stream: AsyncIterator[bytes],
    *,
    client: httpx.AsyncClient,
    content: str | None,
    timeout: float,
) -> tuple[Replica, BlockWriteResult]:
    """Store the block arriving on `stream`, forwarding it along `spec.targets`.

    Returns the finalized local replica and what the downstream nodes did. Raises
    (having stored nothing) when the stream is short, long, or fails its checksums.
    """
    downstream = _start_downstream(spec, client, content, timeout) if spec.targets else None
    writer = store.begin(spec.block_id, spec.gen, spec.bytes_per_checksum)
    sums = bytearray()
    received = 0
    try:
        async for piece in stream:
            if not piece:
                continue
            data_left = spec.length - received
            received += len(piece)
            if received > spec.body_length:
                raise IllegalArgumentError(f"block {spec.block_id}: body longer than declared")
            if data_left > 0:
                writer.write(piece[:data_left] if len(piece) > data_left else piece)
            if len(piece) > data_left:
                sums += piece[max(0, data_left) :]
            if downstream is not None:
                await _feed(downstream, piece, timeout)
        if received != spec.body_length:
            raise IllegalArgumentError(
                f"block {spec.block_id}: truncated body ({received} of {spec.body_length} bytes)"
            )
        if downstream is not None:
            await _feed(downstream, _END, timeout)
        replica = await asyncio.to_thread(writer.finish, bytes(sums), spec.length)
    except BaseException:
        writer.abort()
        if downstream is not None:
            downstream.task.cancel()
        raise
    result = await _downstream_result(downstream, spec, timeout)
    return replica, BlockWriteResult(
        stored=[store.datanode_id, *result.stored], failed=result.failed
    )


def _start_downstream(
    spec: WriteSpec, client: httpx.AsyncClient, content: str | None, timeout: float
) -> _Downstream:
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)

    async def body() -> AsyncIterator[bytes]:
        while True:
            piece = await queue.get()
            if not piece:
                return
            yield piece

    task = asyncio.create_task(send_block(client, spec, body, content, timeout))
    return _Downstream(queue, task)


async def _feed(downstream: _Downstream, piece: bytes, timeout: float) -> None:
    if not downstream.alive:
        return
    if downstream.task.done():
        downstream.alive = False
        return
    try:
        await asyncio.wait_for(downstream.queue.put(piece), timeout)
    except TimeoutError:
        downstream.alive = False  # a stalled node: carry on without it
        downstream.task.cancel()


async def _downstream_result(
    downstream: _Downstream | None, spec: WriteSpec, timeout: float
) -> BlockWriteResult:
    if downstream is None:
        return BlockWriteResult(stored=[])
    if downstream.alive:
        try:
            return await asyncio.wait_for(asyncio.shield(downstream.task), timeout)
        except (httpx.HTTPError, PipelineError, TimeoutError, ChecksumError, ValueError):
            pass
    downstream.task.cancel()
    with contextlib.suppress(BaseException):
        await downstream.task
    return BlockWriteResult(stored=[], failed=list(spec.targets))
