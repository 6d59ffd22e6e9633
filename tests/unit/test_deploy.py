"""deploy/ and the operations docs, checked against the code they describe.

Nothing here needs Docker or systemd. What can be checked without them is: the compose file
parses and has the shape the docs promise; every `minihadoop …` command line in the systemd
units, the compose file and the docs' shell examples uses sub-commands and flags the real CLI
accepts (asked of the CLI itself, through `--help`); every `MINIHADOOP_*` variable named is
one the code reads; the settings table lists every setting with its real default; and the
example environment file holds values `Settings` accepts.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from minihadoop.config import Settings
from minihadoop.retry import NamenodeGroup

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_HA = DEPLOY / "compose.ha.yaml"
COMPOSE_FILES = [COMPOSE, COMPOSE_HA]
DOCKERFILE = DEPLOY / "Dockerfile"
ENV_EXAMPLE = DEPLOY / "minihadoop.env.example"
UNITS = {
    "namenode": DEPLOY / "systemd" / "minihadoop-namenode.service",
    "datanode": DEPLOY / "systemd" / "minihadoop-datanode.service",
    "jobtracker": DEPLOY / "systemd" / "minihadoop-jobtracker.service",
    "worker": DEPLOY / "systemd" / "minihadoop-worker.service",
}
OPERATIONS = ROOT / "docs" / "operations.md"
DOCS_WITH_COMMANDS = [OPERATIONS, ROOT / "docs" / "architecture.md", DEPLOY / "README.md"]

SETTINGS_VARS = {f"MINIHADOOP_{name.upper()}" for name in Settings.model_fields}
CLIENT_VARS = {"MINIHADOOP_HOME", "MINIHADOOP_NAMENODE", "MINIHADOOP_USER"}
# Not read but set: what `minihadoop lock acquire` gives the command it runs.
EXPORTED_VARS = {"MINIHADOOP_FENCING_TOKEN", "MINIHADOOP_LOCK"}
VARIABLE = re.compile(r"\bMINIHADOOP_[A-Z0-9_]+\b")
DATANODE_SERVICES = ("datanode1", "datanode2", "datanode3")


# --------------------------------------------------------------------------- the real CLI


@functools.cache
def cli_help(*words: str) -> tuple[int, str]:
    """`python -m cli <words> --help`: exit code and text, wide and without colour."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(COLUMNS="250", NO_COLOR="1", TERM="dumb")
    done = subprocess.run(
        [sys.executable, "-m", "cli", *words, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def has_flag(help_text: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text) is not None


def required_flags(help_text: str) -> set[str]:
    """Options the help marks as required (rich's `*` in front of the option)."""
    return set(re.findall(r"^\W*\*\s+(--[\w-]+)", help_text, flags=re.MULTILINE))


def check_command(argv: list[str], where: str) -> None:
    """Fail unless `minihadoop <argv>` names real sub-commands and only flags they accept."""
    assert argv, f"{where}: `minihadoop` with no sub-command"
    words = [argv[0]]
    code, text = cli_help(*words)
    assert code == 0, f"{where}: `minihadoop {argv[0]}` is not a sub-command:\n{text}"
    if "Commands" in text and len(argv) > 1 and not argv[1].startswith("-"):
        words.append(argv[1])  # a group (fs, cluster): the next word is its command
        code, text = cli_help(*words)
        assert code == 0, f"{where}: `minihadoop {' '.join(words)}` is not a command:\n{text}"
    given = {arg.split("=", 1)[0] for arg in argv[len(words) :] if arg.startswith("-")}
    unknown = sorted(flag for flag in given if not has_flag(text, flag))
    assert not unknown, f"{where}: `minihadoop {' '.join(words)}` has no option {unknown}"
    missing = sorted(required_flags(text) - given)
    assert not missing, f"{where}: `minihadoop {' '.join(words)}` needs {missing}"


# --------------------------------------------------------------------------- reading files


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def compose_commands_from_lines(text: str) -> dict[str, list[str]]:
    """service -> `command:` list, read without a YAML library.

    The compose files write every command as a flow list of double-quoted strings, which is
    also JSON; a long one goes on over the next lines until its `]`.
    """
    commands: dict[str, list[str]] = {}
    service = None
    in_services = False
    pending: str | None = None
    for line in text.splitlines():
        if pending is not None:
            pending += " " + line.strip()
            if pending.endswith("]"):
                commands[service or ""] = json.loads(pending)
                pending = None
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            in_services = line.startswith("services:")
            continue
        top = re.match(r"^  ([\w.-]+):\s*$", line)
        if in_services and top:
            service = top.group(1)
            continue
        cmd = re.match(r"^    command:\s*(\[.*)$", line)
        if in_services and service and cmd:
            found = cmd.group(1).rstrip()
            if found.endswith("]"):
                commands[service] = json.loads(found)
            else:
                pending = found
    assert pending is None, "a command list that never ends"
    return commands


def compose_yaml(path: Path = COMPOSE) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    data: dict[str, Any] = yaml.safe_load(read(path))
    return data


def entrypoint() -> list[str]:
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", read(DOCKERFILE), flags=re.MULTILINE)
    assert match, "the Dockerfile has no exec-form ENTRYPOINT"
    value: list[str] = json.loads(match.group(1))
    return value


def unit_sections(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as {section: [(key, value), ...]}, continuation lines joined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    text = read(path).replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), [])
            continue
        assert current is not None, f"{path.name}: {line!r} before any [section]"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def unit_value(path: Path, section: str, key: str) -> list[str]:
    return [v for k, v in unit_sections(path).get(section, []) if k == key]


def env_lines(text: str, name: str = "env file") -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them: the later line wins, and
    quotes around a value are dropped."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{name}: not KEY=value: {line!r}"
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def env_file(path: Path) -> dict[str, str]:
    return env_lines(read(path), path.name)


ASSIGNMENT = re.compile(r"^#([A-Z][A-Z0-9_]*=.*)$")


def env_file_uncommented(path: Path) -> str:
    """The file with its commented-out assignments (`#KEY=value`) switched on."""
    return "\n".join(ASSIGNMENT.sub(r"\1", line) for line in read(path).splitlines())


# --------------------------------------------------------------------------- shell in docs


SHELL_FENCE = re.compile(r"^```(sh|bash|shell|console)\s*$")
OPERATORS = {"&&", "||", "|", ";", "&", "(", ")", ";;"}
COMPOSE_VALUE_OPTIONS = {"-f", "--file", "-p", "--project-name", "--profile"}
RUN_VALUE_OPTIONS = {"-e", "--env", "-u", "--user", "-w", "--workdir", "-v", "--volume"}


def shell_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, command line) of the shell code blocks in a Markdown file."""
    lines: list[tuple[int, str]] = []
    fence = None
    pending, start = "", 0
    for number, raw in enumerate(read(path).splitlines(), start=1):
        if fence is None:
            found = SHELL_FENCE.match(raw.strip())
            fence = found.group(1) if found else None
            continue
        if raw.strip().startswith("```"):
            fence = None
            continue
        line = raw.strip()
        if fence == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        start = start or number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append((start, pending + line))
        pending, start = "", 0
    return lines


def segments(line: str) -> list[list[str]]:
    """A shell line split into simple commands (at &&, |, ; and parentheses)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    out: list[list[str]] = [[]]
    for token in lexer:
        if token in OPERATORS:
            out.append([])
        else:
            out[-1].append(token)
    return [s for s in out if s]


