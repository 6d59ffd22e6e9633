"""minihadoop: a small but real Hadoop in Python.

from minihadoop import FileSystem
fs = FileSystem.from_cluster()          # the local cluster `minihadoop cluster up` made
fs.put("big.txt", "/data/big.txt")
with fs.open("/data/big.txt") as f:
    head = f.read(100)
"""

from minihadoop.errors import MiniHadoopError
from minihadoop.filesystem import FileSystem
from minihadoop.models import FileStatus

__all__ = ["FileStatus", "FileSystem", "MiniHadoopError"]
__version__ = "0.1.0"
