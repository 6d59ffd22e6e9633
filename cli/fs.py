"""`minihadoop fs …`: the file system commands, like `hdfs dfs`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from cli.format import human_size, parse_size, timestamp
from minihadoop.config import home_dir
from minihadoop.filesystem import FileSystem

app = typer.Typer(help="Work with files in the DFS.")
out = Console()
PROGRESS_THRESHOLD = 8 << 20  # show a progress bar for transfers larger than this

DirOption = typer.Option(
    None, "--dir", help="Cluster folder (default: $MINIHADOOP_HOME or ~/.minihadoop)."
)


def client(dir: Path | None) -> FileSystem:
    url = os.environ.get("MINIHADOOP_NAMENODE")
    if url:  # a remote cluster: address and token from the environment
        return FileSystem(url, os.environ.get("MINIHADOOP_TOKEN"))
    return FileSystem.from_cluster(home_dir(dir))


def _progress(total: int) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        disable=total < PROGRESS_THRESHOLD or not sys.stderr.isatty(),
        transient=True,
    )


@app.command()
def ls(path: str = typer.Argument("/"), dir: Path | None = DirOption) -> None:
    """List a folder (or show one file)."""
    with client(dir) as fs:
        entries = fs.ls(path)
    table = Table("permission", "repl", "owner", "size", "modified", "path", box=None)
    for e in entries:
        kind = "d" if e.is_dir else "-"
        repl = "-" if e.is_dir else str(e.replication)
        table.add_row(
            f"{kind}{e.permission}",
            repl,
            e.owner,
            human_size(e.length),
            timestamp(e.modification_time),
            e.path,
        )
    out.print(f"Found {len(entries)} items")
    out.print(table)


@app.command()
def mkdir(path: str, dir: Path | None = DirOption) -> None:
    """Make a folder and its parents (like mkdir -p)."""
    with client(dir) as fs:
        fs.mkdir(path)


@app.command()
def put(
    local: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    remote: str = typer.Argument(...),
    overwrite: bool = typer.Option(False, "--overwrite", "-f", help="Replace an existing file."),
    replication: int | None = typer.Option(None, min=1, max=512),
    block_size: str | None = typer.Option(None, help="Block size for this file, e.g. 1M."),
    dir: Path | None = DirOption,
) -> None:
    """Upload a local file."""
    size = local.stat().st_size
    with client(dir) as fs, _progress(size) as bar:
        task = bar.add_task(f"put {local.name}", total=size)
        status = fs.put(
            local,
            remote,
            overwrite=overwrite,
            replication=replication,
            block_size=parse_size(block_size) if block_size else None,
            progress=lambda n: bar.advance(task, n),
        )
    out.print(f"{status.path}  {human_size(status.length)}  replication {status.replication}")


@app.command()
def append(
    local: str = typer.Argument(..., help="Local file to add, or - for standard input."),
    remote: str = typer.Argument(...),
    dir: Path | None = DirOption,
) -> None:
    """Add a local file's bytes to the end of a DFS file (visible once complete)."""
    with client(dir) as fs:
        with fs.append(remote) as stream:
            if local == "-":
                stream.write_from(sys.stdin.buffer)
            else:
                with open(local, "rb") as src:
                    stream.write_from(src)
        length = fs.stat(remote).length
    out.print(f"{remote}  {human_size(length)}")


@app.command()
def get(remote: str, local: Path = typer.Argument(Path(".")), dir: Path | None = DirOption) -> None:
    """Download a file."""
    with client(dir) as fs:
        size = fs.stat(remote).length
        with _progress(size) as bar:
            task = bar.add_task(f"get {remote}", total=size)
            fs.get(remote, local, progress=lambda n: bar.advance(task, n))


@app.command()
def cat(path: str, dir: Path | None = DirOption) -> None:
    """Print a file's bytes to standard output."""
    with client(dir) as fs:
        for piece in fs.cat(path):
            sys.stdout.buffer.write(piece)
    sys.stdout.buffer.flush()


@app.command()
def rm(
    path: str,
    recursive: bool = typer.Option(
        False, "-r", "--recursive", help="Remove folders and their contents."
    ),
    skip_trash: bool = typer.Option(
        False, "--skip-trash", help="Delete at once, not to the trash."
    ),
    dir: Path | None = DirOption,
) -> None:
    """Remove a file or folder (to the trash unless --skip-trash)."""
    with client(dir) as fs:
        moved_to = fs.rm(path, recursive=recursive, skip_trash=skip_trash)
    out.print(f"Moved {path} to the trash at {moved_to}" if moved_to else f"Deleted {path}")


@app.command()
def mv(src: str, dst: str, dir: Path | None = DirOption) -> None:
    """Move or rename a file or folder."""
    with client(dir) as fs:
        fs.mv(src, dst)


@app.command()
def stat(path: str, dir: Path | None = DirOption) -> None:
    """Show a file's or folder's status."""
    with client(dir) as fs:
        s = fs.stat(path)
    for key, value in s.model_dump(mode="json").items():
        out.print(f"{key:<18} {value}")


@app.command()
def du(path: str = typer.Argument("/"), dir: Path | None = DirOption) -> None:
    """Space used below a path (logical, and with replication)."""
    with client(dir) as fs:
        s = fs.du(path)
    out.print(
        f"{human_size(s.length)}  {human_size(s.space_consumed)} with replication  "
        f"{s.file_count} files  {s.directory_count} folders  {path}"
    )


@app.command()
def setrep(
    replication: int = typer.Argument(..., min=1, max=512),
    path: str = typer.Argument(...),
    dir: Path | None = DirOption,
) -> None:
    """Change the replication factor of a file (or every file below a folder)."""
    with client(dir) as fs:
        fs.setrep(path, replication)
    out.print(f"Replication {replication} set: {path}")


@app.command()
def fsck(
    path: str = typer.Argument("/"),
    files: bool = typer.Option(False, "--files", help="List every file and its blocks."),
    dir: Path | None = DirOption,
) -> None:
    """Check block health: healthy, under-replicated, missing, corrupt."""
    with client(dir) as fs:
        report = fs.fsck(path)
    for f in report["files_detail"]:
        bad = [b for b in f["blocks"] if b["state"] != "HEALTHY"]
        if files or bad:
            out.print(
                f"{f['path']} {f['length']} bytes, replication {f['replication']}, "
                f"{len(f['blocks'])} block(s)"
            )
            for b in f["blocks"] if files else bad:
                locs = ", ".join(b["locations"]) or "-"
                out.print(
                    f"  blk_{b['block_id']} len={b['length']} {b['state']} "
                    f"live={b['live_replicas']}/{b['expected']} [{locs}]",
                    markup=False,
                    highlight=False,
                )
    out.print(
        f"Total size: {report['size']} B\nTotal files: {report['files']}\n"
        f"Total blocks: {report['blocks']}\nUnder-replicated blocks: {report['under_replicated']}\n"
        f"Missing blocks: {report['missing']}\nCorrupt blocks: {report['corrupt']}\n"
        f"Number of data-nodes: {report['datanodes']}"
    )
    out.print(report["verdict"])
    if report["status"] != "HEALTHY":
        raise typer.Exit(1)
