"""Signed requests and answers, sealed bytes, delegation tokens, the token store and the
guard in front of every app: what a holder of the token can do, and what nobody else can."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from hypothesis import given
from hypothesis import strategies as st

from minihadoop import guard
from minihadoop.config import Settings
from minihadoop.delegation import DelegationToken
from minihadoop.errors import AccessControlError, AuthenticationError, ChecksumError, from_remote
from minihadoop.guard import HostNames, cluster_only, install_guard
from minihadoop.server import install_error_handlers
from minihadoop.signing import (
    CONTENT,
    DATE,
    NONCE,
    SIGNATURE,
    UNSIGNED,
    ClusterAuth,
    Keys,
    NonceCache,
    SignatureError,
    TrailingSeal,
    UnsignedAnswerError,
    digest,
    seal,
    sign_request,
    sign_response,
    stream_mac,
    unseal,
    verify_request,
)
from namenode.tokens import Caller, TokenStore

TOKEN = "the-cluster-token"
KEYS = Keys.derive(TOKEN)
NOW = 1_800_000_000.0


def signed(
    method: str = "POST", target: str = "/a/b?x=1&y=2", body: bytes = b"{}"
) -> dict[str, str]:
    return sign_request(KEYS, method, "nn:9870", target, digest(body), NOW)


def verify(
    headers: dict[str, str],
    *,
    method: str = "POST",
    host: str = "nn:9870",
    path: str = "/a/b",
    query: str = "x=1&y=2",
    now: float = NOW,
    nonces: NonceCache | None = None,
    keys: Keys = KEYS,
    not_before: float = 0.0,
) -> str:
    return verify_request(
        keys,
        method,
        host,
        path,
        query,
        headers,
        now,
        NonceCache() if nonces is None else nonces,
        not_before,
    ).nonce


# --- requests ----------------------------------------------------------------------------------


def test_a_signed_request_verifies_and_the_token_is_nowhere_in_it() -> None:
    headers = signed()
    assert verify(headers) == headers[NONCE]
    assert all(TOKEN not in v for v in headers.values())


@pytest.mark.parametrize(
    "change",
    [
        {"method": "PUT"},
        {"host": "dn:9864"},  # relayed to another daemon
        {"path": "/a/c"},
        {"query": "x=1&y=3"},
        {"query": "y=2&x=1"},  # the bytes as sent, not a normalised form
        {"keys": Keys.derive(TOKEN + "x")},
    ],
)
def test_any_change_to_what_was_signed_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(SignatureError, match="signature"):
        verify(signed(), **change)


@pytest.mark.parametrize(
    ("header", "value", "why"),
    [
        (DATE, str(int(NOW * 1000) + 1), "signature"),
        (NONCE, "0" * 32, "signature"),
        (CONTENT, digest(b"other"), "signature"),
        (CONTENT, UNSIGNED, "signature"),
        (CONTENT, "xyz", "malformed"),
        (DATE, "yesterday", "malformed"),
        ("authorization", "Bearer " + TOKEN, "not signed"),
        ("authorization", "MH-HMAC-SHA256 ", "not signed"),
    ],
)
def test_tampered_headers_are_refused(header: str, value: str, why: str) -> None:
    headers = {**signed(), header: value}
    with pytest.raises(SignatureError, match=why):
        verify(headers)


def test_a_replay_is_refused_within_the_window_and_by_its_date_after() -> None:
    nonces = NonceCache(window=300)
    headers = signed()
    verify(headers, nonces=nonces)
    with pytest.raises(SignatureError, match="replayed"):
        verify(headers, nonces=nonces, now=NOW + 299)
    with pytest.raises(SignatureError, match="window"):
        verify(headers, nonces=nonces, now=NOW + 301)
    with pytest.raises(SignatureError, match="window"):
        verify(signed(), now=NOW - 301)  # from the future


def test_a_request_signed_before_the_daemon_started_is_refused() -> None:
    """An impostor that held the port while the daemon was down recorded requests whose
    nonces the restarted daemon cannot know: their date gives them away."""
    headers = signed()
    with pytest.raises(SignatureError, match="before this daemon started"):
        verify(headers, now=NOW + 5, not_before=NOW + 0.001)
    assert verify(headers, now=NOW + 5, not_before=NOW)


def test_the_nonce_cache_forgets_only_what_the_date_check_refuses_anyway() -> None:
    nonces = NonceCache(window=10)
    assert nonces.add("a", 0) and not nonces.add("a", 19.9)
    assert nonces.add("b", 15)
    assert nonces.add("a", 20.0)  # forgotten at 2 x window: its date is refused by then
    assert len(nonces) == 2


def test_forged_signatures_never_reach_the_nonce_cache() -> None:
    nonces = NonceCache()
    for i in range(100):
        headers = {**signed(), NONCE: f"{i:032x}"}
        with pytest.raises(SignatureError):
            verify(headers, nonces=nonces)
    assert len(nonces) == 0


# --- answers -----------------------------------------------------------------------------------


def sign_answer(
    nonce: str, status: int = 200, body: bytes = b"{}", location: str = ""
) -> dict[str, str]:
    content = digest(body)
    headers = {CONTENT: content, SIGNATURE: sign_response(KEYS, nonce, status, location, content)}
    return {**headers, "location": location} if location else headers


def answered(
    made_for: str | None,
    *,
    status: int = 200,
    body: bytes = b"{}",
    location: str = "",
    signed_as: tuple[int, bytes, str] | None = None,
) -> None:
    """Send a request through ClusterAuth and answer it: signed for its own nonce (None),
    for another (`made_for`), or not at all (""); `signed_as` signs other values than sent."""
    gen = ClusterAuth(TOKEN).sync_auth_flow(httpx.Request("GET", "http://nn:9870/x"))
    sent = next(gen)
    nonce = sent.headers[NONCE] if made_for is None else made_for
    s_status, s_body, s_location = signed_as or (status, body, location)
    headers = sign_answer(nonce, s_status, s_body, s_location) if made_for != "" else {}
    if location:
        headers["location"] = location
    with pytest.raises(StopIteration):
        gen.send(httpx.Response(status, content=body, headers=headers, request=sent))


def test_a_signed_answer_passes() -> None:
    answered(None)
    answered(None, status=307, location="http://dn:9864/x")


@pytest.mark.parametrize("made_for", ["", "0" * 32], ids=["unsigned", "for-another-request"])
def test_an_answer_not_signed_for_this_request_is_a_transport_error(made_for: str) -> None:
    with pytest.raises(UnsignedAnswerError, match="not signed"):
        answered(made_for)


@pytest.mark.parametrize(
    "sent",
    [
        {"body": b"[]"},
        {"status": 500},
        {"status": 307, "location": "http://evil.example/"},
    ],
)
def test_a_signed_answer_with_other_bytes_status_or_location_is_refused(
    sent: dict[str, Any],
) -> None:
    with pytest.raises(UnsignedAnswerError):
        answered(None, signed_as=(200, b"{}", ""), **sent)


def test_an_unsigned_401_is_passed_through_so_a_wrong_token_is_reported() -> None:
    answered("", status=401, body=b'{"RemoteException": {}}')


# --- sealed bytes --------------------------------------------------------------------------------


@given(st.binary(max_size=200), st.binary(max_size=20))
def test_seal_round_trips_and_any_flipped_bit_is_refused(data: bytes, context: bytes) -> None:
    sealed = seal(KEYS.seal, data, context)
    assert unseal(KEYS.seal, sealed, context) == data
    for i in range(0, len(sealed), max(1, len(sealed) // 7)):
        bad = bytearray(sealed)
        bad[i] ^= 1
        with pytest.raises(SignatureError):
            unseal(KEYS.seal, bytes(bad), context)
    with pytest.raises(SignatureError):
        unseal(KEYS.seal, sealed, context + b"x")
    with pytest.raises(SignatureError):
        unseal(Keys.derive("other").seal, sealed, context)


def test_keys_for_different_uses_differ() -> None:
    assert len({KEYS.request, KEYS.response, KEYS.seal, KEYS.delegation}) == 4


# --- delegation tokens ---------------------------------------------------------------------------


def test_a_delegation_token_round_trips_and_forgeries_are_refused() -> None:
    token = DelegationToken("id1", "alice", "alice", NOW, NOW + 60, ("OPEN",), "/data")
    text = token.encode(KEYS.delegation)
    assert DelegationToken.decode(text, KEYS.delegation) == token
    body, tag = text.split(".")
    other = DelegationToken("id1", "root", "root", NOW, NOW + 1e9).encode(KEYS.delegation)
    for forged in (
        f"{other.split('.')[0]}.{tag}",  # fields changed, old MAC
        f"{body}.{tag[:-2]}",
        text + "x",
        text.replace(".", ""),
        "",
        "a.b",
        "x" * 5000,
        token.encode(Keys.derive("other").delegation),
        f"{body}.{tag}!",
    ):
        with pytest.raises(AuthenticationError):
            DelegationToken.decode(forged, KEYS.delegation)


def test_a_scoped_token_permits_its_ops_under_its_path_only() -> None:
    token = DelegationToken("i", "u", "u", NOW, NOW + 1, ("CREATE", "APPEND"), "/data")
    assert token.permits("create", "/data") and token.permits("APPEND", "/data/x/y")
    assert not token.permits("DELETE", "/data")
    assert not token.permits("CREATE", "/database") and not token.permits("CREATE", "/")
    assert DelegationToken("i", "u", "u", NOW, NOW + 1).permits("DELETE", "/anything")


def test_the_store_issues_renews_cancels_and_remembers(tmp_path: Path) -> None:
    store = TokenStore(tmp_path, KEYS.delegation, renew_interval=100, max_lifetime=250)
    text = store.issue("alice", "bob", NOW)
    assert store.check(text, NOW + 99).user == "alice"
    with pytest.raises(AuthenticationError, match="expired"):
        store.check(text, NOW + 100)
    with pytest.raises(AccessControlError):
        store.renew(text, Caller("alice", superuser=False), NOW + 50)  # bob renews, not alice
    assert store.renew(text, Caller("bob", superuser=False), NOW + 90) == NOW + 190
    assert store.renew(text, Caller("x", superuser=True), NOW + 180) == NOW + 250  # max date
    reloaded = TokenStore(tmp_path, KEYS.delegation)  # a namenode restart
    assert reloaded.check(text, NOW + 249).renewer == "bob"
    with pytest.raises(AccessControlError):
        reloaded.cancel(text, Caller("eve", superuser=False), NOW)
    reloaded.cancel(text, Caller("alice", superuser=False), NOW)
    for store_now in (reloaded, TokenStore(tmp_path, KEYS.delegation)):
        with pytest.raises(AuthenticationError, match="cancelled"):
            store_now.check(text, NOW)
    assert oct((tmp_path / "delegation-tokens.json").stat().st_mode & 0o777) == "0o600"


def test_the_store_forgets_expired_tokens(tmp_path: Path) -> None:
    store = TokenStore(tmp_path, KEYS.delegation, renew_interval=10)
    for i in range(5):
        store.issue("u", "u", NOW + i)
    store.issue("u", "u", NOW + 100)
    assert len(store) == 1
    assert len(json.loads((tmp_path / "delegation-tokens.json").read_text())) == 1


# --- host names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:9870", True),
        ("10.1.2.3", True),
        ("[::1]:9870", True),
        ("localhost:9870", True),
        ("nn.example.com:9870", True),
        ("NN.Example.Com.", True),
        ("attacker.example:9870", False),  # a rebound name
        ("", False),
        ("[nope]:1", False),
        ("nn.example.com.attacker.example", False),
    ],
)
def test_host_names(host: str, allowed: bool) -> None:
    names = HostNames(["nn.example.com"])
    assert names.allows(host) is allowed
    assert names.allows(host) is allowed  # the second time from what the first decided


def test_a_name_added_is_allowed_from_then_on() -> None:
    names = HostNames()
    assert not names.allows("late.example:9870")
    names.add("late.example")
    assert names.allows("late.example:9870")


def test_long_host_headers_are_decided_but_not_remembered() -> None:
    """The Host header is the caller's: 1,000 distinct 60 KB values must not be kept."""
    names = HostNames()
    remembered_ips = guard._is_short_ip.cache_info().currsize
    for i in range(1000):
        assert not names.allows(f"{i}{'h' * 60_000}")
        assert not names.allows(f"[{i}{'1' * 60_000}]:1")
    assert names._allowed == {}
    assert guard._is_short_ip.cache_info().currsize == remembered_ips
    assert names.allows("127.0.0.1:1") and len(names._allowed) == 1


