"""Input and output formats (mapreduce.formats), and whole-file splits."""

from __future__ import annotations

import json

import pytest

from mapreduce.formats import (
    JsonLinesOutput,
    TextOutput,
    adapt,
    check_formats,
    output_for,
    whole,
)
from mapreduce.splits import plan_splits
from minihadoop.errors import IllegalArgumentError
from minihadoop.models import Block, DatanodeRef, FileStatus, FileType, LocatedBlock, LocatedBlocks


def test_keyvalue_splits_each_line_at_its_first_tab() -> None:
    seen: list[tuple[str, str]] = []
    mapper = adapt(lambda k, v: seen.append((k, v)), "keyvalue", "/f")
    for line in ("a\tb\tc", "no tab", "\tlead", ""):
        mapper(17, line)
    assert seen == [("a", "b\tc"), ("no tab", ""), ("", "lead"), ("", "")]


def test_wholefile_gives_the_path_and_every_byte_once() -> None:
    seen: list[tuple[str, bytes]] = []
    mapper = adapt(lambda p, d: seen.append((p, d)), "wholefile", "/in/a.bin")
    for offset, data in whole(iter([b"ab", b"", b"c\n"])):
        mapper(offset, data)
    assert seen == [("/in/a.bin", b"abc\n")]
    text = adapt(print, "text", "/f")
    assert text is print


def collect(out: TextOutput, pairs: list[tuple[object, object]]) -> bytes:
    written: list[bytes] = []
    out.write_all(pairs, written.append)
    return b"".join(written)


def test_text_and_json_lines_output() -> None:
    pairs = [("a", 1), ("b", None), (None, 2), (None, None), ("é", (1, 2))]
    assert collect(TextOutput(), pairs) == "a\t1\nb\n2\né\t(1, 2)\n".encode()
    out = JsonLinesOutput()
    lines = collect(out, pairs).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"key": "a", "value": 1}, {"key": "b", "value": None}, {"key": None, "value": 2},
        {"key": None, "value": None}, {"key": "é", "value": [1, 2]},
    ]  # fmt: skip
    assert out.records == 5
    assert json.loads(collect(JsonLinesOutput(), [("k", {1, 2})]))["value"] == "{1, 2}"
    assert isinstance(output_for("jsonl"), JsonLinesOutput)
    assert type(output_for("text")) is TextOutput


def test_unknown_formats_are_refused_by_name() -> None:
    with pytest.raises(IllegalArgumentError, match="no input format 'csv'"):
        check_formats("csv", "text")
    with pytest.raises(IllegalArgumentError, match="no output format 'xml'"):
        check_formats("text", "xml")


def located(path: str, lengths: list[int]) -> LocatedBlocks:
    status = FileStatus(path=path, type=FileType.FILE, length=sum(lengths), replication=1,
                        block_size=100, modification_time=0, owner="a", group="g",
                        permission="644")  # fmt: skip
    blocks, offset = [], 0
    for i, n in enumerate(lengths):
        ref = DatanodeRef(id=f"dn{i}", url=f"http://dn{i}")
        blocks.append(LocatedBlock(block=Block(block_id=i + 1, length=n), offset=offset,
                                   locations=[ref]))  # fmt: skip
        offset += n
    return LocatedBlocks(status=status, blocks=blocks)


def test_whole_file_splits_are_one_a_file_where_its_first_block_is() -> None:
    files = [located("/a", [100, 100, 5]), located("/empty", []), located("/b", [7])]
    assert len(plan_splits(files)) == 4
    splits = plan_splits(files, whole=True)
    assert [(s.path, s.start, s.length, s.hosts) for s in splits] == [
        ("/a", 0, 205, ["dn0"]), ("/b", 0, 7, ["dn0"]),
    ]  # fmt: skip
