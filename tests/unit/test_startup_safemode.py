"""A namenode that has just restarted, in process: until its datanodes report, writes and
reads of unreported blocks are refused as retriable (503), so clients wait instead of
failing; safe mode entered by an administrator is refused for good (403)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from minihadoop.config import Settings
from minihadoop.models import Block, BlockReportRequest, LocatedBlock, ReplicaReport
from namenode.app import create_app
from namenode.namesystem import SUPERUSER, Namesystem
from tests.support import cluster_auth, register_datanodes

TOKEN = "secret"


def call(system: Namesystem, method: str, url: str, **kw: Any) -> httpx.Response:
    app = create_app(system, system.settings)

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://127.0.0.1",
            auth=cluster_auth(TOKEN),
            params={"user.name": SUPERUSER},  # as a client on the namenode's account does
        ) as client:
            return await client.request(method, url, **kw)

    return asyncio.run(run())


def restarted_namenode(tmp_path: Path) -> Namesystem:
    """A namenode that wrote /f (one 10-byte block) and started again: nothing reported."""
    first = Namesystem(tmp_path / "name", Settings(token=TOKEN))
    register_datanodes(first, "dn1")
    first.tick()
    body = {"path": "/f", "client": "c1"}
    call(first, "POST", "/nn/v1/create", json=body)
    added = call(first, "POST", "/nn/v1/add_block", json=body)
    block = LocatedBlock.model_validate(added.json()).block
    last = Block(block_id=block.block_id, gen=block.gen, length=10).model_dump()
    assert call(first, "POST", "/nn/v1/complete", json={**body, "last": last}).status_code == 200
    first.close()
    return Namesystem(tmp_path / "name", Settings(token=TOKEN))


def remote(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["RemoteException"]["exception"]


def test_a_namenode_starting_up_refuses_writes_as_retriable(tmp_path: Path) -> None:
    system = restarted_namenode(tmp_path)
    try:
        mkdir = call(system, "PUT", "/webhdfs/v1/d", params={"op": "MKDIRS"})
        assert remote(mkdir) == (503, "SafeModeException")
        assert "Safe mode is ON: 0 of 1 blocks reported" in mkdir.text
        assert system.status_or_none("/d") is None  # refused: nothing changed
        system.set_safemode("enter")  # by hand: waiting would not end it
        assert remote(call(system, "PUT", "/webhdfs/v1/d", params={"op": "MKDIRS"})) == (
            403,
            "SafeModeException",
        )
    finally:
        system.close()


def test_a_namenode_starting_up_does_not_answer_a_read_with_no_locations(tmp_path: Path) -> None:
    system = restarted_namenode(tmp_path)
    try:
        blocks = call(system, "GET", "/nn/v1/blocks", params={"path": "/f"})
        assert remote(blocks) == (503, "SafeModeException")
        assert "Zero block locations for /f" in blocks.text
        stat = call(system, "GET", "/webhdfs/v1/f", params={"op": "GETFILESTATUS"})
        assert stat.status_code == 200  # the namespace itself is readable
    finally:
        system.close()


def test_block_reports_in_safe_mode_do_not_walk_the_namespace(tmp_path: Path) -> None:
    """Safe mode's count is kept as replicas are reported: a report costs its own replicas,
    not a walk of every block (which made a start-up with many datanodes quadratic). Only
    the monitor's tick leaves safe mode, and only on an exact count: a replica reported and
    then gone does not let it out."""
    system = restarted_namenode(tmp_path)
    try:
        (record,) = system.ns.file_blocks("/f")[1]
        ids = [f"dn{i}" for i in range(40)]
        register_datanodes(system, *ids)
        walks = 0
        walk = system.ns.complete_block_ids

        def counted() -> Any:
            nonlocal walks
            walks += 1
            return walk()

        system.ns.complete_block_ids = counted  # type: ignore[method-assign]
        for node in ids:
            system.block_report(BlockReportRequest(datanode_id=node, replicas=[]))
        assert walks <= 1 and system.safemode.on  # the first count, then none

        replica = ReplicaReport(block_id=record.block_id, gen=record.gen, length=10)
        system.block_report(BlockReportRequest(datanode_id="dn0", replicas=[replica]))
        assert system.safemode.on and system.safemode.reported == 1  # seen; not decided
        system.block_report(BlockReportRequest(datanode_id="dn0", replicas=[]))  # gone again
        before = walks
        system.tick()
        assert walks == before + 1  # the cheap count reached the threshold: counted exactly
        assert system.safemode.on and system.safemode.reported == 0

        system.block_report(BlockReportRequest(datanode_id="dn1", replicas=[replica]))
        system.tick()
        assert not system.safemode.on  # an exact count of 1 of 1
    finally:
        system.close()
