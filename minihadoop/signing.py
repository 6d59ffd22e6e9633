"""How one holder of the cluster token proves itself to another over HTTP, both ways.

The token itself never travels. Every holder derives the same keys from it (`Keys`), and:

* a **request** carries an HMAC-SHA256, made with the request key, over its method, Host,
  raw path, raw query, a timestamp, a fresh nonce and a SHA-256 digest of its body::

      x-mh-date: 1764833112345         unix milliseconds; refused outside +-`WINDOW`, and
                                       when older than the receiving daemon itself
      x-mh-nonce: 9f2c…(32 hex)         refused if seen before within the window
      x-mh-content-sha256: <hex>       or UNSIGNED-PAYLOAD, for streamed block data only
      authorization: MH-HMAC-SHA256 <hex>

* the **answer** to a signed request carries an HMAC, made with the response key (so a
  request's signature can never be reflected back as an answer), over that request's nonce,
  the status, the Location header and a digest of the body::

      x-mh-content-sha256: <hex>       or UNSIGNED-PAYLOAD for a streamed answer (block
                                       data, map output: checksummed or sealed)
      x-mh-signature: <hex>

  A caller (`ClusterAuth`) refuses an answer without a valid signature with
  `UnsignedAnswerError`, a transport error: whoever answered at that address is not a member
  of the cluster, exactly as if nobody had. One exception: an unsigned 401 is passed through,
  so a caller holding the wrong token is told so.

* **sealed bytes** (`seal`/`unseal`): data that will be unpickled — job payloads, shuffle
  runs — carries a MAC over its exact bytes, checked before anything reads it.

A streamed body whose digest is unknown when its headers leave (a block on its way down a
pipeline) is signed as UNSIGNED-PAYLOAD: method, path, query, time and nonce are still
authenticated, and the server accepts that only where the route allows it (block data,
which carries CRC32C checksums end to end). Against someone in the path of the traffic —
not a threat on one host, where a squatter is an endpoint, never in the middle — use TLS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import AsyncGenerator, Generator, Mapping
from dataclasses import dataclass

import httpx

SCHEME = "MH-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
WINDOW = 300.0  # seconds a signed request stays valid either side of the receiver's clock
DATE = "x-mh-date"
NONCE = "x-mh-nonce"
CONTENT = "x-mh-content-sha256"
SIGNATURE = "x-mh-signature"
MAC_SIZE = 32


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys every holder of the cluster token derives from it, one per use, so a MAC
    made for one purpose is never accepted for another."""

    request: bytes
    response: bytes
    seal: bytes
    delegation: bytes
    block: bytes  # block access tokens (`minihadoop.blocktoken`)

    @staticmethod
    def derive(token: str) -> Keys:
        def key(purpose: str) -> bytes:
            return hmac.digest(token.encode(), f"minihadoop/{purpose}/v1".encode(), "sha256")

        return Keys(key("request"), key("response"), key("seal"), key("delegation"), key("block"))


class SignatureError(Exception):
    """A request whose signature, time, nonce or body digest does not hold."""


class UnsignedAnswerError(httpx.RemoteProtocolError):
    """The answer at a peer's address is not signed by a holder of the cluster token."""


# --- the canonical strings -------------------------------------------------------------------


def request_string(
    method: str, host: str, path: str, query: str, date: str, nonce: str, content: str
) -> bytes:
    """What a request's signature covers: `path` and `query` exactly as they went on the
    wire (percent-encoded), so nothing is normalised differently on the two sides."""
    return "\n".join(
        (SCHEME, method.upper(), host.lower(), path, query, date, nonce, content)
    ).encode()


def response_string(nonce: str, status: int, location: str, content: str) -> bytes:
    return "\n".join(("MH-RESPONSE", nonce, str(status), location, content)).encode()


def mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --- requests ----------------------------------------------------------------------------------


def sign_request(
    keys: Keys, method: str, host: str, target: str, content: str, now: float
) -> dict[str, str]:
    """The headers that sign a request for `target` (raw path, then ``?query`` if any)."""
    path, _, query = target.partition("?")
    date, nonce = str(int(now * 1000)), secrets.token_hex(16)
    signature = mac(keys.request, request_string(method, host, path, query, date, nonce, content))
    return {
        DATE: date,
        NONCE: nonce,
        CONTENT: content,
        "authorization": f"{SCHEME} {signature}",
    }


