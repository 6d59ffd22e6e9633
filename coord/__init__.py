"""A Chubby-style lock service beside the namespace, replicated by the namenodes' Raft
group: sessions kept alive by their clients, locks with fencing tokens, and a small
key-value space whose keys may live and die with a session.

Pure, like `raft.core`: no sockets, files, clocks or threads.

* `coord.commands` — the commands a log entry carries, parsed strictly.
* `coord.machine` — `CoordMachine`, the replicated state machine that applies them.
* `coord.leases` — `LeaseTracker`, the leader's clock on sessions, deciding expiries;
  `ClientLease`, a client's own, more cautious count.
* `coord.errors` — its refusals, as minihadoop errors.
"""
