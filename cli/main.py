"""The `minihadoop` command.

Every failure the user can cause, usage mistakes included, ends as one line on stderr and a
non-zero exit code, never a traceback (``--debug`` shows it). Hadoop's spellings work
beside ours: ``minihadoop fs -ls /`` is ``minihadoop fs ls /``.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import TYPE_CHECKING, NoReturn

# httpx imports its own command line tool (click, rich's console, pygments: ~40 ms, an eighth
# of `minihadoop fs ls`) unless that import fails, when it leaves a stub `httpx.main` in its
# place. This process never runs httpx's tool, so it says the module is not there.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import typer  # noqa: E402
import typer.main  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from cli.failures import Failures, UsageMistake  # noqa: E402
from minihadoop import __version__  # noqa: E402
from minihadoop.errors import MiniHadoopError  # noqa: E402

if TYPE_CHECKING:
    from typer import _click as click  # the click typer runs on: its own copy, here

# Every command, in the order `--help` lists them: the daemons (functions of cli.daemons),
# then the command groups (each the `app` of its module).
COMMANDS = {
    "namenode": ("cli.daemons", "namenode"),
    "datanode": ("cli.daemons", "datanode"),
    "jobtracker": ("cli.daemons", "jobtracker"),
    "worker": ("cli.daemons", "worker"),
    "fs": ("cli.fs", "app"),
    "cluster": ("cli.cluster", "app"),
    "admin": ("cli.admin", "app"),
    "job": ("cli.job", "app"),
    "lock": ("cli.lock", "app"),
}


class LazyCommands(TyperGroup):
    """The top-level command, which imports a command's module only when that command is
    run (or listed, by `--help`): between them they import the DFS and job clients, rich,
    the daemons' settings, the local cluster and the lock service, each a cost to every
    command that does not need it (`minihadoop fs ls` is mostly imports)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            # A name that is no command loads them all: typer suggests from those loaded.
            for name in [cmd_name] if cmd_name in COMMANDS else COMMANDS:
                self._load(name)
        return super().get_command(ctx, cmd_name)

    def _load(self, name: str) -> None:
        if name in self.commands:
            return
        module, attribute = COMMANDS[name]
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):
            command: click.Command = typer.main.get_group(found)
        else:  # a daemon's function: a command of its own, as `app.command()` would make it
            alone = typer.Typer(add_completion=False)
            alone.command()(found)
            command = typer.main.get_command(alone)
        command.name = name
        self.commands[name] = command


app = typer.Typer(
    cls=LazyCommands,
    help="minihadoop: a small but real Hadoop. DFS, MapReduce, and a local cluster to run them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"minihadoop {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    _debug: bool = typer.Option(False, "--debug", help="Show the traceback of a failure."),
    _show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """minihadoop: a small but real Hadoop. DFS, MapReduce, and a local cluster to run them."""


# Hadoop's old spellings of two commands with a flag.
DEPRECATED = {"lsr": ["ls", "-R"], "rmr": ["rm", "-r"]}


def hadoop_spelling(argv: list[str]) -> list[str]:
    """``fs -ls /`` as ``fs ls /``: a dashed first word after ``fs`` that names a command;
    ``fs -help ls`` as ``fs ls --help``; ``-lsr`` and ``-rmr`` as Hadoop meant them."""
    if len(argv) >= 2 and argv[0] == "fs" and argv[1].startswith("-") and argv[1] != "--help":
        from cli import fs  # only here: fs's commands are the spellings to know

        name = argv[1].lstrip("-")
        commands = {c.name or (c.callback.__name__ if c.callback else "") for c in
                    fs.app.registered_commands}  # fmt: skip
        if name == "help":
            return ["fs", argv[2].lstrip("-"), "--help"] if len(argv) > 2 else ["fs", "--help"]
        if name in DEPRECATED:
            return ["fs", *DEPRECATED[name], *argv[2:]]
        if name in commands:
            return ["fs", name, *argv[2:]]
    return argv


def _run(argv: list[str]) -> object:
    try:
        return app(argv, prog_name="minihadoop", standalone_mode=False)
    except BrokenPipeError:
        _reader_gone()
    except SystemExit as exc:
        # Typer turns a broken pipe into exit 1 after wrapping stdout to hush it (in its
        # own copy of click, in some versions: known by name).
        if exc.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            _reader_gone()
        raise


def _reader_gone() -> NoReturn:
    """The reader went away (`| head`): stop quietly with the shell's status for SIGPIPE
    (141), as cat does, and keep Python from complaining about stdout while it exits."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    sys.exit(141)


def _unknown_option(message: str, argv: list[str]) -> str:
    """Click reads ``-lsr`` as ``-l -s -r`` and names only ``-l``: name what was typed."""
    prefix = "No such option: "
    if message.startswith(prefix):
        short = message[len(prefix) :].split()[0]
        typed = [a for a in argv if a.startswith(short) and len(a) > 2 and a[1] != "-"]
        if len(short) == 2 and typed:
            return f"{prefix}{typed[0]}"
    return message


def main() -> None:
    argv = hadoop_spelling(sys.argv[1:])
    # --debug anywhere before a "--" (after it, the words are a command's to run).
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    argv = [a for a in argv[:end] if a != "--debug"] + argv[end:]
    Failures.traceback = debug
    try:
        code = _run(argv)
    except KeyboardInterrupt:
        sys.exit(130)
    except UsageMistake as exc:
        print(f"minihadoop: {exc.message} (see --help)", file=sys.stderr)
        sys.exit(2)
    except MiniHadoopError as exc:
        _fail(exc.message, debug)
    except ValidationError as exc:
        # Settings that do not validate: say which and why, never echo the input, which
        # holds the cluster token.
        if debug:
            traceback.print_exc()
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"minihadoop: {where}: {error['msg']}", file=sys.stderr)
        sys.exit(1)
    except (OSError, ValueError, OverflowError) as exc:
        _fail(str(exc), debug)
    except RecursionError:
        _fail("the input is nested too deeply", debug)
    except Exception as exc:
        _click_failure(exc, debug, argv)
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _click_failure(exc: Exception, debug: bool, argv: list[str]) -> None:
    """A usage mistake or an abort from the command-line parser, as one line. Matched by
    class name: typer ships click under its own name in some versions, not in others."""
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if "NoArgsIsHelpError" in kinds:
        exc.show()  # type: ignore[attr-defined]  # the help, as for --help
        sys.exit(0)
    if "Abort" in kinds:
        sys.exit(130)
    if "UsageError" in kinds:
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "minihadoop"
        message = _unknown_option(exc.format_message(), argv)  # type: ignore[attr-defined]
        print(f"{where}: {message} (see {where} --help)", file=sys.stderr)
        sys.exit(2)
    if "ClickException" in kinds:
        _fail(exc.format_message(), debug)  # type: ignore[attr-defined]


def _fail(message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"minihadoop: {message}", file=sys.stderr)
    sys.exit(1)
