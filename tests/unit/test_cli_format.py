"""The CLI's pure pieces: modes as chmod reads them, Hadoop's spellings, plain columns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.format import apply_mode, columns, symbolic
from cli.main import hadoop_spelling
from minihadoop.errors import IllegalArgumentError


@pytest.mark.parametrize(
    ("spec", "current", "is_dir", "expected"),
    [
        ("644", "755", False, "644"),
        ("0750", "755", True, "750"),
        ("0", "755", False, "000"),
        ("1777", "755", True, "1777"),
        ("u+x", "644", False, "744"),
        ("go-w", "666", False, "644"),
        ("a=r", "755", False, "444"),
        ("=rw", "700", False, "666"),
        ("u=rwx,g=rx,o=", "000", True, "750"),
        ("+t", "777", True, "1777"),
        ("-t", "1777", True, "777"),
        ("a+X", "644", True, "755"),  # X: folders get execute…
        ("a+X", "644", False, "644"),  # …files only if someone could execute already
        ("a+X", "744", False, "755"),
        ("o-rwx", "1777", True, "1770"),
    ],
)
def test_modes_apply_as_chmod_reads_them(
    spec: str, current: str, is_dir: bool, expected: str
) -> None:
    assert apply_mode(spec, current, is_dir) == expected


@pytest.mark.parametrize("bad", ["u+q", "z+r", "8", "u+x,,", "12345", "rwx", "7777", "2755"])
def test_a_mode_that_is_not_one_is_refused(bad: str) -> None:
    with pytest.raises(IllegalArgumentError):
        apply_mode(bad, "644", False)


@given(st.integers(0, 0o1777))
def test_octal_round_trips_through_symbolic(mode: int) -> None:
    octal = f"{mode:o}".rjust(3, "0")
    text = symbolic(octal, is_dir=False)[1:]
    back = 0
    for i, ch in enumerate(text):
        if ch not in "-T":
            back |= 1 << (8 - i)
    if text[-1] in "tT":
        back |= 0o1000
        back = back if text[-1] == "t" else back & ~1
    assert back == mode
    assert apply_mode(octal, "000", False) == octal


def test_hadoop_spellings_name_our_commands() -> None:
    assert hadoop_spelling(["fs", "-ls", "-R", "/"]) == ["fs", "ls", "-R", "/"]
    assert hadoop_spelling(["fs", "-copyFromLocal", "a", "/b"]) == [
        "fs",
        "copyFromLocal",
        "a",
        "/b",
    ]
    assert hadoop_spelling(["fs", "-help"]) == ["fs", "--help"]
    assert hadoop_spelling(["fs", "--dir", "x", "ls"]) == ["fs", "--dir", "x", "ls"]
    assert hadoop_spelling(["fs", "-nosuch"]) == ["fs", "-nosuch"]  # left for the parser to refuse
    assert hadoop_spelling(["job", "-list"]) == ["job", "-list"]


def test_columns_are_never_cut() -> None:
    long = "/a/" + "x" * 300
    lines = columns(["path", "size"], [[long, "1"], ["/b", "22"]], right=frozenset({1}))
    assert lines == [
        "path" + " " * (len(long) - 4) + "  size",
        long + "     1",
        "/b" + " " * (len(long) - 2) + "    22",
    ]


def test_identical_failures_are_one_group_in_first_seen_order() -> None:
    from cli.job import failed_attempts

    def attempt(i: int, state: str, error: str | None) -> dict[str, object]:
        return {"id": f"a{i}", "state": state, "error": error, "worker": f"w{i % 2}"}

    attempts = [
        attempt(0, "FAILED", "boom"),
        attempt(1, "SUCCEEDED", None),
        attempt(2, "FAILED", "other"),
        attempt(3, "FAILED", "boom"),
        attempt(4, "KILLED", "boom"),
        attempt(5, "KILLED", None),
    ]
    groups = failed_attempts(attempts)  # type: ignore[arg-type]
    assert [(s, e, [a["id"] for a in g]) for s, e, g in groups] == [
        ("FAILED", "boom", ["a0", "a3"]),
        ("FAILED", "other", ["a2"]),
        ("KILLED", "boom", ["a4"]),
        ("KILLED", "", ["a5"]),
    ]