def is_signed(headers: Mapping[str, str]) -> bool:
    return headers.get("authorization", "").startswith(SCHEME + " ")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a verified request's headers claimed: the nonce its answer is bound to, and the
    body digest still to be checked against the body as it arrives."""

    nonce: str
    content: str


def verify_request(
    keys: Keys,
    method: str,
    host: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    now: float,
    nonces: NonceCache,
    not_before: float = 0.0,
) -> SignedRequest:
    """Check a request's signature, time and nonce (not its body: see `SignedRequest`).

    `not_before` is when the receiver started (less the clock skew it allows between
    machines): a request signed before it could only have reached somebody else at this
    address — an impostor, while the daemon was down — and is refused, since this process's
    nonce cache, new at start, cannot know it was seen.
    """
    scheme, _, presented = headers.get("authorization", "").partition(" ")
    date, nonce, content = headers.get(DATE, ""), headers.get(NONCE, ""), headers.get(CONTENT, "")
    if scheme != SCHEME or not presented:
        raise SignatureError("the request is not signed")
    if not (date.isdigit() and len(nonce) == 32 and _is_hex(nonce)):
        raise SignatureError("the request's date or nonce is malformed")
    if not (content == UNSIGNED or (len(content) == 64 and _is_hex(content))):
        raise SignatureError("the request's content digest is malformed")
    expected = mac(keys.request, request_string(method, host, path, query, date, nonce, content))
    if not hmac.compare_digest(expected, presented.strip().lower()):
        raise SignatureError(
            "the request's signature does not match (is MINIHADOOP_TOKEN this cluster's token?)"
        )
    # Only a genuine signature reaches the clock and the nonce cache, so nobody without the
    # key can fill the cache or learn the receiver's clock.
    signed_at = int(date) / 1000
    if abs(now - signed_at) > nonces.window:
        raise SignatureError("the request's date is outside the accepted window")
    if signed_at < not_before:
        raise SignatureError("the request was signed before this daemon started")
    if not nonces.add(nonce, now):
        raise SignatureError("the request was replayed")
    return SignedRequest(nonce, content)


def _is_hex(text: str) -> bool:
    return all(ch in "0123456789abcdef" for ch in text)


class NonceCache:
    """Nonces seen in the last 2 x `window` seconds. A request's date must be within
    `window` of the receiver's clock, so a nonce forgotten here is refused by its date."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self._seen: set[str] = set()
        self._order: deque[tuple[float, str]] = deque()

    def add(self, nonce: str, now: float) -> bool:
        """Remember `nonce`; False if it was already there (a replay)."""
        while self._order and self._order[0][0] <= now:
            self._seen.discard(self._order.popleft()[1])
        if nonce in self._seen:
            return False
        self._seen.add(nonce)
        self._order.append((now + 2 * self.window, nonce))
        return True

    def __len__(self) -> int:
        return len(self._seen)


# --- answers --------------------------------------------------------------------------------


def sign_response(keys: Keys, nonce: str, status: int, location: str, content: str) -> str:
    return mac(keys.response, response_string(nonce, status, location, content))


def verify_response(keys: Keys, nonce: str, response: httpx.Response) -> None:
    """Raise `UnsignedAnswerError` unless `response` is signed for the request `nonce`.
    A signed body digest is checked against the body, which must then have been read."""
    content = response.headers.get(CONTENT, "")
    expected = sign_response(
        keys, nonce, response.status_code, response.headers.get("location", ""), content
    )
    presented = response.headers.get(SIGNATURE, "")
    if not hmac.compare_digest(expected, presented):
        raise UnsignedAnswerError(
            f"the answer from {response.request.url.netloc.decode()} (HTTP "
            f"{response.status_code}) is not signed by a member of this cluster",
            request=response.request,
        )
    if content != UNSIGNED and not hmac.compare_digest(content, digest(response.content)):
        raise UnsignedAnswerError(
            f"the answer from {response.request.url.netloc.decode()} does not match its "
            "signed digest",
            request=response.request,
        )


