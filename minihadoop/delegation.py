"""Hadoop-style delegation tokens: what a client outside the cluster holds instead of the
cluster token.

A token is issued by the namenode (WebHDFS ``GETDELEGATIONTOKEN``, ``minihadoop admin
fetchdt``) to a caller that proved the cluster token, and is then presented as WebHDFS's
``delegation=`` parameter. It names its user (who the bearer acts as), its renewer, when it
was issued and the latest it may ever live (``max_date``), and optionally the only
operations and the one path (and what is under it) it is good for. It is MAC'd with a key
derived from the cluster token, so any daemon can check it is genuine; whether it is still
*live* (not cancelled, renewed past its expiry) is the namenode's to say, which keeps the
issued ones in `namenode.tokens.TokenStore`.

Text form: ``<base64url of the JSON fields>.<base64url of the HMAC-SHA256>``, URL-safe so it
travels in a query string as it is.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from dataclasses import asdict, dataclass

from minihadoop.errors import AuthenticationError

MAX_TEXT = 2048  # far above any real token; bounds the work spent on garbage
_FORM = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class DelegationToken:
    id: str
    user: str
    renewer: str
    issued: float
    max_date: float
    ops: tuple[str, ...] | None = None  # upper-case WebHDFS op names; None: any
    path: str | None = None  # this path and everything under it; None: any
    parent: str | None = None  # the token it was made from: it dies with it

    def encode(self, key: bytes) -> str:
        fields = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()
        body = _b64(fields)
        return f"{body}.{_b64(hmac.digest(key, body.encode(), 'sha256'))}"

    @staticmethod
    def decode(text: str, key: bytes) -> DelegationToken:
        """The token `text` stands for, if its MAC holds; else AuthenticationError."""
        if len(text) > MAX_TEXT or not _FORM.fullmatch(text):
            raise AuthenticationError("the delegation token is malformed")
        body, _, tag = text.partition(".")
        try:
            genuine = hmac.compare_digest(_unb64(tag), hmac.digest(key, body.encode(), "sha256"))
        except ValueError:
            genuine = False
        if not genuine:
            raise AuthenticationError("the delegation token is not one this cluster issued")
        fields = json.loads(_unb64(body))
        ops = fields.pop("ops")
        return DelegationToken(**fields, ops=None if ops is None else tuple(ops))

    @staticmethod
    def unverified(body: str) -> DelegationToken:
        """The fields of a token from its body alone (the part before its MAC), not
        checked: only for a body a cluster peer sent in a signed request, having checked the
        MAC itself. The body is no credential — without the MAC it opens nothing — so it,
        unlike the whole token, may be sent to a namenode that might be a stranger at a dead
        namenode's port. AuthenticationError for garbage."""
        if len(body) > MAX_TEXT or not re.fullmatch(r"[A-Za-z0-9_-]+", body):
            raise AuthenticationError("the delegation token is malformed")
        try:
            fields = json.loads(_unb64(body))
            ops = fields.pop("ops")
            return DelegationToken(**fields, ops=None if ops is None else tuple(ops))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise AuthenticationError("the delegation token is malformed") from None

    def permits(self, op: str, path: str) -> bool:
        if self.ops is not None and op.upper() not in self.ops:
            return False
        if self.path is None or self.path == "/":
            return True
        return path == self.path or path.startswith(self.path + "/")

    def within(self, op: str, path: str) -> bool:
        """Whether this token can do no more than `op` on `path`."""
        return self.ops == (op.upper(),) and self.path == path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
