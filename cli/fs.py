"""`minihadoop fs …`: the file system commands, with `hdfs dfs`'s names, flags and output.

Paths may be relative (to the user's home folder, ``/user/<name>``, as in HDFS) and may be
globs (``'/logs/2026-*'``, see `minihadoop.globbing`); commands take several. A failure on
one path is said on stderr and the others are still done; the exit status is then 1.

What goes to stdout is for scripts as much as for eyes: no colour, no truncation, no
wrapping, one entry a line, in Hadoop's column order; ``--json`` where a command reports.
Progress bars go to stderr, and only on a terminal.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import stat as stat_module
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import typer

from cli.failures import Failures, fail
from cli.format import (
    apply_mode,
    human_size,
    parse_size,
    short_size,
    symbolic,
    timestamp,
    timestamp_seconds,
)
from minihadoop import paths
from minihadoop.client_config import home_dir
from minihadoop.errors import (
    FileAlreadyExistsError,
    FileNotFoundError_,
    IllegalArgumentError,
    PathIsNotEmptyDirectoryError,
)
from minihadoop.filesystem import FileSystem
from minihadoop.globbing import component_regex, expand_braces, has_magic
from minihadoop.models import FileStatus
from minihadoop.xattrs import decode_value, encode_value

app = typer.Typer(
    help="Work with files in the DFS, as `hdfs dfs` does (`minihadoop fs -ls` works too)."
)
TAIL_BYTES = 1024  # hdfs dfs -tail and -head show the last (first) kilobyte

DirOption = typer.Option(
    None, "--dir", help="Cluster folder (default: $MINIHADOOP_HOME or ~/.minihadoop)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON, for scripts.")
HumanOption = typer.Option(False, "-h", "--human-readable", help="Sizes in KiB, MiB, GiB.")


def client(dir: Path | None) -> FileSystem:
    url = os.environ.get("MINIHADOOP_NAMENODE")
    if url:  # a remote cluster: address and token from the environment
        return FileSystem(url, os.environ.get("MINIHADOOP_TOKEN"))
    return FileSystem.from_cluster(home_dir(dir))


# --- paths, globs and failures --------------------------------------------------------------


def absolute(fs: FileSystem, path: str) -> str:
    """`path` as the namenode knows it (`paths.resolve`), for this client's user."""
    return paths.resolve(path, fs.user)


def matches(fs: FileSystem, pattern: str) -> list[str]:
    """The paths a command argument names: its glob's matches, or itself when it has no
    wildcard (the command then says whether it exists)."""
    path = absolute(fs, pattern)
    if not has_magic(path):
        return [paths.normalize(path)]
    found = fs.glob(path)
    if not found:
        raise FileNotFoundError_(f"{pattern}: no such file or folder (no match for the glob)")
    return found


def expand(failures: Failures, fs: FileSystem, patterns: Iterable[str]) -> Iterator[str]:
    """Every path the patterns match; a pattern that matches nothing is a failure."""
    for pattern in patterns:
        found: list[str] = []
        with failures.each():
            found = matches(fs, pattern)
        yield from found


def each_path(
    dir: Path | None,
    patterns: Iterable[str],
    do: Callable[[FileSystem, str], None],
    *,
    glob: bool = True,
    failures: Failures | None = None,
) -> Failures:
    """`do(fs, path)` for every path the patterns match (with `glob` false, for the path
    each names: what does not exist yet is not globbed), on one client: a failure on one
    path is said on stderr and the others are still done. The caller ends with `.exit()`
    once its own output is out. `failures`: the caller's, to count its own in too."""
    failures = failures or Failures()
    with client(dir) as fs:
        for path in expand(failures, fs, patterns) if glob else patterns:
            with failures.each():
                do(fs, path if glob else paths.normalize(absolute(fs, path)))
    return failures


def one(fs: FileSystem, pattern: str) -> str:
    """The one path a command that takes one path is given (a glob must match one)."""
    found = matches(fs, pattern)
    if len(found) != 1:
        fail(f"{pattern} matches {len(found)} paths; this command takes one")
    return found[0]


# --- output ---------------------------------------------------------------------------------


def size_text(n: int, human: bool) -> str:
    return short_size(n) if human else str(n)


def emit_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def ls_lines(entries: list[FileStatus], human: bool) -> list[str]:
    """Hadoop's `-ls` lines: permission, replication, owner, group, size, date, path,
    in columns as wide as their widest value."""
    rows = [
        (
            symbolic(e.permission, e.is_dir),
            "-" if e.is_dir else str(e.replication),
            e.owner,
            e.group,
            size_text(e.length, human),
            timestamp(e.modification_time),
            e.path,
        )
        for e in entries
    ]
    if not rows:
        return []
    w = [max(len(r[i]) for r in rows) for i in range(5)]
    return [
        f"{r[0]}   {r[1]:>{w[1]}} {r[2]:<{w[2]}} {r[3]:<{w[3]}} {r[4]:>{w[4]}} {r[5]} {r[6]}"
        for r in rows
    ]


# --- listing and looking ----------------------------------------------------------------------


