"""The datanodes an operator decommissioned, kept in the name folder: HDFS's exclude file.

Which nodes are alive and what state they are in is soft state, rebuilt from registrations
after a restart; the operator's decision to retire a node is not, so it is kept here, one
datanode id a line, in ``<name folder>/decommissioned``. It is not part of the namespace
and nothing in it is replayed: a node named here that registers (after a namenode restart,
or coming back after it was switched off) starts DECOMMISSIONING again, and becomes
DECOMMISSIONED once every block it holds has its full replication elsewhere.

The file is replaced atomically (temp file, fsync, rename, folder fsync) before the
decommission is acted on or answered, so an acknowledged decommission survives a kill -9.
To take a node back into service, stop the namenode, delete its line, start the namenode.
"""

from __future__ import annotations

from pathlib import Path

from minihadoop.durable import replace_file

FILE_NAME = "decommissioned"


class DecommissionList:
    def __init__(self, name_dir: Path) -> None:
        self.path = name_dir / FILE_NAME
        self._ids: set[str] = set()
        if self.path.exists():
            lines = self.path.read_text().splitlines()
            self._ids = {line.strip() for line in lines if line.strip()}

    def __contains__(self, datanode_id: object) -> bool:
        return datanode_id in self._ids

    def ids(self) -> list[str]:
        return sorted(self._ids)

    def add(self, datanode_id: str) -> None:
        """Record `datanode_id`; returns once the record is on disk."""
        if datanode_id in self._ids:
            return
        text = "".join(f"{i}\n" for i in sorted({*self._ids, datanode_id}))
        replace_file(self.path, text)
        self._ids.add(datanode_id)
