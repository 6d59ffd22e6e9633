"""The `minihadoop` command.

Every failure the user can cause ends as one line on stderr and a non-zero exit code,
never a traceback.
"""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from cli import admin, cluster, daemons, fs, job, lock
from minihadoop.errors import MiniHadoopError

app = typer.Typer(
    help="minihadoop: a small but real Hadoop. DFS, MapReduce, and a local cluster to run them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(fs.app, name="fs")
app.add_typer(cluster.app, name="cluster")
app.add_typer(admin.app, name="admin")
app.add_typer(job.app, name="job")
app.add_typer(lock.app, name="lock")
app.command()(daemons.namenode)
app.command()(daemons.datanode)
app.command()(daemons.jobtracker)
app.command()(daemons.worker)


def main() -> None:
    try:
        app()
    except MiniHadoopError as exc:
        print(f"minihadoop: {exc.message}", file=sys.stderr)
        sys.exit(1)
    except ValidationError as exc:
        # Settings that do not validate: say which and why, never echo the input, which
        # holds the cluster token.
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"minihadoop: {where}: {error['msg']}", file=sys.stderr)
        sys.exit(1)
    except (OSError, ValueError) as exc:
        print(f"minihadoop: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
