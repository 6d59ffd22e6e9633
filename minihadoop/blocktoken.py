"""Block access tokens, as HDFS's: the namenode's leave to read one block, for a while.

A reader that does not hold the cluster token (allowed to read under the `open` read
policy) gets a token for each block with the block's locations, and only after the
namenode has checked that the reader may read the file. A datanode serves such a reader a
block only with a token for that block that has not expired, so read permissions hold at
the datanodes too: a block id, which anyone can guess, is not enough. Callers signed with
the cluster token need none.

A token is ``<block id>.<expiry, unix seconds>.<hex HMAC-SHA256 of both>`` under the key
every holder of the cluster token derives (`Keys.block`): the namenode makes it, any
datanode checks it, and nobody else can make one.
"""

from __future__ import annotations

import hashlib
import hmac

from minihadoop.errors import AuthenticationError

LIFETIME = 10 * 3600.0  # HDFS's dfs.block.access.token.lifetime: 600 minutes


def make(key: bytes, block_id: int, now: float, lifetime: float = LIFETIME) -> str:
    expiry = int(now + lifetime)
    return f"{block_id}.{expiry}.{_mac(key, block_id, expiry)}"


def check(key: bytes, text: str | None, block_id: int, now: float) -> None:
    """AuthenticationError unless `text` is a live token for `block_id`."""
    if not text:
        raise AuthenticationError(
            f"reading block {block_id} needs the cluster token or a block access token"
        )
    parts = text.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise AuthenticationError("not a block access token")
    token_block, expiry = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2], _mac(key, token_block, expiry)):
        raise AuthenticationError("the block access token is not genuine")
    if token_block != block_id:
        raise AuthenticationError(f"the block access token is for another block than {block_id}")
    if now >= expiry:
        raise AuthenticationError("the block access token has expired; ask the namenode again")


def _mac(key: bytes, block_id: int, expiry: int) -> str:
    return hmac.new(key, f"{block_id}.{expiry}".encode(), hashlib.sha256).hexdigest()