def skip_options(tokens: list[str], with_values: set[str]) -> list[str]:
    while tokens and tokens[0].startswith("-"):
        option = tokens.pop(0)
        if option in with_values and "=" not in option and tokens:
            tokens.pop(0)
    return tokens


def minihadoop_argv(tokens: list[str]) -> list[str] | None:
    """The arguments after `minihadoop` when this simple command runs it, else None.

    Understands `VAR=value` prefixes, `sudo`/`env`, a path to the binary, and
    `docker compose exec <service> minihadoop …` / `docker compose run <service> …` (the
    image's entrypoint is `minihadoop`).
    """
    tokens = list(tokens)
    while tokens and re.fullmatch(r"[A-Za-z_]\w*=.*", tokens[0]):
        tokens.pop(0)
    if tokens and tokens[0] in ("sudo", "env"):
        tokens = skip_options(tokens[1:], {"-u", "-g"})
        return minihadoop_argv(tokens)
    if tokens[:2] == ["docker", "compose"]:
        rest = skip_options(tokens[2:], COMPOSE_VALUE_OPTIONS)
        if not rest or rest[0] not in ("exec", "run"):
            return None
        verb, rest = rest[0], skip_options(rest[1:], RUN_VALUE_OPTIONS)
        if len(rest) < 2:
            return None
        return minihadoop_argv(rest[1:]) if verb == "exec" else rest[1:]
    if tokens and Path(tokens[0]).name == "minihadoop" and not tokens[0].endswith("/"):
        return tokens[1:]
    return None