class ClusterAuth(httpx.Auth):
    """Pass as ``auth=`` to an httpx client: every request is signed, every answer checked.

    A request body given as bytes is digested; a streamed one is sent as UNSIGNED-PAYLOAD
    unless the caller set ``x-mh-content-sha256`` itself (a pipeline passes on its writer's).

    Not with ``follow_redirects=True``: httpx would follow a redirect (re-sending the body)
    before this flow could check that it came from the cluster. Follow a checked 307 by
    hand; a chain of redirects is refused here, after the fact, to make the mistake loud.
    """

    def __init__(self, token: str) -> None:
        self.keys = Keys.derive(token)

    def _sign(self, request: httpx.Request) -> str:
        content = request.headers.get(CONTENT)
        if content is None:
            body = request.content if isinstance(request.stream, httpx.ByteStream) else None
            content = UNSIGNED if body is None else digest(body)
        headers = sign_request(
            self.keys,
            request.method,
            request.headers.get("host", request.url.netloc.decode()),
            request.url.raw_path.decode("ascii"),
            content,
            time.time(),
        )
        request.headers.update(headers)
        return headers[NONCE]

    @staticmethod
    def _needs_body(response: httpx.Response) -> bool:
        """Whether the answer must be read before it is checked: an unsigned 401 (passed
        through, so a caller holding the wrong token is told so) or a signed digest (only
        ever made for an answer sent whole)."""
        if response.history:
            raise UnsignedAnswerError(
                "a client that signs its requests must not follow redirects automatically",
                request=response.request,
            )
        return _passes_through(response) or response.headers.get(CONTENT, UNSIGNED) != UNSIGNED

    def _check(self, nonce: str, response: httpx.Response) -> None:
        if not _passes_through(response):
            verify_response(self.keys, nonce, response)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        nonce = self._sign(request)
        response = yield request
        if self._needs_body(response):
            response.read()
        self._check(nonce, response)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        nonce = self._sign(request)
        response = yield request
        if self._needs_body(response):
            await response.aread()
        self._check(nonce, response)


def _passes_through(response: httpx.Response) -> bool:
    return response.status_code == 401 and SIGNATURE not in response.headers


# --- sealed bytes -----------------------------------------------------------------------------


def stream_mac(key: bytes, context: bytes = b"") -> hmac.HMAC:
    """The MAC `seal` puts in front of data, for data that streams: feed it the bytes."""
    return hmac.new(key, context + b"\n", hashlib.sha256)


class TrailingSeal:
    """Reads data that streams in followed by its seal (a `stream_mac` digest, as a worker
    serves map output): `feed` each piece and use what it gives back — the bytes now known
    to be data, not yet proven — and call `check` at the end, before anything trusts them.
    The last `MAC_SIZE` bytes seen are held back; pieces are not copied."""

    def __init__(self, key: bytes, context: bytes = b"") -> None:
        self._mac = stream_mac(key, context)
        self._tail = b""

    def feed(self, piece: bytes) -> list[bytes | memoryview]:
        if len(piece) >= MAC_SIZE:
            parts: list[bytes | memoryview] = [self._tail, memoryview(piece)[:-MAC_SIZE]]
            self._tail = piece[-MAC_SIZE:]
        else:
            held = self._tail + piece
            parts, self._tail = [held[:-MAC_SIZE]], held[-MAC_SIZE:]
        for part in parts:
            self._mac.update(part)
        return parts

    def check(self) -> None:
        if len(self._tail) < MAC_SIZE or not hmac.compare_digest(self._mac.digest(), self._tail):
            raise SignatureError("the data is not sealed with this cluster's key")


def _mac_of(key: bytes, data: bytes | memoryview, context: bytes) -> bytes:
    mac = stream_mac(key, context)
    mac.update(data)  # no copy of data (payloads run to tens of MiB)
    return mac.digest()


def seal(key: bytes, data: bytes, context: bytes = b"") -> bytes:
    """`data` behind a MAC over `context` and its exact bytes."""
    return _mac_of(key, data, context) + data


def unseal(key: bytes, sealed: bytes, context: bytes = b"") -> bytes:
    """The data of `sealed`, or `SignatureError` if its MAC does not hold."""
    tag = sealed[:MAC_SIZE]
    expected = _mac_of(key, memoryview(sealed)[MAC_SIZE:], context)
    if len(tag) < MAC_SIZE or not hmac.compare_digest(tag, expected):
        raise SignatureError("the data is not sealed with this cluster's key")
    return sealed[MAC_SIZE:]
