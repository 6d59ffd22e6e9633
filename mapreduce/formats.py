"""Input and output formats: what a mapper is called with, and how output lines look. Pure.

Input formats (Hadoop's names in brackets):

* ``text`` (TextInputFormat) — ``mapper(offset, line)`` for each line; the default.
* ``keyvalue`` (KeyValueTextInputFormat) — ``mapper(key, value)``: each line split at its
  first tab (no tab: the whole line is the key, the value ``""``).
* ``wholefile`` (a WholeFileInputFormat, as Hadoop users write one) — ``mapper(path,
  data)`` once per file, with its bytes: a file is one split, never cut at blocks.

Output formats:

* ``text`` (TextOutputFormat) — ``key<TAB>value`` lines (see `TextOutput`); the default.
* ``jsonl`` — one JSON object a line, ``{"key": …, "value": …}``; keys and values that JSON
  cannot hold are written as their `str()`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from minihadoop.errors import IllegalArgumentError

INPUT_FORMATS = ("text", "keyvalue", "wholefile")
OUTPUT_FORMATS = ("text", "jsonl")
OUTPUT_PIECE = 1 << 20  # bytes of output lines gathered before a write


def check_formats(input_format: str, output_format: str) -> None:
    if input_format not in INPUT_FORMATS:
        raise IllegalArgumentError(
            f"no input format {input_format!r}: there are {', '.join(INPUT_FORMATS)}"
        )
    if output_format not in OUTPUT_FORMATS:
        raise IllegalArgumentError(
            f"no output format {output_format!r}: there are {', '.join(OUTPUT_FORMATS)}"
        )


class KeyValueMapper:
    """The mapper of a ``keyvalue`` job, as called with ``(offset, line)``."""

    def __init__(self, mapper: Callable[[str, str], Any]) -> None:
        self.mapper = mapper

    def __call__(self, _offset: int, line: str) -> Any:
        key, _, value = line.partition("\t")
        return self.mapper(key, value)


class WholeFileMapper:
    """The mapper of a ``wholefile`` job, as called with ``(0, data)`` for file `path`."""

    def __init__(self, mapper: Callable[[str, bytes], Any], path: str) -> None:
        self.mapper = mapper
        self.path = path

    def __call__(self, _offset: int, data: bytes) -> Any:
        return self.mapper(self.path, data)


def adapt(mapper: Any, input_format: str, path: str) -> Any:
    """`mapper` as the task runtime calls it, ``(offset, record)``, for `input_format`."""
    if input_format == "keyvalue":
        return KeyValueMapper(mapper)
    if input_format == "wholefile":
        return WholeFileMapper(mapper, path)
    return mapper


def whole(pieces: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """A ``wholefile`` split's one record."""
    yield 0, b"".join(pieces)


class TextOutput:
    """Hadoop's TextOutputFormat: ``key<TAB>value`` lines; a None value writes the key
    alone, a None key the value alone, and both None nothing. Text is UTF-8 (lone
    surrogates from undecodable input are written back as the bytes they stand for).
    The loop formats inline: a reduce writes every record through it."""

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0

    def write_all(self, pairs: Iterable[tuple[Any, Any]], write: Callable[[bytes], object]) -> None:
        lines: list[str] = []
        size = records = 0
        try:
            for key, value in pairs:
                records += 1
                if value is None:
                    if key is None:
                        continue
                    line = f"{key}\n"
                elif key is None:
                    line = f"{value}\n"
                else:
                    line = f"{key}\t{value}\n"
                lines.append(line)
                size += len(line)
                if size >= OUTPUT_PIECE:
                    self._write(lines, write)
                    lines, size = [], 0
        finally:
            self.records += records
        if lines:
            self._write(lines, write)

    def _write(self, lines: list[str], write: Callable[[bytes], object]) -> None:
        data = "".join(lines).encode("utf-8", "surrogateescape")
        write(data)
        self.bytes += len(data)


class JsonLinesOutput(TextOutput):
    """Each record as the text line of its JSON object (a value alone, to TextOutput)."""

    def write_all(self, pairs: Iterable[tuple[Any, Any]], write: Callable[[bytes], object]) -> None:
        super().write_all(
            (
                (None, json.dumps({"key": k, "value": v}, ensure_ascii=False, default=str))
                for k, v in pairs
            ),
            write,
        )


def output_for(output_format: str) -> TextOutput:
    return JsonLinesOutput() if output_format == "jsonl" else TextOutput()