# --- the guard, in front of a real app -------------------------------------------------------


def guarded_app() -> tuple[FastAPI, list[bytes]]:
    app = FastAPI()
    install_error_handlers(app)
    seen: list[bytes] = []

    @app.post("/echo", dependencies=[Depends(cluster_only)])
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(body)
        return {"length": len(body)}

    @app.put("/dn/v1/blocks/1", dependencies=[Depends(cluster_only)])
    async def block(request: Request) -> dict[str, int]:
        body = b"".join([piece async for piece in request.stream()])
        seen.append(body)
        return {"length": len(body)}

    @app.get("/stream", dependencies=[Depends(cluster_only)])
    async def stream() -> StreamingResponse:
        async def pieces() -> Any:
            yield b"a" * 10
            yield b"b" * 10

        return StreamingResponse(pieces())

    install_guard(
        app,
        Settings(token=TOKEN),
        HostNames(),
        unsigned_payload=lambda m, p: m == "PUT" and p.startswith("/dn/v1/blocks/"),
    )
    return app, seen


def through(
    app: FastAPI, *requests: tuple[str, str, dict[str, Any]], host: str = "127.0.0.1"
) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            return [await client.request(m, u, **kw) for m, u, kw in requests]

    return asyncio.run(run())


def test_the_guard_lets_the_token_holder_in_and_signs_its_answers() -> None:
    app, seen = guarded_app()
    auth = ClusterAuth(TOKEN)
    echo, streamed = through(
        app,
        ("POST", "/echo", {"content": b"hello", "auth": auth}),
        ("GET", "/stream", {"auth": auth}),
    )
    assert echo.json() == {"length": 5} and seen == [b"hello"]
    assert streamed.content == b"a" * 10 + b"b" * 10
    assert streamed.headers[CONTENT] == UNSIGNED and echo.headers[CONTENT] == digest(echo.content)