@app.command()
def ls(
    patterns: list[str] = typer.Argument(None, help="Paths or globs (default: your home)."),
    directory: bool = typer.Option(False, "-d", help="List folders as plain entries."),
    human: bool = HumanOption,
    recursive: bool = typer.Option(False, "-R", "--recursive", help="List below folders too."),
    by_time: bool = typer.Option(False, "-t", help="Newest first."),
    by_size: bool = typer.Option(False, "-S", help="Largest first."),
    reverse: bool = typer.Option(False, "-r", help="Reverse the order."),
    paths_only: bool = typer.Option(False, "-C", help="Only the paths."),
    as_json: bool = JsonOption,
    dir: Path | None = DirOption,
) -> None:
    """List folders (or show files): permission, replication, owner, group, size, date, path."""
    found: list[FileStatus] = []
    failures = Failures()

    def each(fs: FileSystem, path: str) -> None:
        status = fs.stat(path)
        if directory or not status.is_dir:
            entries = [status]
        elif recursive:
            entries = list(_walk(fs, path, failures))
        else:
            entries = fs.ls(path)
        entries = _sorted(entries, by_time, by_size, reverse)
        found.extend(entries)
        if as_json:
            return
        if status.is_dir and entries and not (directory or recursive or paths_only):
            print(f"Found {len(entries)} items")
        for line in [e.path for e in entries] if paths_only else ls_lines(entries, human):
            print(line)

    each_path(dir, patterns or ["."], each, failures=failures)
    if as_json:
        emit_json([e.model_dump(mode="json") for e in found])
    failures.exit()


def _walk(
    fs: FileSystem,
    folder: str,
    failures: Failures | None = None,
    listing: list[FileStatus] | None = None,
) -> Iterator[FileStatus]:
    """Every entry below `folder`, depth first, each folder before what it holds. With
    `failures`, a folder below that cannot be listed (not the caller's to read) is said
    there and skipped, and the walk goes on, as Hadoop's ``ls -R`` does."""
    for entry in fs.ls(folder) if listing is None else listing:
        yield entry
        if not entry.is_dir:
            continue
        if failures is None:
            yield from _walk(fs, entry.path)
            continue
        below = None
        with failures.each():
            below = fs.ls(entry.path)
        if below is not None:
            yield from _walk(fs, entry.path, failures, below)


def _sorted(
    entries: list[FileStatus], by_time: bool, by_size: bool, reverse: bool
) -> list[FileStatus]:
    if by_time:
        entries = sorted(entries, key=lambda e: -e.modification_time)
    elif by_size:
        entries = sorted(entries, key=lambda e: -e.length)
    return entries[::-1] if reverse else entries


STAT_FIELDS: dict[str, Callable[[FileStatus], str]] = {
    "a": lambda s: s.permission,
    "A": lambda s: symbolic(s.permission, s.is_dir)[1:],
    "b": lambda s: str(s.length),
    "F": lambda s: "directory" if s.is_dir else "regular file",
    "g": lambda s: s.group,
    "n": lambda s: s.name,
    "o": lambda s: str(s.block_size),
    "r": lambda s: str(s.replication),
    "u": lambda s: s.owner,
    "x": lambda s: timestamp_seconds(s.access_time),
    "X": lambda s: str(s.access_time),
    "y": lambda s: timestamp_seconds(s.modification_time),
    "Y": lambda s: str(s.modification_time),
}


def stat_format(fmt: str, s: FileStatus) -> str:
    """`hdfs dfs -stat FORMAT`: %a %A %b %F %g %n %o %r %u %x %X %y %Y, and %% for %."""
    fmt = fmt.replace("\\n", "\n").replace("\\t", "\t")  # in the format, not in names
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            key = fmt[i + 1]
            if key == "%":
                out.append("%")
            elif key in STAT_FIELDS:
                out.append(STAT_FIELDS[key](s))
            else:
                fail(f"unknown stat format %{key} (known: %{' %'.join(STAT_FIELDS)})")
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


@app.command()
def stat(
    args: list[str] = typer.Argument(
        ..., metavar="[FORMAT] PATH…", help="FORMAT as hdfs dfs -stat's (default %y)."
    ),
    every: bool = typer.Option(False, "--all", "-a", help="Every field, one a line."),
    as_json: bool = JsonOption,
    dir: Path | None = DirOption,
) -> None:
    """Files' status, one line each, as FORMAT says (%y date, %b size, %n name, %r…)."""
    fmt = args[0] if len(args) > 1 and "%" in args[0] else "%y"
    found = []

    def each(fs: FileSystem, path: str) -> None:
        s = fs.stat(path)
        found.append(s.model_dump(mode="json"))
        if as_json:
            return
        if not every:
            print(stat_format(fmt, s))
            return
        for key, value in s.model_dump(mode="json").items():
            if key in ("modification_time", "access_time"):
                value = f"{timestamp_seconds(value)}  ({value} ms)"
            elif key == "permission":
                value = f"{value}  ({symbolic(value, s.is_dir)})"
            print(f"{key:<18} {value}")

    failures = each_path(dir, args[1:] if args[0] is fmt else args, each)
    if as_json:
        emit_json(found)
    failures.exit()


@app.command()
def du(
    patterns: list[str] = typer.Argument(None, help="Paths or globs (default: your home)."),
    summary: bool = typer.Option(False, "-s", help="One total per argument."),
    human: bool = HumanOption,
    header: bool = typer.Option(False, "-v", help="A header line."),
    as_json: bool = JsonOption,
    dir: Path | None = DirOption,
) -> None:
    """Space used: size, space with every replica, path (for each entry of a folder)."""
    rows: list[dict[str, Any]] = []

    def each(fs: FileSystem, path: str) -> None:
        status = fs.stat(path)
        targets = [path] if summary or not status.is_dir else [e.path for e in fs.ls(path)]
        for target in targets:
            s = fs.du(target)
            rows.append({"path": target, "length": s.length, "space_consumed": s.space_consumed})

    failures = each_path(dir, patterns or ["."], each)
    if as_json:
        emit_json(rows)
    else:
        if header:
            print("SIZE  DISK_SPACE_CONSUMED_WITH_ALL_REPLICAS  FULL_PATH_NAME")
        w1 = max((len(size_text(r["length"], human)) for r in rows), default=0)
        w2 = max((len(size_text(r["space_consumed"], human)) for r in rows), default=0)
        for r in rows:
            print(
                f"{size_text(r['length'], human):<{w1}}  "
                f"{size_text(r['space_consumed'], human):<{w2}}  {r['path']}"
            )
    failures.exit()


