"""DFS path rules (minihadoop.paths): what normalize accepts, folds and rejects."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minihadoop import paths
from minihadoop.errors import InvalidPathError

# --------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/", "/"),
        ("//", "/"),
        ("/.", "/"),
        ("/a", "/a"),
        ("/a/", "/a"),
        ("/a//b///c/", "/a/b/c"),
        ("/./a/./b/.", "/a/b"),
        ("/a/.b/c.", "/a/.b/c."),  # dots inside a name are ordinary characters
        ("/a/.../b", "/a/.../b"),
        ("/a b/ü/日本", "/a b/ü/日本"),
    ],
)
def test_normalize_folds_slashes_and_dots(raw: str, canonical: str) -> None:
    assert paths.normalize(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "absolute"),
        ("a/b", "absolute"),
        ("./a", "absolute"),
        ("/a/../b", r"'\.\.'"),
        ("/..", r"'\.\.'"),
        ("/a/..", r"'\.\.'"),
        ("/a/b\x00c", "control characters"),
        ("/a/\nb", "control characters"),
        ("/a/b\x1f", "control characters"),
        ("/a/b\x7f", "control characters"),
        ("/a/b:c", "':'"),
        ("/hdfs:/x", "':'"),
        ("/" + "x" * (paths.MAX_COMPONENT_LENGTH + 1), "longer than 255"),
        ("/a" * (paths.MAX_DEPTH + 1), "deeper than"),
        ("/" + "a/" * (paths.MAX_PATH_LENGTH // 2), "longer than 8000"),
    ],
)
def test_normalize_rejects_invalid_paths_saying_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPathError, match=reason):
        paths.normalize(raw)


def test_normalize_rejects_non_strings() -> None:
    with pytest.raises(InvalidPathError, match="must be a string, not bytes"):
        paths.normalize(b"/a")  # type: ignore[arg-type]


# Paths near every rule: dots, slashes, colons, control and non-ASCII characters, lone
# surrogates, components at and past 255 characters.
_NEAR_THE_RULES = st.lists(
    st.sampled_from(
        ["", ".", "..", "...", "a", ".a", "a.", "b:c", "\x1b", "\x9b", "\x7f", "é", "\ud800",
         " ", "x" * 255, "x" * 256]
    ),
    max_size=6,
).map(lambda parts: "/".join(["", *parts]))  # fmt: skip


@given(_NEAR_THE_RULES)
@settings(max_examples=1500, deadline=None)
def test_the_fast_path_of_normalize_agrees_with_the_rules(path: str) -> None:
    """`normalize` returns an already-canonical path without looking at its parts: for
    every path, it answers (or refuses, saying the same) as the rules checked one by one."""

    def outcome(normalizer: Any) -> tuple[str, str]:
        try:
            return "ok", normalizer(path)
        except InvalidPathError as exc:
            return "refused", str(exc)

    assert outcome(paths.normalize) == outcome(paths._normalize)


def test_normalize_limits_are_inclusive() -> None:
    longest = "x" * paths.MAX_COMPONENT_LENGTH
    assert paths.normalize(f"/{longest}/") == f"/{longest}"
    deepest = "/a" * paths.MAX_DEPTH
    assert paths.normalize(deepest) == deepest
    with pytest.raises(InvalidPathError, match="deeper"):
        paths.normalize(deepest + "/a")
    longest_path = "/" + "/".join(["y" * 99] * (paths.MAX_PATH_LENGTH // 100))
    assert len(longest_path) == paths.MAX_PATH_LENGTH
    assert paths.normalize(longest_path) == longest_path
    with pytest.raises(InvalidPathError, match="longer"):
        paths.normalize(longest_path + "y")


def test_invalid_path_error_is_a_400() -> None:
    with pytest.raises(InvalidPathError) as info:
        paths.normalize("relative")
    assert info.value.status == 400


# Mostly path-like text: slashes, dots and a few letters, so that folding is exercised often.
path_text = st.text(alphabet=st.sampled_from(["/", ".", "a", "b", "é", " ", "-"]), max_size=40)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(body=path_text)
def test_normalize_is_idempotent_and_canonical(body: str) -> None:
    raw = "/" + body
    try:
        once = paths.normalize(raw)
    except InvalidPathError:
        assert ".." in raw.split("/")
        return
    assert paths.normalize(once) == once
    assert once.startswith("/")
    assert "//" not in once
    assert once == "/" or not once.endswith("/")
    assert not {".", "..", ""} & set(paths.split(once))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(body=st.text(max_size=30))
def test_normalize_never_returns_a_bad_component(body: str) -> None:
    """Whatever the text, an accepted path has no '..', ':' nor control character in it."""
    try:
        once = paths.normalize("/" + body)
    except InvalidPathError:
        return
    assert paths.normalize(once) == once
    for part in paths.split(once):
        assert part not in (".", "..", "")
        assert ":" not in part
        assert all(ord(ch) >= 0x20 and ch != "\x7f" for ch in part)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("path", "parent", "name", "parts"),
    [
        ("/", "/", "", []),
        ("/a", "/", "a", ["a"]),
        ("/a/b", "/a", "b", ["a", "b"]),
        ("/a/b/c", "/a/b", "c", ["a", "b", "c"]),
    ],
)
def test_parent_name_split(path: str, parent: str, name: str, parts: list[str]) -> None:
    assert paths.parent(path) == parent
    assert paths.name(path) == name
    assert paths.split(path) == parts


def test_join_normalizes_and_validates() -> None:
    assert paths.join("/", "a") == "/a"
    assert paths.join("/a", "b", "c") == "/a/b/c"
    assert paths.join("/a/", "b/") == "/a/b"
    assert paths.join("/a", "b/c/./d") == "/a/b/c/d"
    assert paths.join("/a") == "/a"
    with pytest.raises(InvalidPathError):
        paths.join("/a", "..")
    with pytest.raises(InvalidPathError):
        paths.join("/a", "b:c")


@settings(max_examples=100, derandomize=True, deadline=None)
@given(body=path_text)
def test_join_of_parent_and_name_is_the_path(body: str) -> None:
    try:
        path = paths.normalize("/" + body)
    except InvalidPathError:
        return
    if path != "/":
        assert paths.join(paths.parent(path), paths.name(path)) == path


@pytest.mark.parametrize(
    ("ancestor", "path", "expected"),
    [
        ("/", "/", True),
        ("/", "/a/b", True),
        ("/a", "/a", True),
        ("/a", "/a/b", True),
        ("/a", "/a/b/c", True),
        ("/a/b", "/a", False),
        ("/a", "/ab", False),  # a shared prefix is not a shared folder
        ("/a", "/b/a", False),
    ],
)
def test_is_ancestor(ancestor: str, path: str, expected: bool) -> None:
    assert paths.is_ancestor(ancestor, path) is expected


# --------------------------------------------------------------------------- not Unicode


@pytest.mark.parametrize("raw", ["/a\ud800", "/\udfff/b", "/x/y\udc80z"])
def test_lone_surrogates_are_not_a_path(raw: str) -> None:
    with pytest.raises(InvalidPathError, match="surrogate") as caught:
        paths.normalize(raw)
    caught.value.message.encode("utf-8")  # the error itself can be sent


@pytest.mark.parametrize(
    ("raw_path", "query"),
    [
        (b"/webhdfs/v1/a%ED%A0%80", b"op=MKDIRS"),  # a surrogate, UTF-8 encoded
        (b"/webhdfs/v1/a%FF", b""),
        (b"/webhdfs/v1/a%C0%AF", b""),  # an overlong '/'
        (b"/webhdfs/v1/a", b"op=RENAME&destination=/b%E2%82"),  # cut short
        (b"/webhdfs/v1/a", b"%FF=1"),
        (b"/webhdfs/v1/a%0Ab", b""),
        (b"/webhdfs/v1/a%00", b""),
    ],
)
def test_check_url_refuses_undecodable_urls_and_control_characters(
    raw_path: bytes, query: bytes
) -> None:
    with pytest.raises(InvalidPathError):
        paths.check_url(raw_path, query)


def test_check_url_accepts_utf8_and_control_characters_in_queries() -> None:
    paths.check_url(b"/webhdfs/v1/%C3%BC/%E6%97%A5", b"op=RENAME&destination=/%C3%BC+x")
    paths.check_url(b"/nn/v1/blocks", b"path=/a%0Ab")  # the path rules refuse it, later