def doc_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in DOCS_WITH_COMMANDS:
        for number, line in shell_lines(path):
            for tokens in segments(line):
                argv = minihadoop_argv(tokens)
                if argv is not None:
                    found.append((f"{path.relative_to(ROOT)}:{number}", argv))
    return found


# --------------------------------------------------------------------------- compose


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_parses_as_yaml_and_agrees_with_the_line_reader(path: Path) -> None:
    data = compose_yaml(path)
    services = data["services"]
    commands = {name: s["command"] for name, s in services.items() if "command" in s}
    assert commands == compose_commands_from_lines(read(path))


def test_compose_runs_a_namenode_and_three_datanodes_built_from_the_dockerfile() -> None:
    services = compose_yaml()["services"]
    assert {"namenode", *DATANODE_SERVICES} <= set(services)
    for name, service in services.items():
        build = service["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE, name
    assert services["namenode"]["command"][0] == "namenode"
    for name in DATANODE_SERVICES:
        assert services[name]["command"][0] == "datanode"


def test_compose_runs_a_job_tracker_and_a_worker_beside_each_datanode() -> None:
    services = compose_yaml()["services"]
    commands = compose_commands_from_lines(read(COMPOSE))
    assert commands["jobtracker"][0] == "jobtracker"
    # The job tracker waits for the folders the README has an administrator make first.
    after = services["jobtracker"]["depends_on"]["first-folders"]["condition"]
    assert after == "service_completed_successfully"
    readme = read(DEPLOY / "README.md").split("Before the first job tracker starts", 1)[1]
    readme_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    setup = [shlex.split(c) for c in commands["first-folders"][0].split("&&")]
    assert setup == [shlex.split(line) for line in readme_block.splitlines() if line.strip()]
    for i, datanode in enumerate(DATANODE_SERVICES, start=1):
        worker = services[f"worker{i}"]
        assert worker["network_mode"] == f"service:{datanode}"  # its datanode's machine
        argv = commands[f"worker{i}"]
        assert flag(argv, "--datanode") == f"http://{datanode}:9864"
        assert flag(argv, "--advertise") == datanode


def test_compose_datanodes_advertise_their_service_names_and_find_the_namenode() -> None:
    commands = compose_commands_from_lines(read(COMPOSE))
    nn = commands["namenode"]
    nn_port = nn[nn.index("--service-port") + 1]  # datanodes talk to the service port
    for name in DATANODE_SERVICES:
        cmd = commands[name]
        assert cmd[cmd.index("--advertise") + 1] == name
        assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
        assert cmd[cmd.index("--namenode") + 1] == f"http://namenode:{nn_port}"


def daemon_services(path: Path) -> dict[str, dict[str, Any]]:
    """The daemons `docker compose up` starts: services with a command, no profile, and
    not a one-off (`restart: "no"`, like the first folders' setup)."""
    services: dict[str, dict[str, Any]] = compose_yaml(path)["services"]
    return {
        n: s
        for n, s in services.items()
        if "command" in s and not s.get("profiles") and s.get("restart") != "no"
    }


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_keeps_each_daemon_s_data_on_its_own_named_volume(path: Path) -> None:
    data = compose_yaml(path)
    declared = set(data["volumes"])
    used = []
    for name, service in daemon_services(path).items():
        folder = flag(service["command"], "--dir")
        mounts = dict(v.split(":", 1) for v in service["volumes"])
        named = [src for src, dst in mounts.items() if dst.split(":")[0] == folder]
        assert named, f"{name}: nothing is mounted on its --dir {folder}"
        assert named[0] in declared, f"{name}: {named[0]} is not a named volume"
        used.append(named[0])
    assert len(used) == len(set(used)), f"{path.name}: two daemons share a volume: {used}"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_takes_the_token_from_the_environment(path: Path) -> None:
    assert re.search(r"MINIHADOOP_TOKEN:\s*\$\{MINIHADOOP_TOKEN:\?", read(path))
    for name, service in compose_yaml(path)["services"].items():
        token = service["environment"]["MINIHADOOP_TOKEN"]
        assert token.startswith("${MINIHADOOP_TOKEN"), name


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_checks_each_daemon_s_health_on_its_own_port(path: Path) -> None:
    for name, service in daemon_services(path).items():
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{path.name}: {name} has no health check"
        urls = re.findall(r"https?://[^'\"\s]+", " ".join(test))
        assert len(urls) == 1, (name, test)
        where = urlsplit(urls[0])
        port = flag(service["command"], "--port")
        assert (where.hostname, where.path) == ("127.0.0.1", "/health"), (name, urls[0])
        assert str(where.port) == port, f"{name}: checks port {where.port}, serves on {port}"


def urls_in(service: dict[str, Any]) -> list[str]:
    """Every daemon URL a service is given: in its command's flags and MINIHADOOP_NAMENODE."""
    argv = service.get("command", [])
    found = []
    for name in ("--namenode", "--peers", "--service-peers"):
        for item in re.split(r"[;,]", flag(argv, name) or ""):
            found.append(item.split("=", 1)[-1] if name != "--namenode" else item)
    found += re.split(r"[;,]", service["environment"].get("MINIHADOOP_NAMENODE", ""))
    return [url.strip() for url in found if url.strip()]


def names_answered_to(service: dict[str, Any]) -> set[str]:
    """What a daemon in a container answers to besides IP addresses and localhost: its host
    name (the container's, a random id unless `hostname:` sets it), its --advertise name,
    and MINIHADOOP_ALLOWED_HOSTS (minihadoop.guard.HostNames)."""
    allowed = service["environment"].get("MINIHADOOP_ALLOWED_HOSTS", "")
    names = {service.get("hostname"), flag(service["command"], "--advertise")}
    return {n for n in names if n} | {n.strip() for n in allowed.split(",") if n.strip()}


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_daemons_answer_to_the_names_and_ports_they_are_reached_by(path: Path) -> None:
    services = compose_yaml(path)["services"]
    checked = 0
    for name, service in services.items():
        for url in urls_in(service):
            where = urlsplit(url)
            target = services.get(where.hostname or "")
            assert target is not None, f"{name}: {url} names no service of {path.name}"
            assert where.hostname in names_answered_to(target), (
                f"{name} reaches {url}, but {where.hostname} would refuse that name: "
                f"give it `hostname: {where.hostname}`"
            )
            ports = {flag(target["command"], o) for o in ("--port", "--service-port")}
            assert str(where.port) in ports, f"{name}: {url} is no port {where.hostname} serves"
            checked += 1
    assert checked >= len(services), f"{path.name}: hardly any URLs found ({checked})"


# --------------------------------------------------------------------------- compose: a group


NAMENODE_GROUP = ("nn1", "nn2", "nn3")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MINIHADOOP_* variable of the shell running the tests reaches `Settings`."""
    for key in list(os.environ):
        if key.startswith("MINIHADOOP_"):
            monkeypatch.delenv(key)


def group_settings(argv: list[str]) -> Settings:
    """The settings `minihadoop namenode <argv>` starts with (cli.daemons.namenode)."""
    given: dict[str, Any] = {
        "namenode_id": flag(argv, "--id"),
        "namenode_peers": flag(argv, "--peers"),
        "namenode_service_peers": flag(argv, "--service-peers"),
    }
    return Settings(token="t", **{k: v for k, v in given.items() if v is not None})


def test_ha_compose_runs_three_namenodes_and_three_datanodes_from_the_dockerfile() -> None:
    services = compose_yaml(COMPOSE_HA)["services"]
    workers = {f"worker{i}" for i in range(1, len(DATANODE_SERVICES) + 1)}
    assert set(daemon_services(COMPOSE_HA)) == {
        *NAMENODE_GROUP,
        *DATANODE_SERVICES,
        "jobtracker1",
        "jobtracker2",
        *workers,
    }
    for name, service in services.items():
        build = service["build"]
        assert (COMPOSE_HA.parent / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE, name
    for name in NAMENODE_GROUP:
        assert services[name]["command"][0] == "namenode"
    for name in DATANODE_SERVICES:
        assert services[name]["command"][0] == "datanode"
    # Its own project: `down -v` of one file never deletes the other's volumes.
    assert compose_yaml(COMPOSE_HA)["name"] != compose_yaml(COMPOSE)["name"]


def test_ha_namenodes_have_distinct_ids_each_in_the_group(clean_environment: None) -> None:
    services = daemon_services(COMPOSE_HA)
    ids = [flag(services[name]["command"], "--id") for name in NAMENODE_GROUP]
    assert ids == list(NAMENODE_GROUP), "each namenode's --id is its service name"
    for name in NAMENODE_GROUP:
        settings = group_settings(services[name]["command"])  # refuses an id not listed
        assert settings.namenode_id in settings.namenode_group()
        assert set(settings.namenode_service_group()) == set(settings.namenode_group())


def test_ha_namenodes_are_given_the_same_group(clean_environment: None) -> None:
    services = daemon_services(COMPOSE_HA)
    groups = {
        name: (s.namenode_group(), s.namenode_service_group())
        for name in NAMENODE_GROUP
        for s in [group_settings(services[name]["command"])]
    }
    first = groups[NAMENODE_GROUP[0]]
    assert len(first[0]) == len(NAMENODE_GROUP)
    for name, group in groups.items():
        assert group == first, f"{name} is given another group than {NAMENODE_GROUP[0]}"
    # Raft messages go to the service port, not the clients'.
    assert first[1] != first[0], "--service-peers is missing or repeats the client URLs"


def test_ha_group_urls_name_each_namenode_s_service_and_its_ports(
    clean_environment: None,
) -> None:
    services = daemon_services(COMPOSE_HA)
    by_id = {flag(services[n]["command"], "--id"): n for n in NAMENODE_GROUP}
    settings = group_settings(services[NAMENODE_GROUP[0]]["command"])
    for option, urls in (
        ("--port", settings.namenode_group()),
        ("--service-port", settings.namenode_service_group()),
    ):
        for node, url in urls.items():
            service = by_id[node]
            where = urlsplit(url)
            assert where.scheme == "http", url
            assert where.hostname == service, f"{node}'s URL {url} is not its service {service}"
            port = flag(services[service]["command"], option)
            assert str(where.port) == port, f"{url}: {service} has {option} {port}"


def test_ha_datanodes_report_to_every_namenode_s_service_url(clean_environment: None) -> None:
    services = daemon_services(COMPOSE_HA)
    settings = group_settings(services[NAMENODE_GROUP[0]]["command"])
    wanted = sorted(settings.namenode_service_group().values())
    for name in DATANODE_SERVICES:
        argv = services[name]["command"]
        given = [url for url in (flag(argv, "--namenode") or "").split(",") if url]
        assert sorted(given) == wanted, f"{name} reports to {given}, not every namenode"
        assert flag(argv, "--advertise") == name
        assert flag(argv, "--host") == "0.0.0.0"


def test_ha_clients_are_given_every_namenode_s_client_url(clean_environment: None) -> None:
    services = compose_yaml(COMPOSE_HA)["services"]
    settings = group_settings(services[NAMENODE_GROUP[0]]["command"])
    wanted = list(settings.namenode_group().values())
    for name, service in services.items():
        value = service["environment"]["MINIHADOOP_NAMENODE"]
        assert ";" in value, f"{name}: the group's URLs are separated by ';'"
        assert list(NamenodeGroup.parse(value).urls) == wanted, (name, value)


def test_dockerfile_installs_every_package_of_the_distribution() -> None:
    text = read(DOCKERFILE)
    pyproject = tomllib.loads(read(ROOT / "pyproject.toml"))
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    readme = pyproject["project"]["readme"]
    ignore = read(DEPLOY / "Dockerfile.dockerignore").split()
    for needed in [*packages, "pyproject.toml", readme]:
        assert re.search(rf"^COPY .*\b{re.escape(needed)}\b", text, flags=re.MULTILINE), needed
        assert f"!{needed}" in ignore, f"Dockerfile.dockerignore leaves out {needed}"
    assert re.search(r"^FROM python:3\.11", text, flags=re.MULTILINE)
    # Two stages: wheels built in the first, installed from a mount in the second, so
    # neither the source nor the wheels stay in the image.
    assert len(re.findall(r"^FROM ", text, flags=re.MULTILINE)) == 2
    assert re.search(r"^RUN pip wheel ", text, flags=re.MULTILINE)
    assert re.search(
        r"^RUN --mount=type=bind,from=wheels\S* pip install --no-index ", text, flags=re.MULTILINE
    )
    assert re.search(r"^USER (?!root)\w+", text, flags=re.MULTILINE)
    assert entrypoint() == ["minihadoop"]


# --------------------------------------------------------------------------- systemd


@pytest.mark.parametrize("daemon", sorted(UNITS))
def test_systemd_unit_runs_the_daemon_as_a_dedicated_user_and_restarts_it(daemon: str) -> None:
    unit = UNITS[daemon]
    assert set(unit_sections(unit)) == {"Unit", "Service", "Install"}
    assert unit_value(unit, "Service", "EnvironmentFile") == ["/etc/minihadoop/minihadoop.env"]
    assert unit_value(unit, "Service", "User") == ["minihadoop"]
    assert unit_value(unit, "Service", "Restart") == ["on-failure"]
    assert unit_value(unit, "Service", "NoNewPrivileges") == ["yes"]
    assert unit_value(unit, "Service", "ProtectSystem") == ["strict"]
    (exec_start,) = unit_value(unit, "Service", "ExecStart")
    binary, *argv = shlex.split(exec_start)
    assert Path(binary).name == "minihadoop"
    assert argv[0] == daemon


def test_systemd_units_only_use_variables_the_environment_file_sets() -> None:
    defined = set(env_file(ENV_EXAMPLE))
    for unit in UNITS.values():
        for key, value in unit_sections(unit)["Service"]:
            if key.startswith("Exec"):
                used = set(re.findall(r"(?<!\$)\$\{(\w+)\}", value))
                assert used <= defined, f"{unit.name}: {sorted(used - defined)} never set"


def start_check(unit: Path) -> str:
    """The unit's ExecStartPre= shell check, as systemd hands it to /bin/sh ($$ is $)."""
    (pre,) = unit_value(unit, "Service", "ExecStartPre")
    shell, flag_c, script = shlex.split(pre)
    assert (shell, flag_c) == ("/bin/sh", "-c"), pre
    return script.replace("$$", "$")


@pytest.mark.parametrize(
    ("daemon", "env", "starts"),
    [
        ("namenode", {}, True),  # alone: a group of one, id nn1
        ("namenode", {"MINIHADOOP_NAMENODE_PEERS": "nn1=http://a:9870"}, False),
        ("namenode", {"MINIHADOOP_NAMENODE_PEERS": "…", "MINIHADOOP_NAMENODE_ID": "nn2"}, True),
        ("datanode", {}, False),
        ("datanode", {"DATANODE_ADVERTISE": "dn1.example.com"}, True),
        ("jobtracker", {}, False),
        ("jobtracker", {"JOBTRACKER_ADVERTISE": "jt1.example.com"}, True),
        ("worker", {}, False),
        ("worker", {"DATANODE_ADVERTISE": "dn1.example.com"}, True),
    ],
)
def test_systemd_unit_refuses_to_start_what_would_run_wrong(
    daemon: str, env: dict[str, str], starts: bool
) -> None:
    done = subprocess.run(
        ["/bin/sh", "-c", start_check(UNITS[daemon])],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert (done.returncode == 0) == starts, (env, done.stderr)
    if not starts:
        assert "/etc/minihadoop/minihadoop.env" in done.stderr  # says what to fix, where


def test_namenode_unit_takes_the_group_from_the_environment_file(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One unit fits every member: no --id or --peers in it, and a namenode given none
    reads them from the variables the environment file sets."""
    from cli.daemons import _settings

    (exec_start,) = unit_value(UNITS["namenode"], "Service", "ExecStart")
    argv = shlex.split(exec_start)
    assert not {"--id", "--peers", "--service-peers"} & set(argv)
    group = env_lines(env_file_uncommented(ENV_EXAMPLE))
    for key in ("MINIHADOOP_TOKEN", *(k for k in group if k.startswith("MINIHADOOP_NAMENODE_"))):
        monkeypatch.setenv(key, group[key])
    monkeypatch.setenv("MINIHADOOP_NAMENODE_ID", "nn3")
    settings = _settings(namenode_id=None, namenode_peers=None, namenode_service_peers=None)
    assert settings.namenode_id == "nn3"
    assert sorted(settings.namenode_group()) == list(NAMENODE_GROUP)


# --------------------------------------------------------------------------- command lines


def deploy_commands() -> list[tuple[str, list[str]]]:
    found = []
    for unit in UNITS.values():
        for key, value in unit_sections(unit)["Service"]:
            if key == "ExecStart":
                found.append((f"{unit.name}:ExecStart", shlex.split(value)[1:]))
    for path in COMPOSE_FILES:
        for service, argv in compose_commands_from_lines(read(path)).items():
            if argv and argv[0].startswith("minihadoop "):  # a shell script's (`sh -c`)
                for i, line in enumerate(argv[0].split("&&")):
                    found.append((f"{path.name}:{service}:{i}", shlex.split(line)[1:]))
            else:
                found.append((f"{path.name}:{service}", argv))
    return found


def params(commands: list[tuple[str, list[str]]]) -> list[Any]:
    return [pytest.param(where, argv, id=where) for where, argv in commands]


def test_deploy_files_have_command_lines_to_check() -> None:
    names = [where for where, _ in deploy_commands()]
    first_folders = 4  # mkdir, chmod, chmod, chown
    single = 1 + 2 * len(DATANODE_SERVICES) + 1 + first_folders  # with MapReduce
    group = len(NAMENODE_GROUP) + 2 * len(DATANODE_SERVICES) + 2 + first_folders
    assert len(names) == len(UNITS) + single + group, names


@pytest.mark.parametrize(("where", "argv"), params(deploy_commands()))
def test_deploy_command_uses_real_subcommands_and_flags(where: str, argv: list[str]) -> None:
    check_command(argv, where)


def test_docs_have_command_lines_to_check() -> None:
    found = {argv[0] for _, argv in doc_commands() if argv}
    assert {"cluster", "namenode", "datanode", "fs"} <= found


@pytest.mark.parametrize(("where", "argv"), params(doc_commands()))
def test_doc_command_uses_real_subcommands_and_flags(where: str, argv: list[str]) -> None:
    check_command(argv, where)


def test_check_command_catches_a_made_up_flag_and_command() -> None:
    with pytest.raises(AssertionError, match="no option"):
        check_command(["datanode", "--dir", "d", "--namenode", "n", "--advertize", "x"], "t")
    with pytest.raises(AssertionError, match="needs"):
        check_command(["datanode", "--dir", "d"], "t")
    with pytest.raises(AssertionError, match="not a"):
        check_command(["fs", "copy", "a", "b"], "t")


# --------------------------------------------------------------------------- variables


def files_naming_variables() -> list[Path]:
    docs = [OPERATIONS, ROOT / "docs" / "architecture.md"]
    return [*docs, *sorted(p for p in DEPLOY.rglob("*") if p.is_file())]


@pytest.mark.parametrize("path", files_naming_variables(), ids=lambda p: p.name)
def test_every_variable_named_is_one_the_code_reads(path: Path) -> None:
    named = set(VARIABLE.findall(read(path)))
    unknown = sorted(named - SETTINGS_VARS - CLIENT_VARS - EXPORTED_VARS)
    assert not unknown, f"{path.relative_to(ROOT)} names {unknown}, which nothing reads"


def test_exported_variables_are_set_by_the_code() -> None:
    sources = "".join(read(p) for p in (ROOT / "cli").glob("*.py"))
    for var in EXPORTED_VARS:
        assert f'"{var}"' in sources, var


def test_client_variables_are_read_by_the_code() -> None:
    sources = "".join(read(p) for p in (ROOT / "minihadoop").glob("*.py"))
    sources += "".join(read(p) for p in (ROOT / "cli").glob("*.py"))
    for var in CLIENT_VARS:
        assert f'"{var}"' in sources, var


def _settings_rows() -> dict[str, list[str]]:
    rows = {}
    for line in read(OPERATIONS).splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            match = re.fullmatch(r"`(MINIHADOOP_\w+)`", cells[0])
            # The settings table has four columns; the client table names the token too.
            if match and match.group(1) in SETTINGS_VARS and len(cells) == 4:
                rows.setdefault(match.group(1), cells)
    return rows


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    if default == "":
        return "(empty)"
    return str(default)


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_settings_table_lists_the_field_with_its_default(field: str) -> None:
    row = _settings_rows().get(f"MINIHADOOP_{field.upper()}")
    assert row is not None, f"docs/operations.md has no settings row for MINIHADOOP_{field.upper()}"
    info = Settings.model_fields[field]
    assert row[1].split()[0] == _shown(info.default), (field, row[1])
    for choice in typing.get_args(info.annotation):  # a Literal: every choice is named
        assert f"`{choice}`" in row[3], (field, choice)


def test_env_example_group_lines_make_one_group_of_three(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = env_lines(env_file_uncommented(ENV_EXAMPLE))
    monkeypatch.setenv("MINIHADOOP_TOKEN", values["MINIHADOOP_TOKEN"])
    for key in ("MINIHADOOP_NAMENODE_PEERS", "MINIHADOOP_NAMENODE_SERVICE_PEERS"):
        monkeypatch.setenv(key, values[key])
    groups = []
    for node in NAMENODE_GROUP:  # each namenode's machine, with its own id
        monkeypatch.setenv("MINIHADOOP_NAMENODE_ID", node)
        settings = Settings()  # refuses an id not in the group, or lists that disagree
        groups.append((settings.namenode_group(), settings.namenode_service_group()))
    clients, services = groups[0]
    assert list(clients) == list(NAMENODE_GROUP)
    for node in NAMENODE_GROUP:
        client_url, service_url = urlsplit(clients[node]), urlsplit(services[node])
        assert client_url.hostname == service_url.hostname, node
        assert (client_url.port, service_url.port) == (9870, 8022), node
    client_urls = list(NamenodeGroup.parse(values["MINIHADOOP_NAMENODE"]).urls)
    assert client_urls == list(clients.values()), "clients are not given every namenode"
    assert ";" in values["MINIHADOOP_NAMENODE"]
    reported = values["NAMENODE_SERVICE"].split(",")
    assert reported == list(services.values()), "datanodes do not report to every namenode"


def readme_section(title: str) -> list[tuple[int, str]]:
    """The shell lines of deploy/README.md's section `## title`."""
    text = read(DEPLOY / "README.md").splitlines()
    start = text.index(f"## {title}") + 1
    end = next((i for i in range(start, len(text)) if text[i].startswith("## ")), len(text))
    return [(n, line) for n, line in shell_lines(DEPLOY / "README.md") if start < n <= end]


def test_readme_three_namenodes_gives_the_env_example_s_group() -> None:
    lines = readme_section("Three namenodes")
    group = env_lines(env_file_uncommented(ENV_EXAMPLE))
    shown = env_lines("\n".join(line for _, line in lines if re.match(r"^[A-Z_]+=", line)))
    assert shown, "the section shows no environment lines"
    for key, value in shown.items():
        assert group.get(key) == value, f"README's {key} is not the env example's"
    argvs = [a for _, line in lines for s in segments(line) if (a := minihadoop_argv(s))]
    namenode = next(a for a in argvs if a[0] == "namenode")
    datanode = next(a for a in argvs if a[0] == "datanode")
    assert flag(namenode, "--peers") == group["MINIHADOOP_NAMENODE_PEERS"]
    assert flag(namenode, "--service-peers") == group["MINIHADOOP_NAMENODE_SERVICE_PEERS"]
    assert flag(datanode, "--namenode") == group["NAMENODE_SERVICE"]
    text = read(DEPLOY / "README.md")
    for needed in ("9870", "8022", "admin ha", "empty", "snapshot"):
        assert needed in text.split("## Three namenodes", 1)[1].split("\n## ", 1)[0], needed


@pytest.mark.parametrize("group", [False, True], ids=["as-is", "group-uncommented"])
def test_env_example_reads_the_same_in_a_shell_as_in_systemd(group: bool, tmp_path: Path) -> None:
    """The README sources the file in a shell (`set -a; . minihadoop.env`): a value with a
    ';' or a space must be quoted there, or the shell runs the rest as a command."""
    text = env_file_uncommented(ENV_EXAMPLE) if group else read(ENV_EXAMPLE)
    env = tmp_path / "minihadoop.env"
    env.write_text(text)
    expected = env_lines(text)
    script = (
        'set -a; . "$1" || exit 1; shift; for k; do printf "%s=%s\\n" "$k" "$(printenv "$k")"; done'
    )
    done = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(env), *expected],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 0 and not done.stderr, done.stderr
    assert env_lines(done.stdout, "sh") == expected


def test_env_example_sets_the_token_and_the_defaults_settings_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = env_file(ENV_EXAMPLE)
    assert values.get("MINIHADOOP_TOKEN"), "the example must show where the token goes"
    for key in list(os.environ):
        if key.startswith("MINIHADOOP_"):
            monkeypatch.delenv(key)
    shown = {key: value for key, value in values.items() if key in SETTINGS_VARS}
    for key, value in shown.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # raises when a value does not parse (e.g. "64M" for a size)
    assert settings.token == values["MINIHADOOP_TOKEN"]
    for key in shown.keys() - {"MINIHADOOP_TOKEN"}:
        field = key.removeprefix("MINIHADOOP_").lower()
        default = Settings.model_fields[field].default
        assert getattr(settings, field) == default, f"{key} in the example is not the default"
