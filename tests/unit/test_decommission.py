"""Decommissioning in the namesystem: the operator's decision is kept in the name folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minihadoop.config import Settings
from minihadoop.models import BlockReportRequest, DatanodeState
from namenode.decommissioned import DecommissionList
from namenode.namesystem import Namesystem
from tests.support import register_datanodes


@pytest.fixture
def open_system(tmp_path: Path) -> Iterator[Callable[[], Namesystem]]:
    """Namesystems on one name folder, each closed when the test ends."""
    opened: list[Namesystem] = []

    def make() -> Namesystem:
        system = Namesystem(tmp_path / "name", Settings(token="t"))
        opened.append(system)
        return system

    yield make
    for system in opened:
        system.close()


def test_the_decommissioned_list_is_on_disk_one_id_a_line(tmp_path: Path) -> None:
    kept = DecommissionList(tmp_path)
    kept.add("dn2")
    kept.add("dn1")
    kept.add("dn2")
    assert (tmp_path / "decommissioned").read_text() == "dn1\ndn2\n"
    assert DecommissionList(tmp_path).ids() == ["dn1", "dn2"]
    assert "dn1" in DecommissionList(tmp_path) and "dn3" not in DecommissionList(tmp_path)


def test_a_restarted_namenode_drains_a_decommissioned_node_again(
    open_system: Callable[[], Namesystem],
) -> None:
    system = open_system()
    for node in ("dn1", "dn2"):
        register_datanodes(system, node)
    assert system.decommission("dn1") is DatanodeState.DECOMMISSIONING
    system.close()

    again = open_system()
    for node in ("dn1", "dn2"):
        register_datanodes(again, node)
    states = {n.id: n.state for n in again.datanode_table()}
    assert states == {"dn1": DatanodeState.DECOMMISSIONING, "dn2": DatanodeState.LIVE}
    assert "dn1" not in again.datanodes.writable()


def test_a_retired_node_that_reports_is_not_told_to_register_again(
    open_system: Callable[[], Namesystem],
) -> None:
    system = open_system()
    for node in ("dn1", "dn2"):
        register_datanodes(system, node)
    system.decommission("dn1")
    system.tick()  # it holds nothing: retired at once
    assert system.datanodes.nodes["dn1"].state is DatanodeState.DECOMMISSIONED
    # A restarted datanode registers, then reports; "register" here would loop for ever.
    register_datanodes(system, "dn1")
    answer = system.block_report(BlockReportRequest(datanode_id="dn1", replicas=[]))
    assert answer.commands == []
    assert system.datanodes.nodes["dn1"].state is DatanodeState.DECOMMISSIONED
