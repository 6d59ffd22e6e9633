"""Replicated state machines: a Raft core and the host that drives it.

* `raft.types` — the records the core and its host exchange (entries, messages, `Ready`).
* `raft.core` — the Raft algorithm, pure: `step(message)`, `tick()`, `ready()`; no
  sockets, files, clocks or threads inside. It keeps its log in `raft.log`, what a leader
  knows of each follower in `raft.progress`, pending linearizable reads in
  `raft.readindex`; `raft.config` holds its configuration, status report and errors.
* `raft.storage` — the durable log, term and vote, and snapshots on disk. Built from
  `raft.wal` (log segments), `raft.records` (the typed records), `raft.framing` (checksummed
  frames), `raft.replay` (rebuilding the log from records) and `raft.snapshot_file`; what
  it raises is drawn in `raft.errors`.
* `raft.machine`, `raft.sessions` — what a replicated state machine is, the envelope of
  each entry, and the client session table that answers a retried request once.
* `raft.host` — the thread that drives the core, the storage, the peers (`raft.transport`,
  `raft.codec`) and a state machine.

Whatever the core hands back in a `Ready` must be carried out in this order: persist its
hard state, entries and snapshot (fsync when `must_sync`) BEFORE sending its messages;
apply its committed entries; then `advance()`.
"""
