"""Leases: when each file being written last heard from its holder. Pure, soft state.

HDFS's two limits, with the time passed in:

* **soft limit** (`lease_soft_limit`, 60 s): a writer silent for longer is presumed dead.
  Its file is no longer its own against another client: a `create` with overwrite drops
  it, an `append` or a plain `create` starts lease recovery.
* **hard limit** (`lease_hard_limit`, an hour): a file whose holder is silent for longer
  is abandoned by the namenode itself, with nobody asking.

A writer renews by writing (create, append, add_block) or by renewing outright. The
namenode's recovery holds a file from the moment it starts recovering it; a recovery that
has not finished a soft limit after it was asked for is asked for again (its datanode may
have died, or the namenode restarted and forgot it asked). Nothing here is logged: after a
restart every lease starts afresh, as in HDFS.
"""

from __future__ import annotations

from collections.abc import Iterable

# HDFS's name for the namenode as a lease holder (`HdfsServerConstants.NAMENODE_LEASE_HOLDER`).
RECOVERY_HOLDER = "HDFS_NameNode"


class Leases:
    def __init__(self, *, soft_limit: float, hard_limit: float) -> None:
        self.soft_limit = soft_limit
        self.hard_limit = hard_limit
        self._renewed: dict[int, float] = {}
        self._recovery_asked: dict[int, float] = {}

    def renew(self, file_id: int, now: float) -> None:
        self._renewed[file_id] = now

    def _age(self, file_id: int, now: float) -> float:
        # A file the table has not seen (the namenode restarted) starts its lease now.
        return now - self._renewed.setdefault(file_id, now)

    def soft_expired(self, file_id: int, now: float) -> bool:
        return self._age(file_id, now) > self.soft_limit

    def hard_expired(self, file_id: int, now: float) -> bool:
        return self._age(file_id, now) > self.hard_limit

    def recovery_asked(self, file_id: int, now: float) -> None:
        """A recovery of `file_id` was asked for now; it renews the recovery's lease."""
        self._recovery_asked[file_id] = now
        self._renewed[file_id] = now

    def recovery_due(self, file_id: int, now: float) -> bool:
        """True when no recovery of `file_id` was asked for within the soft limit. A
        recovery the table has not seen (logged before a restart) counts as asked now: the
        datanodes holding its block need time to report to the restarted namenode."""
        return now - self._recovery_asked.setdefault(file_id, now) > self.soft_limit

    def retain(self, open_files: Iterable[int]) -> None:
        """Forget every file not in `open_files`: completed, abandoned or recovered."""
        keep = set(open_files)
        for table in (self._renewed, self._recovery_asked):
            for gone in table.keys() - keep:
                del table[gone]

    def forget(self, file_id: int) -> None:
        self._renewed.pop(file_id, None)
        self._recovery_asked.pop(file_id, None)
