"""Extended attributes' values as WebHDFS and `hdfs dfs -getfattr` write them (HDFS's
XAttrCodec): text in double quotes, hex as ``0x…``, base64 as ``0s…``."""

from __future__ import annotations

import base64

from minihadoop.errors import IllegalArgumentError


def encode_value(value: bytes, encoding: str | None) -> str:
    """A value as WebHDFS shows it: text in double quotes, hex as 0x…, base64 as 0s…."""
    match (encoding or "text").lower():
        case "text":
            return '"' + value.decode("utf-8", errors="replace") + '"'
        case "hex":
            return "0x" + value.hex()
        case "base64":
            return "0s" + base64.b64encode(value).decode()
    raise IllegalArgumentError(f"invalid encoding {encoding!r} (text, hex or base64)")


def decode_value(text: str) -> bytes:
    """A value as WebHDFS takes it (HDFS's XAttrCodec): 0x… hex, 0s… base64, "…" text,
    anything else the text itself."""
    try:
        if text[:2].lower() == "0x":
            return bytes.fromhex(text[2:])
        if text[:2].lower() == "0s":
            return base64.b64decode(text[2:], validate=True)
    except ValueError:
        raise IllegalArgumentError(f"invalid XAttr value {text[:40]!r}") from None
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text.encode()
