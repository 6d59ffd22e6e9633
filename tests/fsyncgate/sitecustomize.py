"""Loaded by a daemon started with this folder on PYTHONPATH: its fdatasync obeys a gate.

With ``FSYNC_GATE=<dir>`` set, every fdatasync first waits while ``<dir>/stall`` exists
(having created ``<dir>/stalled`` so a test knows one is waiting). Then, when ``<dir>/fail``
exists, it fails as a dying disk does: what was written since the file's last good fsync
is lost (cut off) and the call raises EIO. A test thus holds an edit's fsync open, looks at
what the daemon does meanwhile, and then loses the edit, in a real process.
"""

from __future__ import annotations

import errno
import os
import time

_GATE = os.environ.get("FSYNC_GATE")
_real_fdatasync = os.fdatasync
# (device, inode) -> the file's size after its last good fsync. Not by fd: a new edit-log
# segment usually gets the number of the one closed before it.
_durable_size: dict[tuple[int, int], int] = {}


def _gated_fdatasync(fd: int) -> None:
    assert _GATE is not None
    stall = os.path.join(_GATE, "stall")
    if os.path.exists(stall):
        open(os.path.join(_GATE, "stalled"), "w").close()
        while os.path.exists(stall):
            time.sleep(0.01)
    st = os.fstat(fd)
    if os.path.exists(os.path.join(_GATE, "fail")):
        os.ftruncate(fd, _durable_size.get((st.st_dev, st.st_ino), 0))
        raise OSError(errno.EIO, "Input/output error (injected)")
    _real_fdatasync(fd)
    _durable_size[st.st_dev, st.st_ino] = os.fstat(fd).st_size


if _GATE:
    os.fdatasync = _gated_fdatasync
