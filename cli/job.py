"""`minihadoop job …`: submit MapReduce jobs written as Python scripts, and watch them."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from cli.format import columns, parse_size
from mapreduce import tasklogs
from mapreduce.job import Job, JobResult, JobTrackerClient, RunningJob
from mapreduce.streaming import StreamCommand
from minihadoop.client_config import home_dir
from minihadoop.errors import FileNotFoundError_, IllegalArgumentError

app = typer.Typer(
    help="Run MapReduce jobs: submit a script or streaming commands, list, status, logs, kill."
)
out = Console()
err = Console(stderr=True)

DirOption = typer.Option(
    None, "--dir", help="Cluster folder (default: $MINIHADOOP_HOME or ~/.minihadoop)."
)


ScriptArgument = typer.Argument(
    ..., help="A Python file defining mapper, reducer, and optionally combiner, partitioner."
)
OutputOption = typer.Option(..., "--output", "-o", help="Output folder (must not exist).")
ReducersOption = typer.Option(
    1, "--reducers", "-r", min=0, max=10_000, help="Reduce tasks (0: map-only)."
)


KillOnInterruptOption = typer.Option(
    False, "--kill-on-interrupt", help="Ctrl-C kills the job too (else it keeps running)."
)


InputFormatOption = typer.Option(
    "text", "--input-format", help="text (offset, line), keyvalue (tab-split lines), wholefile."
)
OutputFormatOption = typer.Option(
    "text", "--output-format", help="text (key<TAB>value lines) or jsonl."
)


def job_from_script(script: Path, inputs: list[str], output: str, reducers: int, **kw: Any) -> Job:
    """The job a script's functions make; `kw` as `Job` takes them (name, cluster_dir)."""
    functions = load_script(script)
    kw.setdefault("name", script.stem)
    return Job(
        functions["mapper"],
        functions["reducer"],
        combiner=functions["combiner"],
        partitioner=functions["partitioner"],
        inputs=inputs,
        output=output,
        num_reducers=reducers,
        **kw,
    )


def load_script(path: Path) -> dict[str, Any]:
    """The job functions a script defines: mapper (required), reducer, combiner, partitioner.

    The script's folder goes on sys.path first, so it can import helper modules beside it;
    those travel to the workers with the job.
    """
    if not path.is_file():
        raise IllegalArgumentError(f"no such job script: {path}")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"mhjob_{path.stem.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise IllegalArgumentError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the script's own failure, said in one line (--debug: all)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        where = f" (line {frames[-1].lineno})" if frames else ""
        if isinstance(exc, SyntaxError):
            where = f" (line {exc.lineno})"
        raise IllegalArgumentError(
            f"cannot load the job script {path}{where}: {type(exc).__name__}: {exc}"
        ) from exc
    functions = {
        k: getattr(module, k, None) for k in ("mapper", "reducer", "combiner", "partitioner")
    }
    if not callable(functions["mapper"]):
        raise IllegalArgumentError(f"{path} defines no mapper(key, value) function")
    return functions


@app.command()
def submit(
    script: Path = ScriptArgument,
    inputs: list[str] = typer.Option(
        ..., "--input", "-i", help="Input file or folder (repeatable)."
    ),
    output: str = OutputOption,
    reducers: int = ReducersOption,
    name: str | None = typer.Option(None, help="Job name (default: the script's name)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the job until it ends."),
    input_format: str = InputFormatOption,
    output_format: str = OutputFormatOption,
    kill_on_interrupt: bool = KillOnInterruptOption,
    dir: Path | None = DirOption,
) -> None:
    """Submit a job script and follow its progress."""
    job = job_from_script(
        script, inputs, output, reducers, name=name or script.stem, cluster_dir=home_dir(dir),
        input_format=input_format, output_format=output_format,
    )  # fmt: skip
    _submit_and_follow(job, wait, kill_on_interrupt)