def test_the_guard_refuses_the_anonymous_the_wrong_key_and_bad_hosts() -> None:
    app, seen = guarded_app()
    anonymous, bearer, wrong = through(
        app,
        ("POST", "/echo", {"content": b"x"}),
        ("POST", "/echo", {"content": b"x", "headers": {"authorization": f"Bearer {TOKEN}"}}),
        ("POST", "/echo", {"content": b"x", "auth": ClusterAuth("wrong")}),
    )
    assert [anonymous.status_code, bearer.status_code, wrong.status_code] == [401, 401, 401]
    (rebound,) = through(
        app, ("POST", "/echo", {"content": b"x", "auth": ClusterAuth(TOKEN)}), host="evil.example"
    )
    assert (
        rebound.status_code == 400
        and "evil.example" in rebound.json()["RemoteException"]["message"]
    )
    assert seen == []


def test_a_body_that_differs_from_its_signed_digest_never_reaches_the_handler() -> None:
    app, seen = guarded_app()
    headers = sign_request(KEYS, "POST", "127.0.0.1", "/echo", digest(b"good"), time.time())
    (r,) = through(app, ("POST", "/echo", {"content": b"evil", "headers": headers}))
    assert r.status_code == 401 and seen == []
    assert "digest" in r.json()["RemoteException"]["message"]


