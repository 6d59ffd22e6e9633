"""Shipping a job's functions to workers: the only module that imports cloudpickle.

Functions travel by value, and so does the user's own code: the module that defines them and
any module beside it that is not installed (not under site-packages or the standard
library) is pickled by value too, so a job script that imports a helper from its folder
runs on workers where nothing was installed. What cannot be pickled fails at submit time
with the reason.
"""

from __future__ import annotations

import inspect
import socket
import sys
import sysconfig
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cloudpickle

from minihadoop.errors import AuthenticationError, IllegalArgumentError
from minihadoop.signing import SignatureError, seal, unseal

Mapper = Callable[[Any, Any], Iterable[tuple[Any, Any]]]
Reducer = Callable[[Any, Iterable[Any]], Iterable[tuple[Any, Any]]]
Partitioner = Callable[[Any, int], int]


@dataclass(frozen=True)
class JobFunctions:
    mapper: Mapper
    reducer: Reducer | None = None
    combiner: Reducer | None = None
    partitioner: Partitioner | None = None
    input_format: str = "text"  # mapreduce.formats
    output_format: str = "text"


_INSTALLED = tuple(
    str(Path(p).resolve())
    for p in {
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    }
)
_OURS = ("minihadoop", "namenode", "datanode", "mapreduce", "cli")


def _user_modules(functions: JobFunctions) -> list[ModuleType]:
    """The modules of the user's code that workers cannot import themselves: the modules
    defining the functions, and every not-installed module they (transitively) refer to."""
    todo: list[ModuleType] = []
    for fn in (functions.mapper, functions.reducer, functions.combiner, functions.partitioner):
        module = inspect.getmodule(fn) if fn is not None else None
        if module is not None:
            todo.append(module)
    seen: dict[str, ModuleType] = {}
    while todo:
        module = todo.pop()
        if module.__name__ in seen or not (module.__name__ == "__main__" or _is_users(module)):
            continue
        seen[module.__name__] = module
        for value in list(vars(module).values()):
            dep = value if isinstance(value, ModuleType) else inspect.getmodule(value)
            if dep is not None and dep.__name__ not in seen:
                todo.append(dep)
    # __main__ is always pickled by value by cloudpickle; the rest must be registered.
    return [m for name, m in seen.items() if name != "__main__"]


def _is_users(module: ModuleType) -> bool:
    name = module.__name__.split(".")[0]
    path = getattr(module, "__file__", None)
    if path is None or name in _OURS or name in sys.builtin_module_names:
        return False
    resolved = str(Path(path).resolve())
    return not resolved.startswith(_INSTALLED)


def dumps(functions: JobFunctions) -> bytes:
    if not callable(functions.mapper):
        raise IllegalArgumentError("a job needs a mapper function")
    registered = []
    for module in _user_modules(functions):
        try:
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
        except ValueError:
            pass  # already registered, or a module cloudpickle must import by name
    try:
        data: bytes = cloudpickle.dumps(functions)
        return data
    except Exception as exc:  # pickling runs arbitrary __reduce__ code: any error is possible
        raise IllegalArgumentError(
            f"the job's functions cannot be shipped to workers: {exc}"
        ) from exc
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


class UnloadableJobError(IllegalArgumentError):
    """The job's code cannot be loaded where it is to run: said as it is, no traceback."""


PAYLOAD = b"job-payload"  # what a payload's seal is made for (`minihadoop.signing.seal`)


def seal_payload(data: bytes, key: bytes) -> bytes:
    """A pickled payload behind a MAC made with the cluster's seal key: the only form in
    which workers will unpickle it."""
    return seal(key, data, PAYLOAD)


def unseal_payload(sealed: bytes, key: bytes) -> bytes:
    try:
        return unseal(key, sealed, PAYLOAD)
    except SignatureError:
        raise AuthenticationError("the job payload is not sealed with this cluster's key") from None


def loads(sealed: bytes, key: bytes) -> JobFunctions:
    """Unpickle a sealed payload, having checked its seal first: nothing unsealed, nothing
    sealed with another key, is ever unpickled."""
    data = unseal_payload(sealed, key)
    try:
        functions = cloudpickle.loads(data)
    except ImportError as exc:  # ModuleNotFoundError too
        module = exc.name or str(exc)
        raise UnloadableJobError(
            f"the job's code needs the module {module!r}, which this worker "
            f"({socket.gethostname()}) cannot import: install it on every worker, or put it "
            "beside the job script, whose folder's modules travel with the job"
        ) from exc
    except AttributeError as exc:  # a name the worker's copy of a module does not have
        raise UnloadableJobError(
            f"the job's code cannot be loaded on this worker ({socket.gethostname()}): {exc}. "
            "Its installed packages differ from the client's: install the same versions"
        ) from exc
    if not isinstance(functions, JobFunctions):
        raise IllegalArgumentError("job payload is not a minihadoop job")
    return functions
