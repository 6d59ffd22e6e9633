"""Hadoop-style globs (minihadoop.globbing) against an in-memory tree."""

from __future__ import annotations

import fnmatch
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minihadoop.errors import IllegalArgumentError
from minihadoop.globbing import expand, expand_braces, has_magic

TREE = {
    "/data/a.txt",
    "/data/b.txt",
    "/data/c.csv",
    "/data/.hidden",
    "/data/sub/x.txt",
    "/logs/2026-01-01/part-0",
    "/logs/2026-01-02/part-0",
    "/logs/2026-02-01/part-0",
    "/logs/2025-12-31/part-0",
    "/odd/a*b",
    "/odd/a?b",
    "/odd/axb",
}


def folders(tree: set[str]) -> set[str]:
    out = {"/"}
    for path in tree:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            out.add("/" + "/".join(parts[:i]))
    return out


def glob(pattern: str, tree: set[str] = TREE) -> list[str]:
    dirs = folders(tree)

    def list_names(folder: str) -> list[str]:
        if folder not in dirs:
            return []
        prefix = folder.rstrip("/") + "/"
        return sorted(
            {
                p[len(prefix) :].split("/")[0]
                for p in tree | dirs
                if p.startswith(prefix) and p != folder
            }
        )

    return expand(pattern, list_names, lambda p: p in tree or p in dirs)


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("/data/*.txt", ["/data/a.txt", "/data/b.txt"]),
        ("/data/?.csv", ["/data/c.csv"]),
        ("/data/[ab].txt", ["/data/a.txt", "/data/b.txt"]),
        ("/data/[^a].txt", ["/data/b.txt"]),
        ("/data/[!a-b]*", ["/data/.hidden", "/data/c.csv", "/data/sub"]),
        ("/data/*", ["/data/.hidden", "/data/a.txt", "/data/b.txt", "/data/c.csv", "/data/sub"]),
        ("/data/{a,c}.*", ["/data/a.txt", "/data/c.csv"]),
        ("/{data/sub,logs/2025-*}/*", ["/data/sub/x.txt", "/logs/2025-12-31/part-0"]),
        (
            "/logs/2026-*/part-0",
            [
                "/logs/2026-01-01/part-0",
                "/logs/2026-01-02/part-0",
                "/logs/2026-02-01/part-0",
            ],
        ),
        (
            "/logs/2026-0{1-0[12],2-01}",
            [
                "/logs/2026-01-01",
                "/logs/2026-01-02",
                "/logs/2026-02-01",
            ],
        ),
        ("/*/sub", ["/data/sub"]),
        ("/data", ["/data"]),
        ("/data/a.txt", ["/data/a.txt"]),
        ("/data/nothing", []),
        ("/nothing/*", []),
        ("/data/a.txt/*", []),  # a file has no children
        ("/odd/a\\*b", ["/odd/a*b"]),
        ("/odd/a\\?b", ["/odd/a?b"]),
        ("/odd/a?b", ["/odd/a*b", "/odd/a?b", "/odd/axb"]),
        ("/", ["/"]),
    ],
)
def test_globs_match_as_hadoop_does(pattern: str, matches: list[str]) -> None:
    assert glob(pattern) == matches


def test_braces_nest_and_escape() -> None:
    assert expand_braces("/x/{a,b{c,d}}") == ["/x/a", "/x/bc", "/x/bd"]
    assert expand_braces("/x/\\{a,b\\}") == ["/x/\\{a,b\\}"]
    assert expand_braces("/{a,a}") == ["/a"]
    assert has_magic("/a/\\*") and not has_magic("/a/b")


@pytest.mark.parametrize("bad", ["/a/{b,c", "/a/b}", "/a/[bc", "/a/b\\", "/a/[z-a]", "rel/*"])
def test_malformed_globs_are_clear_errors(bad: str) -> None:
    with pytest.raises(IllegalArgumentError):
        glob(bad)


NAMES = st.text(alphabet="abc.", min_size=1, max_size=3).filter(lambda s: s not in {".", ".."})


@settings(max_examples=200, deadline=None)
@given(
    tree=st.sets(
        st.lists(NAMES, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p)),
        min_size=1,
        max_size=12,
    ),
    pattern=st.lists(
        st.text(alphabet="abc.*?", min_size=1, max_size=3).filter(lambda g: set(g) != {"."}),
        min_size=1,
        max_size=3,
    ),
)
def test_wildcards_agree_with_matching_every_path_component_by_component(
    tree: set[str], pattern: list[str]
) -> None:
    # A tree where a name is both a file and a folder cannot exist: keep the folders.
    dirs = folders(tree)
    tree = {p for p in tree if p not in dirs}
    everything = tree | dirs
    expected = sorted(
        p
        for p in everything
        if p != "/"
        and len(parts := p.strip("/").split("/")) == len(pattern)
        and all(fnmatch.fnmatchcase(n, g) for n, g in zip(parts, pattern, strict=True))
    )
    assert glob("/" + "/".join(pattern), tree) == expected


def test_every_alternative_of_a_brace_product_is_tried() -> None:
    alternatives = expand_braces("/{a,b}{c,d}{e,f}")
    assert alternatives == ["/" + "".join(t) for t in itertools.product("ab", "cd", "ef")]


def test_many_stars_against_a_long_name_do_not_backtrack_forever() -> None:
    # A regular expression takes exponential time here; anyone may create such a name.
    tree = {"/redos/" + "a" * 255, "/redos/" + "a" * 254 + "b"}  # the longest name allowed
    assert glob("/redos/*a*a*a*a*a*a*a*a*ab", tree) == ["/redos/" + "a" * 254 + "b"]
    assert glob("/redos/*a*a*a*a*a*a*a*a*ac", tree) == []


def test_braces_are_bounded_flat_and_list_each_folder_once() -> None:
    with pytest.raises(IllegalArgumentError, match="more than 1024"):
        expand_braces("/t/" + "{a,b}" * 11)
    assert len(expand_braces("/t/" + "{a,b}" * 10)) == 1024
    assert expand_braces("/t/" + "{a}" * 1100) == ["/t/" + "a" * 1100]  # no recursion limit
    deep = "/t/" + "{a," * 3000 + "b" + "}" * 3000
    assert expand_braces(deep) == ["/t/a", "/t/b"]
    listed: list[str] = []

    def names(folder: str) -> list[str]:
        listed.append(folder)
        return ["x", "y"] if folder == "/d" else []

    assert expand("/d/{x,y,x*,y*,*}", names, lambda p: p in {"/d/x", "/d/y"}) == [
        "/d/x",
        "/d/y",
    ]
    assert listed == ["/d"]


def test_an_escaped_dash_in_a_set_is_a_dash() -> None:
    tree = {"/s/a", "/s/-", "/s/z", "/s/m"}
    assert glob("/s/[a\\-z]", tree) == ["/s/-", "/s/a", "/s/z"]
    assert glob("/s/[a-z]", tree) == ["/s/a", "/s/m", "/s/z"]