def test_an_unsigned_payload_is_accepted_on_block_routes_only() -> None:
    app, seen = guarded_app()

    async def pieces() -> Any:
        yield b"data"

    auth = ClusterAuth(TOKEN)
    echo, block = through(
        app,
        ("POST", "/echo", {"content": pieces(), "auth": auth}),
        ("PUT", "/dn/v1/blocks/1", {"content": pieces(), "auth": auth}),
    )
    assert echo.status_code == 401 and block.json() == {"length": 4}
    assert seen == [b"data"]


def test_a_signed_request_must_name_this_daemons_port_a_browser_need_not() -> None:
    names = HostNames(["nn.example.com", "gateway:19870"], ports=[9870])
    assert names.allows("127.0.0.1:9870", signed=True)
    assert names.allows("gateway:19870", signed=True)  # a published port, listed
    assert not names.allows("127.0.0.1:9864", signed=True)  # relayed from another daemon
    assert not names.allows("nn.example.com", signed=True)
    assert names.allows("localhost:8080")  # a dashboard through a forwarded port


def test_an_unsigned_body_is_refused_before_it_is_read_and_the_connection_closed() -> None:
    """Anonymous JSON bodies were read (up to 64 MiB) and parsed before the route said 401."""
    app, seen = guarded_app()
    (r,) = through(app, ("POST", "/echo", {"content": b"x" * 1000}))
    assert r.status_code == 401 and r.headers["connection"] == "close"
    assert "must be signed" in r.json()["RemoteException"]["message"]
    assert seen == []


def test_an_unsigned_401_can_only_ever_mean_not_authenticated() -> None:
    """Whoever answers at a peer's address may send an unsigned 401; it must not pose as an
    error a caller acts on (a checksum error would have it report a good replica bad)."""
    posing = {"RemoteException": {"exception": "ChecksumException", "message": "bad"}}
    assert type(from_remote(posing, 401)) is AuthenticationError
    assert type(from_remote(posing, 409)) is ChecksumError