def _submit_and_follow(job: Job, wait: bool, kill_on_interrupt: bool = False) -> None:
    running = job.submit()
    try:
        print(f"submitted {running.id}", flush=True)
        if not wait:
            return
        result = _follow(running)
    except KeyboardInterrupt:
        if kill_on_interrupt:  # as `hadoop jar` with mapreduce.job.kill-on-interrupt
            state = running.kill()
            print(f"interrupted: {running.id} {state.lower()}", file=sys.stderr)
            raise typer.Exit(130) from None
        # As with Hadoop, the job is the cluster's now: to stop watching it is not to stop
        # it. Say so, and how to do either.
        print(
            f"interrupted: {running.id} keeps running. Follow it with `minihadoop job status "
            f"{running.id}`; stop it with `minihadoop job kill {running.id}`.",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    _report(result)


@app.command()
def run(
    script: Path = ScriptArgument,
    inputs: list[str] = typer.Option(
        ..., "--input", "-i", help="Input file or folder (repeatable); local with --local."
    ),
    output: str = OutputOption,
    reducers: int = ReducersOption,
    local: bool = typer.Option(
        False, "--local", help="Run here, without a cluster, over local files."
    ),
    processes: int = typer.Option(
        1, "--local-processes", min=1, max=256, help="With --local: processes to use."
    ),
    split_size: str = typer.Option("64M", help="With --local: bytes per map split."),
    input_format: str = InputFormatOption,
    output_format: str = OutputFormatOption,
    dir: Path | None = DirOption,
) -> None:
    """Run a job script: on the cluster (as `job submit`), or with --local in this process."""
    if not local:
        submit(
            script, inputs, output, reducers, None, True, input_format, output_format, False, dir
        )
        return
    job = job_from_script(
        script, inputs, output, reducers, input_format=input_format, output_format=output_format
    )
    result = job.run(local=True, processes=processes, split_size=parse_size(split_size))
    _report(result)


@app.command()
def streaming(
    mapper: str = typer.Option(..., "--mapper", help="Shell command: lines in, key<TAB>value out."),
    reducer: str = typer.Option(
        "", "--reducer", help="Shell command over sorted key<TAB>value lines; NONE: map-only."
    ),
    combiner: str = typer.Option(
        "", "--combiner", help="Shell command run over each sorted spill of a map's output."
    ),
    inputs: list[str] = typer.Option(
        ..., "--input", "-i", help="Input file, folder or glob (repeatable); local with --local."
    ),
    output: str = OutputOption,
    reducers: int = ReducersOption,
    files: list[Path] = typer.Option(
        [], "--file", help="A local file to ship with the job, beside the commands (repeatable)."
    ),
    name: str = typer.Option("streaming", help="Job name."),
    input_format: str = typer.Option(
        "text", "--input-format", help="text (each line) or keyvalue (the same lines)."
    ),
    output_format: str = OutputFormatOption,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the job until it ends."),
    kill_on_interrupt: bool = KillOnInterruptOption,
    local: bool = typer.Option(False, "--local", help="Run here, without a cluster."),
    dir: Path | None = DirOption,
) -> None:
    """A Hadoop Streaming job: shell commands as mapper and reducer."""
    if input_format == "wholefile":
        raise IllegalArgumentError("a streaming job reads lines: --input-format text or keyvalue")
    shipped = {}
    for f in files:
        if not f.is_file():
            raise IllegalArgumentError(f"no such file to ship: {f}")
        shipped[f.name] = f.read_bytes()
    map_only = reducer.strip().upper() == "NONE" or reducers == 0
    job = Job(
        StreamCommand(mapper, "mapper", shipped),
        None if map_only or not reducer else StreamCommand(reducer, "reducer", shipped),
        combiner=StreamCommand(combiner, "combiner", shipped) if combiner else None,
        inputs=inputs, output=output, num_reducers=0 if map_only else reducers, name=name,
        input_format=input_format, output_format=output_format,
        cluster_dir=None if local else home_dir(dir),
    )  # fmt: skip
    if local:
        _report(job.run(local=True))
        return
    _submit_and_follow(job, wait, kill_on_interrupt)


def failed_attempts(
    attempts: list[dict[str, Any]],
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Failed and killed attempts grouped by state and error, in the order each was first
    seen: a task that failed four times the same way is one error, said once."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in attempts:
        if a["state"] in ("FAILED", "KILLED"):
            groups.setdefault((a["state"], a["error"] or ""), []).append(a)
    return [(state, error, group) for (state, error), group in groups.items()]


def _follow(running: RunningJob) -> JobResult:
    """Wait for the job, with progress bars on a terminal."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bars:
        maps = bars.add_task("map", total=None)
        reduces = bars.add_task("reduce", total=None)

        def show(status: dict[str, Any]) -> None:
            bars.update(maps, total=status["maps"], completed=status["maps_done"])
            bars.update(reduces, total=status["reduces"], completed=status["reduces_done"])

        return running.wait(progress=show)


def _report(result: JobResult) -> None:
    c = result.counters
    maps = result.status.get("maps", c.get("MAP_TASKS", 0))
    reduces = result.status.get("reduces", c.get("REDUCE_TASKS", 0))
    print(
        f"{result.id} {result.state.value} in {result.duration:.2f}s — "
        f"maps {maps} ({c.get('DATA_LOCAL_MAPS', 0)} data-local), reduces {reduces}, "
        f"input records {c.get('MAP_INPUT_RECORDS', 0)}, output records "
        f"{c.get('REDUCE_OUTPUT_RECORDS', c.get('MAP_OUTPUT_RECORDS', 0))}"
    )
    if result.ok:
        print(f"output: {result.output}")
        return
    err.print(result.error or "the job did not succeed", markup=False, highlight=False)
    raise typer.Exit(1)


def _client(dir: Path | None) -> JobTrackerClient:
    return JobTrackerClient.from_cluster(home_dir(dir))


@app.command("list")
def list_jobs(
    limit: int = typer.Option(20, min=1),
    as_json: bool = typer.Option(False, "--json", help="Print JSON, for scripts."),
    dir: Path | None = DirOption,
) -> None:
    """Recent jobs, newest first."""
    jobs = _client(dir).jobs(limit)
    if as_json:
        print(json.dumps(jobs, indent=2))
        return
    rows = [
        [
            j["id"],
            j["name"],
            j["user"],
            j["state"],
            f"{j['maps_done']}/{j['maps']}",
            f"{j['reduces_done']}/{j['reduces']}",
            f"{j['duration']:.1f}s",
        ]
        for j in jobs
    ]
    for line in columns(["job", "name", "user", "state", "maps", "reduces", "duration"], rows,
                        right=frozenset({4, 5, 6})):  # fmt: skip
        print(line)


@app.command()
def status(
    job_id: str,
    as_json: bool = typer.Option(False, "--json", help="Print JSON, for scripts."),
    dir: Path | None = DirOption,
) -> None:
    """A job's state, progress, and failed attempts."""
    s = _client(dir).status(job_id)
    if as_json:
        print(json.dumps(s, indent=2))
        return
    print(f"{s['id']}  {s['name']}  {s['state']}")
    print(
        f"maps {s['maps_done']}/{s['maps']}  reduces {s['reduces_done']}/{s['reduces']}  "
        f"{s['duration']:.1f}s  output {s['output']}"
    )
    started = min((a["started"] for a in s["attempts"]), default=time.time())
    for state, error, group in failed_attempts(s["attempts"]):
        first = group[0]
        if len(group) == 1:
            print(f"  {first['id']} {state} on {first['worker']} "
                  f"at +{first['started'] - started:.1f}s")  # fmt: skip
        else:
            workers = ", ".join(sorted({a["worker"] for a in group}))
            print(f"  {len(group)} attempts {state} with the same error "
                  f"({first['id']} and {len(group) - 1} more, on {workers})")  # fmt: skip
        if error:
            print("    " + error.strip().replace("\n", "\n    "))
        if error and "frames of minihadoop's left out" in error:
            print(f"    (all of it: minihadoop job logs {s['id']} --attempt {first['id']} "
                  "--log stderr)")  # fmt: skip
    if s["error"]:
        err.print(s["error"], markup=False, highlight=False)


@app.command()
def kill(job_id: str, dir: Path | None = DirOption) -> None:
    """Kill a running job."""
    out.print(f"{job_id}: {_client(dir).kill(job_id)}")


@app.command()
def counters(
    job_id: str,
    as_json: bool = typer.Option(False, "--json", help="Print JSON, for scripts."),
    dir: Path | None = DirOption,
) -> None:
    """A job's counters."""
    found = _client(dir).status(job_id)["counters"]
    if as_json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return
    rows = [[name, str(value)] for name, value in sorted(found.items())]
    for line in columns(["counter", "value"], rows, right=frozenset({1})):
        print(line)


def _matches_task(attempt: dict[str, Any], task: str | None) -> bool:
    """`task`: ``m_000003``, ``m3``, ``r0`` or a whole task id (``task_<job>_m_000003``)."""
    if task is None:
        return True
    found = re.fullmatch(r"(?:task_.+_)?([mr])_?(\d{1,6})", task)
    if found is None:
        raise IllegalArgumentError(f"not a task: {task!r} (write it as m_000003, m3 or r0)")
    kind = "MAP" if found.group(1) == "m" else "REDUCE"
    return bool(attempt["kind"] == kind and attempt["index"] == int(found.group(2)))


@app.command()
def logs(
    job_id: str,
    task: str | None = typer.Option(None, "--task", help="Only this task (m3, r_000000)."),
    attempt: str | None = typer.Option(None, "--attempt", help="Only this attempt."),
    log: list[str] = typer.Option(
        list(tasklogs.KINDS), "--log", help="Which logs: stdout, stderr, syslog (repeatable)."
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Go on until the job ends."),
    dir: Path | None = DirOption,
) -> None:
    """What a job's tasks printed and logged, fetched from the workers that ran them
    (Hadoop's `yarn logs`). Each attempt's logs are kept on its worker for
    MINIHADOOP_TASK_LOG_RETENTION seconds."""
    for kind in log:
        if kind not in tasklogs.KINDS:
            raise IllegalArgumentError(f"no log {kind!r}: there are {', '.join(tasklogs.KINDS)}")
    with _client(dir) as jt:
        offsets: dict[tuple[str, str], int] = {}
        while True:
            status = jt.status(job_id)
            chosen = [
                a for a in status["attempts"]
                if _matches_task(a, task) and (attempt is None or a["id"] == attempt)
            ]  # fmt: skip
            if attempt is not None and not chosen and not follow:
                raise IllegalArgumentError(f"job {job_id} has no attempt {attempt}")
            urls = {w["id"]: w["url"] for w in jt.workers()}
            for a in chosen:
                _print_logs(jt, a, urls.get(a["worker"]), log, offsets)
            if not follow or status["state"] not in ("PREP", "RUNNING"):
                return
            time.sleep(0.5)  # what `tail -f` does: look again


def _print_logs(
    jt: JobTrackerClient,
    a: dict[str, Any],
    url: str | None,
    kinds: list[str],
    offsets: dict[tuple[str, str], int],
) -> None:
    """Print what is new in attempt `a`'s logs since `offsets` (updated)."""
    where = f"{a['kind'].lower()} {a['index']}, {a['state']}, on worker {a['worker']}"
    if url is None:
        if (a["id"], "") not in offsets:
            offsets[(a["id"], "")] = 0
            err.print(f"{a['id']} ({where}): its worker is gone; so are its logs",
                      markup=False, highlight=False)  # fmt: skip
        return
    for kind in kinds:
        key = (a["id"], kind)
        while True:  # a piece at a time: a log is at most a few MiB
            try:
                data, size = jt.attempt_log(url, a["id"], kind, offsets.get(key, 0))
            except FileNotFoundError_:
                break  # not started there yet, or expired
            if not data:
                break
            if key not in offsets:
                print(f"==> {a['id']} ({where}) {kind} <==")
            sys.stdout.write(data.decode("utf-8", "replace"))
            offsets[key] = offsets.get(key, 0) + len(data)
            if offsets[key] >= size:
                if not data.endswith(b"\n"):
                    sys.stdout.write("\n")
                break
        sys.stdout.flush()
