"""The delegation tokens the namenode issued, and which of them are still live.

A token is live while it is in the store, not cancelled and not past its expiry; renewing
moves the expiry on by `renew_interval` but never past the token's `max_date` (Hadoop's
``dfs.namenode.delegation.token.renew-interval`` and ``.max-lifetime``: 1 and 7 days).

The store is small (tokens live days, not seconds) and changes rarely, so it is one JSON
file rewritten whole, fsynced and renamed into place before a change is answered: a token
issued, renewed or cancelled stays so across a namenode restart. Expired tokens are dropped
on every write.

A redirect's token (`scoped`: one op on one path, an hour at most) is not kept: it is
checked by its MAC, its own end and its parent's life, so a WebHDFS redirect costs no write.
It dies with the token it was made from; one made for a caller that signed with the cluster
token cannot be cancelled, only outlived.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from minihadoop.delegation import DelegationToken
from minihadoop.durable import replace_file
from minihadoop.errors import AccessControlError, AuthenticationError

RENEW_INTERVAL = 24 * 3600.0
GENUINE_CACHE = 4096  # token texts whose MAC held, remembered (a few hundred bytes each)


@functools.lru_cache(maxsize=GENUINE_CACHE)
def _genuine(text: str, key: bytes) -> DelegationToken:
    """`DelegationToken.decode`, remembered: a WebHDFS client sends the same token with
    every request, and its MAC, form and JSON cost ~10 us (a third of a stat's CPU) for the
    same answer each time. Only tokens whose MAC held are kept (a refusal raises, and
    lru_cache keeps no exception); whether one is live is asked every time (`live`)."""
    return DelegationToken.decode(text, key)


MAX_LIFETIME = 7 * 24 * 3600.0
FILE = "delegation-tokens.json"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks to renew or cancel: a user, and whether it is a superuser of the file
    system (who may renew or cancel anybody's token)."""

    user: str
    superuser: bool


class TokenStore:
    def __init__(
        self,
        directory: Path,
        key: bytes,
        *,
        renew_interval: float = RENEW_INTERVAL,
        max_lifetime: float = MAX_LIFETIME,
    ) -> None:
        self._path = directory / FILE
        self._key = key
        self.renew_interval = renew_interval
        self.max_lifetime = max_lifetime
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        if self._path.exists():
            self._expiry = {str(k): float(v) for k, v in json.loads(self._path.read_text()).items()}

    def issue(self, user: str, renewer: str, now: float) -> str:
        """A new live token, kept until it expires or is cancelled."""
        max_date = now + self.max_lifetime
        token = DelegationToken(secrets.token_hex(16), user, renewer, now, max_date)
        with self._lock:
            self._expiry[token.id] = min(now + self.renew_interval, max_date)
            self._save(now)
        return token.encode(self._key)

    def scoped(
        self,
        user: str,
        op: str,
        path: str,
        now: float,
        *,
        lifetime: float,
        parent: DelegationToken | None = None,
    ) -> str:
        """A redirect's token: `op` on `path` only, for `lifetime` at most, and no longer
        than `parent`; not kept (see the module's docstring)."""
        max_date = now + min(lifetime, self.max_lifetime)
        if parent is not None:
            max_date = min(max_date, self._expiry.get(parent.id, now))
        parent_id = parent.id if parent is not None else None
        token = DelegationToken(
            secrets.token_hex(16), user, user, now, max_date, (op,), path, parent_id
        )
        return token.encode(self._key)

    def check(self, text: str, now: float) -> DelegationToken:
        """The token, if genuine and live; else AuthenticationError."""
        return self.live(_genuine(text, self._key), now)

    def live(self, token: DelegationToken, now: float) -> DelegationToken:
        """`token` (whose MAC was checked) if it is still live; else AuthenticationError."""
        expiry = token.max_date if _is_scoped(token) else self._expiry.get(token.id)
        if token.parent is not None and token.parent not in self._expiry:
            expiry = None  # made from a token since cancelled (or expired)
        if expiry is None:
            raise AuthenticationError("the delegation token was cancelled or never issued")
        if now >= expiry:
            raise AuthenticationError("the delegation token has expired")
        return token

    def renew(self, text: str, caller: Caller, now: float) -> float:
        """Move the token's expiry on; answers the new expiry (seconds since the epoch)."""
        token = self.check(text, now)
        if _is_scoped(token):
            raise AccessControlError("a redirect's token cannot be renewed")
        if not caller.superuser and caller.user != token.renewer:
            raise AccessControlError(f"{caller.user} tried to renew a token for {token.renewer}")
        with self._lock:
            expiry = min(now + self.renew_interval, token.max_date)
            self._expiry[token.id] = expiry
            self._save(now)
        return expiry

    def cancel(self, text: str, caller: Caller, now: float) -> None:
        token = DelegationToken.decode(text, self._key)
        if not caller.superuser and caller.user not in (token.user, token.renewer):
            raise AccessControlError(f"{caller.user} tried to cancel a token of {token.user}")
        with self._lock:
            if self._expiry.pop(token.id, None) is None:
                raise AuthenticationError("the delegation token was cancelled or never issued")
            self._save(now)

    def __len__(self) -> int:
        return len(self._expiry)

    def _save(self, now: float) -> None:
        self._expiry = {k: v for k, v in self._expiry.items() if v > now}
        replace_file(self._path, json.dumps(self._expiry), mode=0o600)


def _is_scoped(token: DelegationToken) -> bool:
    return token.ops is not None and token.path is not None
