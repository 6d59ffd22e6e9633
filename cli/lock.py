"""`minihadoop lock …`: run a command under a lock held in the namenodes, as `flock` and
`etcdctl lock` do, and see who holds what."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from cli.fs import DirOption, client
from minihadoop.locks import LockSession

app = typer.Typer(
    help="Locks held in the namenodes (a Chubby-style lock service): run a command under "
    "one, or see holders, fencing tokens and waiters."
)
out = Console()
# The exit status when the lock is lost while the command runs (sysexits' EX_TEMPFAIL).
LOST = 75
GRACE = 10.0  # seconds between SIGTERM and SIGKILL for a command whose lock was lost


@app.command(no_args_is_help=True)
def acquire(
    name: str = typer.Argument(..., help="The lock's name."),
    command: list[str] = typer.Argument(..., help="The command to run, after --."),
    ttl: float = typer.Option(10.0, min=1, max=600, help="Session TTL, seconds."),
    shared: bool = typer.Option(False, "--shared", help="A shared (read) lock."),
    timeout: float | None = typer.Option(
        None, min=0, help="Seconds to wait for the lock (default: for ever; 0: not at all)."
    ),
    dir: Path | None = DirOption,
) -> None:
    """Run COMMAND while holding lock NAME: `minihadoop lock acquire NAME -- COMMAND…`.

    COMMAND gets the lock's fencing token in MINIHADOOP_FENCING_TOKEN (and its name in
    MINIHADOOP_LOCK): pass it to whatever the lock guards. The lock is released when
    COMMAND ends, and this exits with COMMAND's status; SIGTERM, SIGINT and SIGHUP are
    passed on to COMMAND. If the lock is lost meanwhile (its session could not be kept
    alive), COMMAND is sent SIGTERM and this exits 75. Not had within --timeout: exit 1;
    COMMAND not found: 127."""
    with client(dir) as fs, LockSession(fs, ttl) as session:
        lock = session.acquire(name, shared=shared, timeout=timeout)
        env = {
            **os.environ,
            "MINIHADOOP_FENCING_TOKEN": str(lock.token),
            "MINIHADOOP_LOCK": name,
        }
        try:
            with _holding_signals() as pending:  # a signal before the handlers: not lost
                proc = subprocess.Popen(command, env=env)
        except FileNotFoundError:  # as a shell says it: 127, 126
            typer.echo(f"minihadoop: {command[0]}: command not found", err=True)
            raise typer.Exit(127) from None
        except PermissionError:
            typer.echo(f"minihadoop: {command[0]}: permission denied", err=True)
            raise typer.Exit(126) from None
        with proc, _forwarding_signals(proc, pending):
            code = _run_holding(proc, session, name)
    raise typer.Exit(128 - code if code < 0 else code)  # a signal: as a shell reports it


@app.command()
def status(
    name: str | None = typer.Argument(None, help="Just this lock."),
    as_json: bool = typer.Option(False, "--json", help="JSON, for scripts."),
    dir: Path | None = DirOption,
) -> None:
    """Every lock held or waited for (or just NAME, free or not): its mode, holders with
    their fencing tokens, and waiters in the order they will be served."""
    with client(dir) as fs:
        locks = fs.locks(name)
    if as_json:
        typer.echo(json.dumps(locks, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("lock", "mode", "holder", "token", "waiting"):
        table.add_column(column, justify="right" if column == "token" else "left")
    for lock in locks:
        waiting = ", ".join(_who(w) for w in lock["waiters"]) or "-"
        holders = lock["holders"] or [None]
        for i, holder in enumerate(holders):
            table.add_row(
                lock["name"] if i == 0 else "",
                (lock["mode"] or "free") if i == 0 else "",
                "-" if holder is None else _who(holder),
                "-" if holder is None else str(holder["token"]),
                waiting if i == 0 else "",
            )
    out.print(table)


@app.command()
def sessions(
    as_json: bool = typer.Option(False, "--json", help="JSON, for scripts."),
    dir: Path | None = DirOption,
) -> None:
    """Every live session: its owner, TTL, the seconds left before the leader expires it
    unless kept alive, and the locks it holds or waits for."""
    with client(dir) as fs:
        found = fs.lock_sessions()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("session", "owner", "ttl", "expires in", "locks"):
        table.add_column(column, justify="right" if column in ("ttl", "expires in") else "left")
    for s in found:
        left = "-" if s["expires_in"] is None else f"{s['expires_in']:.1f}s"
        locks = ", ".join(s["locks"]) or "-"
        table.add_row(s["id"], s["owner"], f"{s['ttl_ms'] / 1000:g}s", left, locks)
    out.print(table)


FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextmanager
def _holding_signals() -> Iterator[list[int]]:
    """While the command is being started: the signals that came, to pass on once it runs."""
    pending: list[int] = []
    before = {sig: signal.getsignal(sig) for sig in FORWARDED}
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: pending.append(signum))
    try:
        yield pending
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextmanager
def _forwarding_signals(proc: subprocess.Popen[bytes], pending: list[int]) -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP are passed on to the command, and the lock is kept until it
    ends: stopping `lock acquire` (systemd, `timeout`, Ctrl-C) must never leave the command
    running without its lock."""
    before = {sig: signal.getsignal(sig) for sig in FORWARDED}
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: proc.send_signal(signum))
    for pending_sig in pending:
        proc.send_signal(pending_sig)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _run_holding(proc: subprocess.Popen[bytes], session: LockSession, name: str) -> int:
    """Wait for the command while the lock is held; its exit status. A lock lost meanwhile
    stops it (SIGTERM, then SIGKILL after GRACE seconds) and exits LOST."""
    while True:
        try:
            return proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            if session.valid():
                continue
        typer.echo(
            f"minihadoop: lock {name} was lost (session {session.id}); stopping the command",
            err=True,
        )
        proc.terminate()
        try:
            proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise typer.Exit(LOST)


def _who(entry: dict[str, Any]) -> str:
    return f"{entry['owner']} ({entry['session']})"
