"""The lock service's commands: what a log entry's `Request.command` holds, as frozen
dataclasses, and their record form (a dict with an "op" key).

    {"op": "open", "ttl_ms": int, "owner": str}
    {"op": "keepalive", "session": str}
    {"op": "close", "session": str}
    {"op": "expire", "session": str, "renewed": int}          the leader's only
    {"op": "acquire", "session": str, "lock": str, "mode": "exclusive"|"shared", "wait": bool}
    {"op": "release", "session": str, "lock": str}
    {"op": "put", "key": str, "value": str, "session": str | None}
    {"op": "delete", "key": str}

`parse` is strict — exactly these fields, of exactly these types (a bool is not an int),
names and values within the bounds below — and raises InvalidCommandError otherwise, so a
malformed entry is refused the same way on every replica. `to_record` is its inverse.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from coord.errors import InvalidCommandError

MIN_TTL_MS = 1_000
MAX_TTL_MS = 600_000
MAX_OWNER = 128  # characters
MAX_NAME = 256  # characters, for lock names and keys
MAX_VALUE = 16_384  # bytes of UTF-8


class Mode(enum.Enum):
    EXCLUSIVE = "exclusive"
    SHARED = "shared"


@dataclass(frozen=True, slots=True)
class Open:
    ttl_ms: int
    owner: str


@dataclass(frozen=True, slots=True)
class KeepAlive:
    session: str


@dataclass(frozen=True, slots=True)
class Close:
    session: str


@dataclass(frozen=True, slots=True)
class Expire:
    """End `session` unless it was renewed since `renewed` (the index of the renewal the
    leader's deadline counted from): a keepalive committed in between wins."""

    session: str
    renewed: int


@dataclass(frozen=True, slots=True)
class Acquire:
    session: str
    lock: str
    mode: Mode
    wait: bool


@dataclass(frozen=True, slots=True)
class Release:
    session: str
    lock: str


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: str
    session: str | None


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


Command = Open | KeepAlive | Close | Expire | Acquire | Release | Put | Delete

_OPS: dict[str, type[Command]] = {
    "open": Open,
    "keepalive": KeepAlive,
    "close": Close,
    "expire": Expire,
    "acquire": Acquire,
    "release": Release,
    "put": Put,
    "delete": Delete,
}
_NAMES = {cls: op for op, cls in _OPS.items()}


def to_record(command: Command) -> dict[str, Any]:
    record = {"op": _NAMES[type(command)], **asdict(command)}
    if isinstance(command, Acquire):
        record["mode"] = command.mode.value
    return record


def parse(record: Any) -> Command:
    if not isinstance(record, dict) or record.get("op") not in _OPS:
        raise InvalidCommandError(f"not a lock service command: {str(record)[:100]}")
    op = record["op"]
    fields = set(_OPS[op].__dataclass_fields__)
    if set(record) != fields | {"op"}:
        raise InvalidCommandError(f"{op} takes exactly {sorted(fields)}")
    return _PARSERS[op](record)


def _open(r: dict[str, Any]) -> Open:
    ttl = r["ttl_ms"]
    if not _is_int(ttl) or not MIN_TTL_MS <= ttl <= MAX_TTL_MS:
        raise InvalidCommandError(f"ttl_ms must be {MIN_TTL_MS}..{MAX_TTL_MS}")
    return Open(ttl, _text("owner", r["owner"], MAX_OWNER, empty=True))


def _expire(r: dict[str, Any]) -> Expire:
    if not _is_int(r["renewed"]) or r["renewed"] < 0:
        raise InvalidCommandError("renewed must be an entry index")
    return Expire(_name("session", r["session"]), r["renewed"])


def _acquire(r: dict[str, Any]) -> Acquire:
    if r["mode"] not in ("exclusive", "shared") or not isinstance(r["wait"], bool):
        raise InvalidCommandError('mode must be "exclusive" or "shared", wait a bool')
    return Acquire(
        _name("session", r["session"]), _name("lock", r["lock"]), Mode(r["mode"]), r["wait"]
    )


def _put(r: dict[str, Any]) -> Put:
    value, session = r["value"], r["session"]
    if not isinstance(value, str) or len(value.encode(errors="replace")) > MAX_VALUE:
        raise InvalidCommandError(f"value must be a string of at most {MAX_VALUE} bytes")
    return Put(
        _name("key", r["key"]), value, None if session is None else _name("session", session)
    )


_PARSERS: dict[str, Callable[[dict[str, Any]], Command]] = {
    "open": _open,
    "keepalive": lambda r: KeepAlive(_name("session", r["session"])),
    "close": lambda r: Close(_name("session", r["session"])),
    "expire": _expire,
    "acquire": _acquire,
    "release": lambda r: Release(_name("session", r["session"]), _name("lock", r["lock"])),
    "put": _put,
    "delete": lambda r: Delete(_name("key", r["key"])),
}


def _is_int(value: Any) -> bool:
    return type(value) is int


def _name(field: str, value: Any) -> str:
    return _text(field, value, MAX_NAME, empty=False)


def _text(field: str, value: Any, limit: int, *, empty: bool) -> str:
    if not isinstance(value, str) or len(value) > limit or not (empty or value):
        least = 0 if empty else 1
        raise InvalidCommandError(f"{field} must be a string of {least}..{limit} characters")
    if not value.isprintable():
        raise InvalidCommandError(f"{field} must be printable: {value[:40]!r}")
    return value