@app.command()
def count(
    patterns: list[str] = typer.Argument(..., help="Paths or globs."),
    quotas: bool = typer.Option(False, "-q", help="Quota columns first."),
    human: bool = HumanOption,
    header: bool = typer.Option(False, "-v", help="A header line."),
    as_json: bool = JsonOption,
    dir: Path | None = DirOption,
) -> None:
    """Folders, files and bytes below each path: DIR_COUNT FILE_COUNT CONTENT_SIZE PATHNAME."""
    rows: list[dict[str, Any]] = []

    def each(fs: FileSystem, path: str) -> None:
        s = fs.du(path)
        rows.append(
            {
                "path": path,
                "directory_count": s.directory_count,
                "file_count": s.file_count,
                "length": s.length,
                "space_consumed": s.space_consumed,
                "quota": s.quota,
                "space_quota": s.space_quota,
            }
        )

    failures = each_path(dir, patterns, each)
    if as_json:
        emit_json(rows)
        failures.exit()
        return
    if header:
        quota_head = f"{'QUOTA':>12} {'REM_QUOTA':>15} {'SPACE_QUOTA':>15} {'REM_SPACE_QUOTA':>15} "
        print(
            (quota_head if quotas else "")
            + f"{'DIR_COUNT':>12} {'FILE_COUNT':>12} {'CONTENT_SIZE':>18} PATHNAME"
        )
    for r in rows:
        quota = _quota_columns(r, human) if quotas else ""
        print(
            f"{quota}{r['directory_count']:>12} {r['file_count']:>12} "
            f"{size_text(r['length'], human):>18} {r['path']}"
        )
    failures.exit()


def _quota_columns(r: dict[str, Any], human: bool) -> str:
    """`count -q`'s QUOTA REM_QUOTA SPACE_QUOTA REM_SPACE_QUOTA: none and inf when unset."""
    names = r["directory_count"] + r["file_count"]
    if r["quota"] < 0:
        quota, left = "none", "inf"
    else:
        quota, left = str(r["quota"]), str(r["quota"] - names)
    if r["space_quota"] < 0:
        space, space_left = "none", "inf"
    else:
        space = size_text(r["space_quota"], human)
        space_left = size_text(r["space_quota"] - r["space_consumed"], human)
    return f"{quota:>12} {left:>15} {space:>15} {space_left:>15} "


@app.command()
def df(
    _paths: list[str] = typer.Argument(None, metavar="[PATH…]", help="Accepted, as Hadoop's."),
    human: bool = HumanOption,
    as_json: bool = JsonOption,
    dir: Path | None = DirOption,
) -> None:
    """The cluster's capacity, used and available space (live datanodes); one file
    system, whatever PATH says."""
    with client(dir) as fs:
        report = fs.cluster()
        name = fs.namenode
    capacity, used, remaining = report["capacity"], report["used"], report["remaining"]
    percent = 100.0 * used / capacity if capacity else 0.0
    if as_json:
        emit_json(
            {
                "filesystem": name,
                "size": capacity,
                "used": used,
                "available": remaining,
                "use_percent": round(percent, 1),
            }
        )
        return
    row = [name, size_text(capacity, human), size_text(used, human),
           size_text(remaining, human), f"{percent:.0f}%"]  # fmt: skip
    head = ["Filesystem", "Size", "Used", "Available", "Use%"]
    widths = [max(len(a), len(b)) for a, b in zip(head, row, strict=True)]
    print(
        f"{head[0]:<{widths[0]}}  "
        + "  ".join(f"{h:>{w}}" for h, w in zip(head[1:], widths[1:], strict=True))
    )
    print(
        f"{row[0]:<{widths[0]}}  "
        + "  ".join(f"{v:>{w}}" for v, w in zip(row[1:], widths[1:], strict=True))
    )


@app.command()
def test(
    path: str = typer.Argument(...),
    is_dir: bool = typer.Option(False, "-d", help="Is it a folder?"),
    exists: bool = typer.Option(False, "-e", help="Does it exist?"),
    is_file: bool = typer.Option(False, "-f", help="Is it a file?"),
    nonempty: bool = typer.Option(False, "-s", help="Is it a non-empty file?"),
    empty: bool = typer.Option(False, "-z", help="Is its length zero (a folder's is)?"),
    dir: Path | None = DirOption,
) -> None:
    """Answer with the exit status (0 yes, 1 no), as `test`: exactly one of -d -e -f -s -z."""
    if sum((is_dir, exists, is_file, nonempty, empty)) != 1:
        fail("fs test takes exactly one of -d -e -f -s -z")
    with client(dir) as fs:
        try:
            s = fs.stat(one(fs, path))
        except FileNotFoundError_:
            raise typer.Exit(1) from None
    answer = (
        exists
        or (is_dir and s.is_dir)
        or (is_file and not s.is_dir)
        or (nonempty and not s.is_dir and s.length > 0)
        or (empty and s.length == 0)
    )
    raise typer.Exit(0 if answer else 1)


