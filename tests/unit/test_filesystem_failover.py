"""The FileSystem client and a namenode group, in process: three fake namenodes behind one
httpx.MockTransport, one leading, the others answering every call with StandbyError (naming
the leader, or not). The client finds the leader, follows a change of leader in the middle
of a write without doing a call twice, never lets a standby's answer reach its caller
while its window lasts, and with one URL behaves as it always did."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from minihadoop.config import ClusterInfo
from minihadoop.errors import AuthenticationError, StandbyError, UnreachableError
from minihadoop.filesystem import FileSystem

A, B, C = "http://nn-a:9870", "http://nn-b:9870", "http://nn-c:9870"
DATANODE = "http://dn:9864"
OK = {"boolean": True}
CREATED = {"block_size": 4096, "bytes_per_checksum": 512, "file_id": 16390}


class Group:
    """Three namenodes sharing one replicated state: the session table and the blocks added.
    `leader` answers; the others are standbys (naming the leader if `hints`, or whom
    `stale_hints` says); a URL in `down` refuses connections. `fail_over_on` makes the
    leader carry out that endpoint's call, lose the answer and stop, and the next namenode
    take over."""

    def __init__(self, leader: str, *, hints: bool = True) -> None:
        self.leader, self.hints = leader, hints
        self.down: set[str] = set()
        self.squatted: set[str] = set()  # a stranger answering "not authenticated" there
        self.asked: list[tuple[str, str]] = []  # (namenode, path)
        self.sessions: dict[tuple[str, str], dict[str, object]] = {}
        self.session_of: list[tuple[str, str, tuple[str, str] | None]] = []
        self.blocks: list[int] = []
        self.completed = 0
        self.fail_over_on: str | None = None
        self.stale_hints: dict[str, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        if origin == DATANODE:
            return httpx.Response(200, json={"stored": [DATANODE]})
        self.asked.append((origin, request.url.path))
        if origin in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if origin in self.squatted:
            refusal = AuthenticationError("this call must be signed with the cluster token")
            return httpx.Response(401, json=refusal.to_remote())
        if origin != self.leader:
            hint = self.stale_hints.get(origin, self.leader if self.hints else "")
            body = StandbyError("Operation category WRITE is not supported in state standby", hint)
            return httpx.Response(403, json=body.to_remote())
        params = request.url.params
        session = (params["clientid"], params["seq"]) if "clientid" in params else None
        self.session_of.append((origin, request.url.path, session))
        if session in self.sessions:
            return httpx.Response(200, json=self.sessions[session])  # answered once
        answer = self._apply(request.url.path)
        if session is not None:
            self.sessions[session] = answer
        endpoint = request.url.path.rsplit("/", 1)[-1]
        if endpoint == self.fail_over_on:
            self.fail_over_on = None
            self.down.add(origin)
            group = [A, B, C]
            self.leader = group[(group.index(origin) + 1) % 3]
            raise httpx.ReadTimeout("the leader stopped before answering", request=request)
        return httpx.Response(200, json=answer)

    def _apply(self, path: str) -> dict[str, object]:
        if path.endswith("/create"):
            return CREATED
        if path.endswith("/add_block"):
            self.blocks.append(1000 + len(self.blocks))
            block = {"block_id": self.blocks[-1], "gen": 1, "length": 0}
            where = [{"id": "dn-1", "url": DATANODE}]
            return {"block": block, "offset": 0, "locations": where}
        if path.endswith("/complete"):
            self.completed += 1
        return OK

    def namenodes_asked(self) -> list[str]:
        return [origin for origin, _path in self.asked]


@pytest.fixture
def connect() -> Iterator[Callable[..., FileSystem]]:
    made: list[FileSystem] = []

    def make(
        group: Group, namenode: str | list[str] = f"{A};{B};{C}", window: float = 5.0
    ) -> FileSystem:
        fs = FileSystem(namenode, "token", retry_window=window)
        fs._http.close()
        fs._http = httpx.Client(transport=httpx.MockTransport(group))
        made.append(fs)
        return fs

    yield make
    for fs in made:
        fs.close()


def test_the_leader_a_standby_names_is_asked_at_once_and_first_from_then_on(
    connect: Callable[..., FileSystem],
) -> None:
    group = Group(leader=C)
    fs = connect(group)
    assert fs.namenodes == (A, B, C) and fs.namenode == A
    fs.mkdir("/d")
    assert group.namenodes_asked() == [A, C]
    assert fs.namenode == C
    fs.mkdir("/e")
    assert group.namenodes_asked() == [A, C, C]


def test_without_a_hint_the_next_namenode_is_asked_until_one_leads(
    connect: Callable[..., FileSystem],
) -> None:
    group = Group(leader=C, hints=False)
    fs = connect(group, [A, B, C])
    fs.rm("/d")
    assert group.namenodes_asked() == [A, B, C]
    fs.mv("/a", "/b")
    assert group.namenodes_asked()[3:] == [C]


def test_a_write_goes_on_when_its_leader_stops_and_another_takes_over(
    connect: Callable[..., FileSystem],
) -> None:
    group = Group(leader=A)
    fs = connect(group)
    out = fs.create("/f")
    out.write(b"x" * 4096)  # one block, added by A
    group.fail_over_on = "add_block"  # A adds the second, then stops unanswered; B leads
    out.write(b"y" * 4096)
    out.close()  # complete, at B
    added = [(nn, s) for nn, path, s in group.session_of if path.endswith("/add_block")]
    # The second add_block went to B as the same request, and B answered it from the
    # session table: two blocks in all, as written.
    assert [nn for nn, _s in added] == [A, A, B]
    assert added[1][1] == added[2][1] and added[0][1] != added[1][1]
    assert group.blocks == [1000, 1001] and group.completed == 1
    assert group.namenodes_asked()[-1] == B and fs.namenode == B


def test_a_leader_that_stops_between_calls_is_replaced_without_an_error(
    connect: Callable[..., FileSystem],
) -> None:
    group = Group(leader=A)
    fs = connect(group)
    fs.mkdir("/d")
    group.down.add(A)
    group.leader = B
    for _ in range(3):
        fs.mkdir("/d")
    assert group.namenodes_asked() == [A, A, B, B, B]


def test_standbys_naming_each_other_do_not_spin_and_the_window_ends_it_clearly(
    connect: Callable[..., FileSystem],
) -> None:
    group = Group(leader=C)  # which stopped; A and B still name each other
    group.down.add(C)
    group.stale_hints = {A: B, B: A}
    fs = connect(group, window=0.4)
    with pytest.raises(UnreachableError) as caught:
        fs.mkdir("/d")
    assert group.namenodes_asked()[:3] == [A, B, C]
    assert 3 <= len(group.asked) < 40
    message = str(caught.value)
    assert "no namenode answered as the leader within 0.4s" in message
    assert f"asked {A}, {B}, {C}" in message


def test_a_group_none_of_which_can_be_reached_names_them_all(
    connect: Callable[..., FileSystem],
) -> None:
    group = Group(leader=A)
    group.down |= {A, B, C}
    with pytest.raises(UnreachableError, match=f"asked {A}, {B}, {C}"):
        connect(group, window=0.2).stat("/")


def test_one_namenode_is_asked_as_before(connect: Callable[..., FileSystem]) -> None:
    group = Group(leader=A)
    fs = connect(group, f"{A}/")
    assert (fs.namenode, fs.namenodes) == (A, (A,))
    fs.mkdir("/d")
    group.down.add(A)
    with pytest.raises(UnreachableError) as caught:
        connect(group, A, window=0.2).stat("/")
    assert "asked" not in str(caught.value)  # raised as it was
    # A standby naming a leader outside the URLs given: waited out, not followed.
    group.down.clear()
    group.leader = B
    with pytest.raises(StandbyError):
        connect(group, A, window=0.2).stat("/")
    assert set(group.namenodes_asked()) == {A}


def test_a_copy_keeps_the_group_and_its_leader(connect: Callable[..., FileSystem]) -> None:
    group = Group(leader=B)
    fs = connect(group)
    fs.mkdir("/d")
    with fs.with_retry_window(1.0) as other:
        assert (other.namenodes, other.namenode) == ((A, B, C), B)


def test_cluster_json_lists_a_group_and_one_without_the_list_still_works(tmp_path: Path) -> None:
    one = {"namenode": A, "token": "t"}
    (tmp_path / "cluster.json").write_text(json.dumps(one))
    with FileSystem.from_cluster(tmp_path) as fs:
        assert fs.namenodes == (A,)
    group = ClusterInfo(namenode=B, namenodes=[A, B, C], token="t")
    group.save(tmp_path)
    with FileSystem.from_cluster(tmp_path) as fs:
        assert fs.namenodes == (A, B, C)
    assert ClusterInfo.load(tmp_path).namenode_urls() == [A, B, C]


def test_a_stranger_saying_not_authenticated_at_a_dead_members_port_is_passed_by(
    connect: Callable[..., FileSystem],
) -> None:
    """An unsigned 401 is let through so that a wrong token is told so; from one member of
    a group it may be a process squatting a dead member's port: the call goes on to the
    others, and the refusal is believed only when every member says it."""
    group = Group(leader=C)
    group.squatted.add(A)
    fs = connect(group)
    fs.mkdir("/d")
    assert group.namenodes_asked()[0] == A and fs.namenode == C
    everyone = Group(leader=C)
    everyone.squatted.update({A, B, C})
    with pytest.raises(AuthenticationError):
        connect(everyone).mkdir("/d")
    assert sorted(set(everyone.namenodes_asked())) == [A, B, C]
