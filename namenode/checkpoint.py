"""The namespace's image (HDFS's fsimage): the whole namespace as one JSON document.

It is the namespace state machine's snapshot (`namenode.machine`): the Raft log stores it
and sends it to a namenode too far behind to catch up from the log.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
from collections.abc import Iterator
from typing import Any

from namenode.namespace import BlockRecord, Directory, File, Namespace, PendingFile, Quota


def _dump_node(node: Directory | File) -> list[Any]:
    head = [node.id, node.mtime, node.atime, node.owner, node.group, node.permission]
    if isinstance(node, File):
        blocks = [[b.block_id, b.gen, b.length] for b in node.blocks]
        return ["F", *head, node.replication, node.block_size, blocks]
    return ["D", *head, {name: _dump_node(child) for name, child in node.children.items()}]


def _load_node(data: list[Any], ns: Namespace) -> Directory | File:
    kind, inode_id, mtime, atime, owner, group, perm, *rest = data
    node: Directory | File
    if kind == "F":
        replication, block_size, blocks = rest
        node = File(inode_id, mtime, owner, group, perm, replication, block_size)
        node.blocks = tuple(BlockRecord(*b) for b in blocks)
        for b in node.blocks:
            ns.block_owner[b.block_id] = node
    else:
        node = Directory(inode_id, mtime, owner, group, perm)
        node.children = {name: _load_node(child, ns) for name, child in rest[0].items()}
    node.atime = atime
    return node


def dump(ns: Namespace, txid: int) -> dict[str, Any]:
    return {
        "version": 1,
        "txid": txid,
        "last_inode_id": ns.last_inode_id,
        "last_block_id": ns.last_block_id,
        "last_gen": ns.last_gen,
        "root": _dump_node(ns.root),
        "xattrs": {
            str(inode): {k: base64.b64encode(v).decode() for k, v in held.items()}
            for inode, held in ns.xattrs.items()
        },
        # Only the limits: what each folder holds is counted again on loading.
        "quotas": {str(inode): [q.names, q.space] for inode, q in ns.quotas.items()},
        "under_construction": [
            [
                p.path,
                p.client,
                p.overwrite,
                p.started,
                _dump_node(p.file),
                p.append_to is not None,
                p.replace_last,
            ]
            for p in ns.under_construction.values()
        ],
    }


def load(data: dict[str, Any]) -> tuple[Namespace, int]:
    ns = Namespace()
    ns.last_inode_id = data["last_inode_id"]
    ns.last_block_id = data["last_block_id"]
    ns.last_gen = data["last_gen"]
    root = _load_node(data["root"], ns)
    if not isinstance(root, Directory):
        raise ValueError("the image's root is not a folder")
    ns.root = root
    ns.xattrs = {  # an image from before extended attributes has none
        int(inode): {k: base64.b64decode(v) for k, v in held.items()}
        for inode, held in data.get("xattrs", {}).items()
    }
    for path, client, overwrite, started, node, *append in data["under_construction"]:
        f = _load_node(node, ns)
        if not isinstance(f, File):
            raise ValueError(f"the image's file being written at {path} is a folder")
        is_append, replace_last = append if append else (False, False)
        found = ns.lookup(path) if is_append else None
        if is_append and not isinstance(found, File):
            raise ValueError(f"the image's append at {path} has no file to append to")
        base = found if isinstance(found, File) else None
        ns.open_file(PendingFile(path, client, f, overwrite, started, base, replace_last))
    ns.quotas = {  # an image from before quotas has none
        int(inode): Quota(int(names), int(space))
        for inode, (names, space) in data.get("quotas", {}).items()
    }
    ns.recount()
    return ns, int(data["txid"])


def encode(ns: Namespace, txid: int) -> bytes:
    """The image of `ns` as of `txid`, as bytes.

    The namesystem's lock is held meanwhile, so this is made fast: json.dumps, not
    json.dump, which streams through the pure-Python encoder, several times slower than the
    C one; and no cyclic garbage collection while the image is built. The image is millions
    of new lists with no cycle among them, and the heap growing by them set the collector
    off, walking the whole namespace, again and again: at 1M files 2.9-4.1 s to build the
    image, 1.2-1.4 s without."""
    with _no_cyclic_gc():
        return json.dumps(dump(ns, txid), separators=(",", ":")).encode()


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