@app.command()
def checksum(
    patterns: list[str] = typer.Argument(..., metavar="PATH…"), dir: Path | None = DirOption
) -> None:
    """Each file's checksum, as HDFS computes it (MD5 of MD5s of CRC32Cs)."""

    def each(fs: FileSystem, path: str) -> None:
        c = fs.checksum(path)
        print(f"{path}\t{c['algorithm']}\t{c['bytes']}")

    each_path(dir, patterns, each).exit()


@app.command()
def find(
    patterns: list[str] = typer.Argument(None, help="Where to look (default: your home)."),
    name: str | None = typer.Option(None, "-name", help="Glob the name must match."),
    iname: str | None = typer.Option(None, "-iname", help="The same, ignoring case."),
    print_: bool = typer.Option(True, "-print", help="Print each match (the default)."),
    dir: Path | None = DirOption,
) -> None:
    """Every path below the given ones whose name matches -name (or -iname)."""
    fold = iname is not None  # -iname: names and glob compared in lower case
    wanted = [
        component_regex(alt.lower() if fold else alt) for alt in expand_braces(iname or name or "*")
    ]

    def hit(entry: FileStatus) -> bool:
        name = entry.name.lower() if fold else entry.name
        return any(rx.fullmatch(name) for rx in wanted)

    failures = Failures()

    def each(fs: FileSystem, path: str) -> None:
        top = fs.stat(path)
        for entry in [top, *(_walk(fs, path, failures) if top.is_dir else [])]:
            if hit(entry) and print_:
                print(entry.path)

    each_path(dir, patterns or ["."], each, failures=failures).exit()


# --- reading --------------------------------------------------------------------------------


@app.command()
def cat(
    patterns: list[str] = typer.Argument(..., metavar="PATH…"), dir: Path | None = DirOption
) -> None:
    """Print files' bytes to standard output."""

    def each(fs: FileSystem, path: str) -> None:
        for piece in fs.cat(path):
            sys.stdout.buffer.write(piece)

    failures = each_path(dir, patterns, each)
    sys.stdout.buffer.flush()
    failures.exit()


@app.command()
def text(
    patterns: list[str] = typer.Argument(..., metavar="PATH…"), dir: Path | None = DirOption
) -> None:
    """Print files as text, decompressing gzip and bzip2 files (by their first bytes)."""

    def each(fs: FileSystem, path: str) -> None:
        with fs.open(path) as src:
            head = src.read(3)
            src.seek(0)
            if head[:2] == b"\x1f\x8b":
                reader: Any = gzip.GzipFile(fileobj=src)
            elif head == b"BZh":
                reader = bz2.BZ2File(src)
            else:
                reader = src
            try:
                while piece := reader.read(1 << 20):
                    sys.stdout.buffer.write(piece)
            except BrokenPipeError:
                raise
            except (OSError, EOFError, zlib.error) as exc:
                raise IllegalArgumentError(f"{path}: not readable as compressed: {exc}") from None

    failures = each_path(dir, patterns, each)
    sys.stdout.buffer.flush()
    failures.exit()


@app.command()
def head(path: str, dir: Path | None = DirOption) -> None:
    """Print a file's first kilobyte."""
    with client(dir) as fs, fs.open(one(fs, path)) as src:
        sys.stdout.buffer.write(src.read(TAIL_BYTES))
    sys.stdout.buffer.flush()


@app.command()
def tail(
    path: str,
    follow: bool = typer.Option(False, "-f", help="Keep printing what is appended."),
    interval: float = typer.Option(
        1.0, "-s", min=0.1, max=3600, help="With -f, seconds between looks."
    ),
    dir: Path | None = DirOption,
) -> None:
    """Print a file's last kilobyte (and, with -f, what is appended after)."""
    with client(dir) as fs:
        path = one(fs, path)
        status = fs.stat(path)
        if status.is_dir:
            raise IllegalArgumentError(f"{path}: is a folder, not a file")
        length = status.length
        at = max(0, length - TAIL_BYTES)
        while True:
            if length > at:
                with fs.open(path) as src:
                    src.seek(at)
                    data = src.read(length - at)
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
                at += len(data)
            if not follow:
                return
            time.sleep(interval)  # a user's poll for appends, as hdfs dfs -tail -f does
            length = fs.stat(path).length
            if length < at:  # replaced or truncated: start again from its beginning
                print(f"minihadoop: {path}: file truncated", file=sys.stderr)
                at = 0


@app.command()
def get(
    args: list[str] = typer.Argument(..., metavar="SRC… LOCALDST", help="LOCALDST - is stdout."),
    force: bool = typer.Option(False, "-f", "--force", help="Replace local files."),
    dir: Path | None = DirOption,
) -> None:
    """Download files and folders (recursively) to a local path, or to stdout with -."""
    sources, local = (args[:-1], args[-1]) if len(args) > 1 else (args, ".")
    failures = Failures()
    with client(dir) as fs:
        found = list(expand(failures, fs, sources))
        if local == "-":
            for path in found:
                with failures.each():
                    for piece in fs.cat(path):
                        sys.stdout.buffer.write(piece)
            sys.stdout.buffer.flush()
            failures.exit()
            return
        target = Path(local)
        if len(found) + failures.count > 1 and not target.is_dir():
            raise FileNotFoundError_(f"{local}: no such local folder (several sources need one)")
        if not target.is_dir() and not target.absolute().parent.is_dir():
            raise FileNotFoundError_(f"{target.absolute().parent}: no such local folder")
        for path in found:
            with failures.each():
                dest = target / paths.name(path) if target.is_dir() else target
                _get_tree(fs, fs.stat(path), dest, force)
    failures.exit()


