"""minihadoop: a small but real Hadoop in Python.

    from minihadoop import FileSystem
    fs = FileSystem.from_cluster()          # the local cluster `minihadoop cluster up` made
    fs.put("big.txt", "/data/big.txt")
    with fs.open("/data/big.txt") as f:
        head = f.read(100)

The client is imported lazily, so the daemons' pure core can import `minihadoop.paths` and
friends without loading an HTTP client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minihadoop.errors import MiniHadoopError
    from minihadoop.filesystem import FileSystem
    from minihadoop.models import FileStatus

__all__ = ["FileStatus", "FileSystem", "MiniHadoopError"]
__version__ = "0.1.0"

_LAZY = {
    "FileSystem": "minihadoop.filesystem",
    "FileStatus": "minihadoop.models",
    "MiniHadoopError": "minihadoop.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'minihadoop' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