def test_a_signing_client_will_not_have_followed_a_redirect() -> None:
    """httpx follows a redirect before an auth flow sees it: a 307 nobody checked would
    have sent the request, body and all, wherever it said."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a":
            return httpx.Response(307, headers={"location": "http://elsewhere/b"})
        return httpx.Response(200)

    transport = httpx.MockTransport(handler)
    client = httpx.Client(transport=transport, auth=ClusterAuth(TOKEN), follow_redirects=True)
    with client, pytest.raises(UnsignedAnswerError, match="must not follow redirects"):
        client.get("http://nn/a")


def _cut(stream: bytes, sizes: list[int]) -> list[bytes]:
    pieces, at, i = [], 0, 0
    while at < len(stream):
        pieces.append(stream[at : at + sizes[i % len(sizes)]])
        at += sizes[i % len(sizes)]
        i += 1
    return pieces


@given(st.binary(max_size=3000), st.lists(st.integers(1, 700), min_size=1, max_size=20))
def test_a_trailing_seal_reads_back_however_the_stream_is_cut(
    data: bytes, sizes: list[int]
) -> None:
    mac = stream_mac(KEYS.seal, b"ctx")
    mac.update(data)
    sealed = data + mac.digest()
    reader = TrailingSeal(KEYS.seal, b"ctx")
    got = b"".join(bytes(part) for piece in _cut(sealed, sizes) for part in reader.feed(piece))
    reader.check()
    assert got == data
    for at in {0, len(sealed) // 2, len(sealed) - 1}:  # one bit flipped anywhere
        bad = bytearray(sealed)
        bad[at] ^= 1
        reader = TrailingSeal(KEYS.seal, b"ctx")
        for piece in _cut(bytes(bad), sizes):
            reader.feed(piece)
        with pytest.raises(SignatureError):
            reader.check()
    reader = TrailingSeal(KEYS.seal, b"other output")
    for piece in _cut(sealed, sizes):
        reader.feed(piece)
    with pytest.raises(SignatureError):
        reader.check()


def test_a_redirects_token_is_not_kept_and_dies_with_its_parent(tmp_path: Path) -> None:
    """Every WebHDFS redirect makes one: writing each to disk would make the store grow and
    be rewritten with the request rate."""
    store = TokenStore(tmp_path, KEYS.delegation, renew_interval=100)
    parent_text = store.issue("alice", "alice", NOW)
    parent = store.check(parent_text, NOW)
    on_disk = (tmp_path / "delegation-tokens.json").read_text()
    child_text = store.scoped("alice", "CREATE", "/d/f", NOW, lifetime=3600, parent=parent)
    assert (tmp_path / "delegation-tokens.json").read_text() == on_disk and len(store) == 1
    child = store.check(child_text, NOW + 99)
    assert (child.ops, child.path, child.parent) == (("CREATE",), "/d/f", parent.id)
    with pytest.raises(AuthenticationError, match="expired"):
        store.check(child_text, NOW + 100)  # no longer than its parent's expiry
    with pytest.raises(AccessControlError, match="cannot be renewed"):
        store.renew(child_text, Caller("alice", superuser=False), NOW)
    store.cancel(parent_text, Caller("alice", superuser=False), NOW)
    with pytest.raises(AuthenticationError, match="cancelled"):
        store.check(child_text, NOW)
    orphan = store.scoped("bob", "OPEN", "/x", NOW, lifetime=50)  # for a signed caller
    assert store.check(orphan, NOW + 49).user == "bob"
    with pytest.raises(AuthenticationError, match="expired"):
        store.check(orphan, NOW + 50)


def test_a_block_access_token_is_for_its_block_its_key_and_its_time() -> None:
    from minihadoop import blocktoken

    key = KEYS.block
    token = blocktoken.make(key, 42, NOW, lifetime=60)
    blocktoken.check(key, token, 42, NOW + 59)
    refusals = [
        (token, 43, NOW, "another block"),
        (token, 42, NOW + 60, "expired"),
        (token, 42, NOW, "not genuine", Keys.derive("another token").block),
        (token.replace(str(int(NOW + 60)), str(int(NOW + 6000))), 42, NOW + 100, "not genuine"),
        ("42.x.y", 42, NOW, "not a block access token"),
        ("", 42, NOW, "needs the cluster token"),
    ]
    for text, block, now, why, *other in refusals:
        with pytest.raises(AuthenticationError, match=why):
            blocktoken.check(other[0] if other else key, text, block, now)