def _get_tree(fs: FileSystem, status: FileStatus, dest: Path, force: bool) -> None:
    if dest.is_symlink():  # never write through a link someone may have planted
        raise IllegalArgumentError(f"{dest}: a symbolic link; not written through")
    if status.is_dir:
        if dest.exists() and not force:
            raise FileAlreadyExistsError(f"{dest}: the local folder exists (-f merges into it)")
        dest.mkdir(exist_ok=True)
        for entry in fs.ls(status.path):
            _get_tree(fs, entry, dest / entry.name, force)
        return
    if dest.exists() and not force:
        raise FileAlreadyExistsError(f"{dest}: the local file exists (-f replaces it)")
    from cli.progress import advance, transfer_bar  # rich: only for commands that move files

    with transfer_bar(status.length) as bar:
        fs.get(status.path, dest, progress=advance(bar, f"get {status.name}", status.length))


@app.command()
def getmerge(
    args: list[str] = typer.Argument(..., metavar="SRC… LOCALDST", help="LOCALDST - is stdout."),
    newline: bool = typer.Option(False, "-nl", help="A newline after each file."),
    dir: Path | None = DirOption,
) -> None:
    """Concatenate files (a folder's, in name order, or a glob's) into one local file."""
    if len(args) < 2:
        fail("fs getmerge needs SRC… LOCALDST")
    with client(dir) as fs:
        files: list[str] = []
        for pattern in args[:-1]:
            for path in matches(fs, pattern):
                s = fs.stat(path)
                files += [e.path for e in fs.ls(path) if not e.is_dir] if s.is_dir else [path]

        def write_all(out: Any) -> None:
            for path in files:
                for piece in fs.cat(path):
                    out.write(piece)
                if newline:
                    out.write(b"\n")

        if args[-1] == "-":
            write_all(sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        local = Path(args[-1])
        if local.is_dir() or args[-1].endswith("/"):
            raise IllegalArgumentError(f"{args[-1]}: getmerge writes a file, not a folder")
        if not local.absolute().parent.is_dir():
            raise FileNotFoundError_(f"{local.absolute().parent}: no such local folder")
        # A fresh name made with O_EXCL: a link planted at a guessable one is not followed.
        fd, name = tempfile.mkstemp(prefix=f".{local.name}.", suffix=".part", dir=local.parent)
        tmp = Path(name)
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as out:
                write_all(out)
            tmp.replace(local)
        finally:
            tmp.unlink(missing_ok=True)


# --- writing --------------------------------------------------------------------------------


@app.command()
def put(
    args: list[str] = typer.Argument(..., metavar="LOCAL… DST", help="LOCAL - is stdin."),
    overwrite: bool = typer.Option(False, "-f", "--overwrite", help="Replace existing files."),
    replication: int | None = typer.Option(None, min=1, max=512),
    block_size: str | None = typer.Option(None, help="Block size for these files, e.g. 1M."),
    dir: Path | None = DirOption,
) -> None:
    """Upload local files and folders (recursively); - reads standard input."""
    if len(args) < 2:
        fail("fs put needs LOCAL… DST (a DST of . is your home folder)")
    sources, dst = args[:-1], args[-1]
    size = parse_size(block_size) if block_size else None
    for s in sources:
        if s != "-" and not os.path.exists(s):
            fail(f"{s}: the local file does not exist")
    failures = Failures()
    with client(dir) as fs:
        target = paths.normalize(absolute(fs, dst))
        into = _destination(fs, dst, target, several=len(sources) > 1, make=True)
        for source in sources:
            with failures.each():
                name = "-" if source == "-" else Path(source).name
                dest = paths.join(target, name) if into and source != "-" else target
                if source == "-":
                    if into:
                        fail("put - needs a file name as its destination, not a folder")
                    with fs.create(dest, overwrite=overwrite, replication=replication,
                                   block_size=size) as out:  # fmt: skip
                        out.write_from(sys.stdin.buffer)
                    print(f"{dest}  {human_size(fs.stat(dest).length)}")
                else:
                    _put_tree(fs, Path(source), dest, overwrite, replication, size)
    failures.exit()


def _destination(
    fs: FileSystem, typed: str, target: str, *, several: bool, make: bool = False
) -> bool:
    """Whether `target` is a folder to put things into (else the name to give the one
    source), as Hadoop decides: a folder that exists, or a refusal when the sources need
    one (several of them, or a trailing slash) or the parent folder is missing. With
    `make` (put's convenience, `put f /new/`), missing folders are made instead."""
    if _is_dir(fs, target):
        return True
    if make:
        if several or typed.endswith("/"):
            fs.mkdir(target)
            return True
        return False  # the file's missing parents are made with it
    if several or typed.endswith("/"):
        if fs.exists(target):
            raise IllegalArgumentError(f"{typed}: not a folder (several sources need one)")
        raise FileNotFoundError_(f"{typed}: no such folder")
    parent = paths.parent(target)
    if not _is_dir(fs, parent):
        raise FileNotFoundError_(f"{parent}: no such folder")
    return False


def _is_dir(fs: FileSystem, path: str) -> bool:
    try:
        return fs.stat(path).is_dir
    except FileNotFoundError_:
        return False


def _put_tree(
    fs: FileSystem, local: Path, dest: str, overwrite: bool, replication: int | None,
    block_size: int | None,
) -> None:  # fmt: skip
    if local.is_dir():
        fs.mkdir(dest)
        for child in sorted(local.iterdir()):
            _put_tree(fs, child, paths.join(dest, child.name), overwrite, replication, block_size)
        return
    if not stat_module.S_ISREG(local.stat().st_mode):
        raise IllegalArgumentError(f"{local}: not a regular file")
    size = local.stat().st_size
    from cli.progress import advance, transfer_bar  # rich: only for commands that move files

    with transfer_bar(size) as bar:
        status = fs.put(
            local,
            dest,
            overwrite=overwrite,
            replication=replication,
            block_size=block_size,
            progress=advance(bar, f"put {local.name}", size),
        )
    print(f"{status.path}  {human_size(status.length)}  replication {status.replication}")


@app.command()
def append(
    args: list[str] = typer.Argument(..., metavar="LOCAL… DST", help="LOCAL - is stdin."),
    dir: Path | None = DirOption,
) -> None:
    """Add local files' bytes to the end of a DFS file (made if missing)."""
    if len(args) < 2:
        fail("fs append needs LOCAL… DST")
    sources, dst = args[:-1], args[-1]
    for s in sources:
        if s != "-" and not os.path.exists(s):
            fail(f"{s}: the local file does not exist")
        if s != "-" and not os.path.isfile(s):
            fail(f"{s}: not a regular file")
    with client(dir) as fs:
        remote = paths.normalize(absolute(fs, dst))
        if not fs.exists(remote):
            fs.write_bytes(remote, b"")
        with fs.append(remote) as stream:
            for source in sources:
                if source == "-":
                    stream.write_from(sys.stdin.buffer)
                else:
                    with open(source, "rb") as src:
                        stream.write_from(src)
        length = fs.stat(remote).length
    print(f"{remote}  {human_size(length)}")


@app.command()
def concat(
    target: str,
    patterns: list[str] = typer.Argument(..., metavar="SRC…"),
    dir: Path | None = DirOption,
) -> None:
    """Join files onto the end of TARGET by moving their blocks (no bytes copied); the
    sources are then gone."""
    with client(dir) as fs:
        sources = [p for pattern in patterns for p in matches(fs, pattern)]
        fs.concat(paths.normalize(absolute(fs, target)), sources)


@app.command()
def touchz(
    patterns: list[str] = typer.Argument(..., metavar="PATH…"), dir: Path | None = DirOption
) -> None:
    """Make empty files (an existing empty file is left as it is)."""

    def each(fs: FileSystem, path: str) -> None:
        try:
            s = fs.stat(path)
        except FileNotFoundError_:
            fs.write_bytes(path, b"", create_parent=False)
            return
        if s.is_dir or s.length:
            raise FileAlreadyExistsError(f"{path}: not a zero-length file")

    each_path(dir, patterns, each, glob=False).exit()


@app.command()
def mkdir(
    patterns: list[str] = typer.Argument(..., metavar="PATH…"),
    parents: bool = typer.Option(False, "-p", help="Make parents; no error if it exists."),
    dir: Path | None = DirOption,
) -> None:
    """Make folders. Without -p, the parent must exist and the folder must not."""

    def each(fs: FileSystem, path: str) -> None:
        if not parents:
            if fs.exists(path):
                raise FileAlreadyExistsError(f"{path}: file exists")
            parent = paths.parent(path)
            if not _is_dir(fs, parent):
                raise FileNotFoundError_(f"{parent}: no such folder (-p makes it)")
        fs.mkdir(path)

    each_path(dir, patterns, each, glob=False).exit()


@app.command()
def cp(
    args: list[str] = typer.Argument(..., metavar="SRC… DST"),
    force: bool = typer.Option(False, "-f", help="Replace existing files."),
    dir: Path | None = DirOption,
) -> None:
    """Copy files and folders (recursively) within the DFS."""
    if len(args) < 2:
        fail("fs cp needs SRC… DST")
    failures = Failures()
    with client(dir) as fs:
        target = paths.normalize(absolute(fs, args[-1]))
        sources = list(expand(failures, fs, args[:-1]))
        into = _destination(fs, args[-1], target, several=len(sources) + failures.count > 1)
        for src in sources:
            with failures.each():
                dest = paths.join(target, paths.name(src)) if into else target
                if paths.is_ancestor(src, dest):
                    raise IllegalArgumentError(f"cannot copy {src} into itself ({dest})")
                _copy_tree(fs, fs.stat(src), dest, force)
    failures.exit()


def _copy_tree(fs: FileSystem, status: FileStatus, dest: str, force: bool) -> None:
    if status.is_dir:
        fs.mkdir(dest)
        for entry in fs.ls(status.path):
            _copy_tree(fs, entry, paths.join(dest, entry.name), force)
        return
    with (
        fs.open(status.path) as src,
        fs.create(dest, overwrite=force, replication=status.replication) as out,
    ):
        for piece in src.iter_chunks():
            out.write(piece)


@app.command()
def mv(
    args: list[str] = typer.Argument(..., metavar="SRC… DST"), dir: Path | None = DirOption
) -> None:
    """Move or rename files and folders; several sources go into the folder DST."""
    if len(args) < 2:
        fail("fs mv needs SRC… DST")
    failures = Failures()
    with client(dir) as fs:
        target = paths.normalize(absolute(fs, args[-1]))
        sources = list(expand(failures, fs, args[:-1]))
        into = _destination(fs, args[-1], target, several=len(sources) + failures.count > 1)
        for src in sources:
            with failures.each():
                fs.mv(src, paths.join(target, paths.name(src)) if into else target)
    failures.exit()


@app.command()
def rm(
    patterns: list[str] = typer.Argument(None),
    recursive: bool = typer.Option(
        False, "-r", "-R", "--recursive", help="Remove folders and their contents."
    ),
    force: bool = typer.Option(False, "-f", "--force", help="No error for what does not exist."),
    skip_trash: bool = typer.Option(
        False, "-skipTrash", "--skip-trash", help="Delete at once, not to the trash."
    ),
    dir: Path | None = DirOption,
) -> None:
    """Remove files and folders (to the trash unless -skipTrash)."""
    if not patterns and not force:
        fail("fs rm needs a path")
    failures = Failures()
    with client(dir) as fs:
        for pattern in patterns or []:
            found: list[str] = []
            with failures.each():
                try:
                    found = matches(fs, pattern)
                except FileNotFoundError_:
                    if not force:
                        raise
            for path in found:
                with failures.each():
                    try:
                        if not recursive and fs.stat(path).is_dir:
                            raise IllegalArgumentError(f"{path}: is a folder (-r removes it)")
                        moved_to = fs.rm(path, recursive=recursive, skip_trash=skip_trash)
                    except FileNotFoundError_:
                        if force:
                            continue
                        raise
                    print(
                        f"Moved {path} to the trash at {moved_to}"
                        if moved_to
                        else f"Deleted {path}"
                    )
    failures.exit()


@app.command()
def rmdir(
    patterns: list[str] = typer.Argument(..., metavar="PATH…"),
    ignore: bool = typer.Option(
        False, "--ignore-fail-on-non-empty", help="No error for a folder that holds files."
    ),
    dir: Path | None = DirOption,
) -> None:
    """Remove empty folders."""

    def each(fs: FileSystem, path: str) -> None:
        s = fs.stat(path)
        if not s.is_dir:
            raise IllegalArgumentError(f"{path}: not a folder")
        if s.children_num:
            if ignore:
                return
            raise PathIsNotEmptyDirectoryError(f"{path}: the folder is not empty")
        fs.rm(path, skip_trash=True)

    each_path(dir, patterns, each).exit()


@app.command()
def expunge(dir: Path | None = DirOption) -> None:
    """Empty your trash (``/user/<name>/.Trash``): what is there is deleted for good."""
    with client(dir) as fs:
        trash = f"/user/{fs.user}/.Trash"
        try:
            entries = fs.ls(trash)
        except FileNotFoundError_:
            entries = []
        for entry in entries:
            fs.rm(entry.path, recursive=True, skip_trash=True)
    print(f"Deleted {len(entries)} trash checkpoint(s) from {trash}")


# --- attributes -----------------------------------------------------------------------------


def _each_below(fs: FileSystem, path: str, recursive: bool) -> Iterator[FileStatus]:
    top = fs.stat(path)
    yield top
    if recursive and top.is_dir:
        yield from _walk(fs, path)


@app.command()
def setrep(
    replication: int = typer.Argument(..., min=1, max=512),
    patterns: list[str] = typer.Argument(..., metavar="PATH…"),
    wait: bool = typer.Option(False, "-w", help="Wait until every block has its replicas."),
    _recursive: bool = typer.Option(False, "-R", hidden=True),  # Hadoop's, and the default
    dir: Path | None = DirOption,
) -> None:
    """Change the replication factor of files (every file below a folder)."""
    failures = Failures()
    done = []
    with client(dir) as fs:
        for path in expand(failures, fs, patterns):
            with failures.each():
                fs.setrep(path, replication)
                done.append(path)
                print(f"Replication {replication} set: {path}")
        live = fs.cluster()["live"] if wait and done else 0
        if wait and done and replication > live:
            raise IllegalArgumentError(
                f"only {live} live datanodes: {replication} replicas can never be reached "
                "(not waiting; the replication monitor adds them as datanodes join)"
            )
        for path in done if wait else []:
            with failures.each():
                print(f"Waiting for {path} ...", end="", flush=True)
                while not _replicated(fs.fsck(path), replication):
                    print(".", end="", flush=True)
                    time.sleep(1.0)  # what hdfs dfs -setrep -w does: look again each second
                print(" done")
    failures.exit()


@app.command()
def truncate(
    length: int = typer.Argument(..., min=0),
    patterns: list[str] = typer.Argument(..., metavar="PATH…"),
    wait: bool = typer.Option(False, "-w", help="Wait for a block recovery to finish."),
    dir: Path | None = DirOption,
) -> None:
    """Cut files to LENGTH bytes (HDFS's truncate). A cut inside a block is finished by a
    block recovery on the datanodes; -w waits for it."""
    failures = Failures()
    pending = []
    with client(dir) as fs:
        for path in expand(failures, fs, patterns):
            with failures.each():
                if fs.truncate(path, length):
                    print(f"Truncated {path} to length: {length}")
                elif wait:
                    pending.append(path)
                else:
                    print(
                        f"Truncating {path} to length: {length}. Wait for block recovery "
                        "to complete before further updating this file."
                    )
        for path in pending:
            with failures.each():
                print(f"Waiting for {path} ...", end="", flush=True)
                fs.wait_closed(path)
                print(" done")
                print(f"Truncated {path} to length: {length}")
    failures.exit()


def _replicated(report: dict[str, Any], replication: int) -> bool:
    return all(
        b["live_replicas"] == replication for f in report["files_detail"] for b in f["blocks"]
    )


@app.command()
def chmod(
    mode: str,
    patterns: list[str] = typer.Argument(..., metavar="PATH…"),
    recursive: bool = typer.Option(False, "-R", help="Below folders too."),
    dir: Path | None = DirOption,
) -> None:
    """Change modes: octal (644) or symbolic (u+x,go-w)."""

    def each(fs: FileSystem, path: str) -> None:
        for s in _each_below(fs, path, recursive):
            fs.chmod(s.path, apply_mode(mode, s.permission, s.is_dir))

    each_path(dir, patterns, each).exit()


@app.command()
def chown(
    owner: str = typer.Argument(..., help="OWNER[:GROUP], or :GROUP"),
    patterns: list[str] = typer.Argument(..., metavar="PATH…"),
    recursive: bool = typer.Option(False, "-R", help="Below folders too."),
    dir: Path | None = DirOption,
) -> None:
    """Change owners (and groups)."""
    user, _, group = owner.partition(":")
    if not user and not group:
        fail("chown needs OWNER, OWNER:GROUP or :GROUP")
    _set_owner(patterns, user or None, group or None, recursive, dir)


@app.command()
def chgrp(
    group: str,
    patterns: list[str] = typer.Argument(..., metavar="PATH…"),
    recursive: bool = typer.Option(False, "-R", help="Below folders too."),
    dir: Path | None = DirOption,
) -> None:
    """Change groups."""
    if not group:
        fail("chgrp needs a group name")
    _set_owner(patterns, None, group, recursive, dir)


def _set_owner(
    patterns: list[str], user: str | None, group: str | None, recursive: bool, dir: Path | None
) -> None:

    def each(fs: FileSystem, path: str) -> None:
        for s in _each_below(fs, path, recursive):
            fs.chown(s.path, user, group)

    each_path(dir, patterns, each).exit()


@app.command()
def getfattr(
    patterns: list[str] = typer.Argument(..., metavar="PATH…"),
    name: str | None = typer.Option(None, "-n", help="One attribute."),
    dump: bool = typer.Option(False, "-d", help="Every attribute."),
    encoding: str = typer.Option("text", "-e", help="text, hex or base64."),
    recursive: bool = typer.Option(False, "-R", help="Below folders too."),
    dir: Path | None = DirOption,
) -> None:
    """Show extended attributes, as `getfattr`: a '# file:' line, then name=value lines."""
    if (name is None) == (not dump):
        fail("fs getfattr takes -n NAME or -d")
    if encoding.lower() not in ("text", "hex", "base64"):
        fail(f"invalid encoding {encoding!r} (text, hex or base64)")

    def each(fs: FileSystem, path: str) -> None:
        for s in _each_below(fs, path, recursive):
            held = fs.get_xattrs(s.path, *([name] if name else []))
            print(f"# file: {s.path}")
            for key, value in sorted(held.items()):
                print(f"{key}={encode_value(value, encoding)}")

    each_path(dir, patterns, each).exit()


@app.command()
def setfattr(
    patterns: list[str] = typer.Argument(..., metavar="PATH…"),
    name: str | None = typer.Option(None, "-n", help="The attribute to set."),
    value: str = typer.Option("", "-v", help='Its value: text, "text", 0x… hex, 0s… base64.'),
    remove: str | None = typer.Option(None, "-x", help="The attribute to remove."),
    dir: Path | None = DirOption,
) -> None:
    """Set (-n NAME -v VALUE) or remove (-x NAME) an extended attribute (user.…)."""
    if (name is None) == (remove is None):
        fail("fs setfattr takes -n NAME [-v VALUE] or -x NAME")

    def each(fs: FileSystem, path: str) -> None:
        if remove is not None:
            fs.remove_xattr(path, remove)
        else:
            assert name is not None
            fs.set_xattr(path, name, decode_value(value))

    each_path(dir, patterns, each).exit()


# --- health ---------------------------------------------------------------------------------


@app.command()
def fsck(
    path: str = typer.Argument("/"),
    files: bool = typer.Option(False, "--files", "-files", help="List every file and its blocks."),
    as_json: bool = JsonOption,
    dir: Path | None = DirOption,
) -> None:
    """Check block health: healthy, under-replicated, missing, corrupt."""
    with client(dir) as fs:
        report = fs.fsck(absolute(fs, path))
    if as_json:
        emit_json(report)
        if report["status"] != "HEALTHY":
            raise typer.Exit(1)
        return
    for f in report["files_detail"]:
        bad = [b for b in f["blocks"] if b["state"] != "HEALTHY"]
        if files or bad:
            print(
                f"{f['path']} {f['length']} bytes, replication {f['replication']}, "
                f"{len(f['blocks'])} block(s)"
            )
            for b in f["blocks"] if files else bad:
                locs = ", ".join(b["locations"]) or "-"
                print(
                    f"  blk_{b['block_id']} len={b['length']} {b['state']} "
                    f"live={b['live_replicas']}/{b['expected']} [{locs}]"
                )
    print(
        f"Total size: {report['size']} B\nTotal files: {report['files']}\n"
        f"Total blocks: {report['blocks']}\nUnder-replicated blocks: {report['under_replicated']}\n"
        f"Missing blocks: {report['missing']}\nCorrupt blocks: {report['corrupt']}\n"
        f"Number of data-nodes: {report['datanodes']}"
    )
    print(report["verdict"])
    if report["status"] != "HEALTHY":
        raise typer.Exit(1)


# Hadoop's longer names for the same commands.
for alias, command in (
    ("copyFromLocal", put),
    ("copyToLocal", get),
    ("appendToFile", append),
):
    app.command(alias, hidden=True)(command)
