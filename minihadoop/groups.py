"""Which groups a user belongs to, as the namenode sees it: HDFS's group mapping.

As HDFS's default (`ShellBasedUnixGroupsMapping`), a user's groups are its groups on the
namenode's machine (the password and group databases); a user the machine does not know
has none. `MINIHADOOP_USER_GROUPS` overrides them per user, in the form of Hadoop's
`hadoop.user.group.static.mapping.overrides`: ``alice=analysts,staff;bob=`` (bob: none).
Answers are kept for five minutes, as HDFS caches them (`hadoop.security.groups.cache.secs`).
"""

from __future__ import annotations

import grp
import os
import pwd
import threading
import time
from collections.abc import Callable

from minihadoop.errors import IllegalArgumentError

CACHE_SECONDS = 300.0


def _name_ok(name: str) -> bool:
    bare = name.replace("-", "").replace("_", "").replace(".", "")
    return 0 < len(name) <= 64 and bare.isascii() and bare.isalnum()


def parse_overrides(text: str) -> dict[str, frozenset[str]]:
    """``alice=analysts,staff;bob=`` -> {"alice": {"analysts", "staff"}, "bob": {}}."""
    found: dict[str, frozenset[str]] = {}
    for entry in text.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        user, eq, groups = entry.partition("=")
        names = [g.strip() for g in groups.split(",") if g.strip()]
        if not eq or not _name_ok(user.strip()) or not all(_name_ok(g) for g in names):
            raise IllegalArgumentError(
                f"bad user-to-groups entry {entry[:80]!r}: write user=group,group;user2=…"
            )
        found[user.strip()] = frozenset(names)
    return found


def system_groups(user: str) -> frozenset[str]:
    """`user`'s groups on this machine; none for a user it does not know."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return frozenset()
    names = set()
    for gid in os.getgrouplist(user, entry.pw_gid):
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return frozenset(names)


class GroupMapping:
    def __init__(
        self,
        overrides: str = "",
        lookup: Callable[[str], frozenset[str]] = system_groups,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.overrides = parse_overrides(overrides)
        self._lookup = lookup
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def groups(self, user: str) -> frozenset[str]:
        if user in self.overrides:
            return self.overrides[user]
        now = self._clock()
        with self._lock:
            cached = self._cache.get(user)
            if cached is not None and now - cached[0] < CACHE_SECONDS:
                return cached[1]
        found = self._lookup(user)
        with self._lock:
            if len(self._cache) > 10_000:  # names are the caller's to choose: stay bounded
                self._cache.clear()
            self._cache[user] = (now, found)
        return found


def account(name: str, what: str) -> str:
    """A user or group name: ASCII letters, digits, `-`, `_` and `.`, at most 64 of them
    (no look-alike letters from other scripts)."""
    bare = name.replace("-", "").replace("_", "").replace(".", "")
    if len(name) > 64 or not bare.isascii() or not bare.isalnum():
        raise IllegalArgumentError(f"invalid {what} {name[:100]!r}")
    return name
