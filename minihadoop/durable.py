"""Small files that must survive a crash once written: the one way to replace one.

`replace_file` writes a temporary file beside the target, fsyncs it, renames it over the
target and fsyncs the folder, so after a crash the target holds either the old text or the
new, whole, and the rename itself is on disk when it returns.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make the folder's entries (a file created, renamed or removed in it) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace `path` with `text`, durably (see the module's docstring); `mode` is set
    before the file takes the name, so a secret is never readable under it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    if mode is not None:
        os.chmod(tmp, mode)
    tmp.replace(path)
    fsync_dir(path.parent)
