"""The default partitioner: which reducer a map output key goes to.

Python's ``hash()`` of str and bytes is salted per process (PYTHONHASHSEED), so two map
tasks would send the same key to different reducers. `stable_hash` is instead a CRC-32
of a canonical, type-tagged encoding of the key: the same in every process, run and
machine.

What must hold: keys that are equal in Python go to the same reducer, since the reducer
groups equal keys. So ``1``, ``1.0`` and ``True`` hash alike (they are equal), while ``1``
and ``"1"``, or ``"a"`` and ``b"a"``, are tagged apart (they are not).
"""

from __future__ import annotations

import math
import struct
import zlib

# Type tags: the first byte of every canonical encoding.
_STR, _BYTES, _INT, _FLOAT, _NONE, _TUPLE, _REPR = b"s", b"b", b"i", b"f", b"n", b"t", b"r"
_STR_SEED = zlib.crc32(_STR)  # crc32(data, crc32(tag)) == crc32(tag + data), without a copy
_BYTES_SEED = zlib.crc32(_BYTES)
_INT_SEED = zlib.crc32(_INT)
_NAN = struct.pack("<d", math.nan)


def stable_hash(key: object) -> int:
    """A non-negative 32-bit hash of `key`, deterministic across processes and runs.

    Supported: str, bytes (and bytearray), int, float, bool, None, and tuples of these,
    nested. Numbers that are equal hash alike (``1 == 1.0 == True``), as do all NaNs.
    Any other object is hashed by its ``repr()``: stable only if that repr is (the default
    ``<Foo object at 0x7f...>`` is not), and equal objects with different reprs (e.g.
    ``Decimal("1.0")`` and ``Decimal("1")``) may then go to different reducers.
    """
    if type(key) is str:  # the common case, kept to one encode and one CRC
        return zlib.crc32(key.encode("utf-8", "surrogatepass"), _STR_SEED)
    if type(key) is int:
        return zlib.crc32(_int_bytes(key), _INT_SEED)
    if isinstance(key, bytes | bytearray):
        return zlib.crc32(key, _BYTES_SEED)
    parts: list[bytes] = []
    _encode(key, parts, nested=False)
    return zlib.crc32(b"".join(parts))


def default_partition(key: object, num_reducers: int) -> int:
    """The reducer, in ``0 .. num_reducers - 1``, that `key` goes to."""
    if num_reducers < 1:
        raise ValueError(f"num_reducers must be at least 1, not {num_reducers}")
    return stable_hash(key) % num_reducers


def _encode(key: object, out: list[bytes], *, nested: bool) -> None:
    """Append the canonical encoding of `key` to `out`.

    Inside a tuple (``nested``) variable-length payloads carry their length, so that
    ``("ab", "c")`` and ``("a", "bc")`` encode differently.
    """
    if isinstance(key, str):
        _tagged(_STR, key.encode("utf-8", "surrogatepass"), out, nested)
    elif isinstance(key, bytes | bytearray):
        _tagged(_BYTES, bytes(key), out, nested)
    elif isinstance(key, int):  # bool too: True == 1
        _tagged(_INT, _int_bytes(int(key)), out, nested)
    elif isinstance(key, float):
        if key.is_integer():  # 2.0 == 2 and -0.0 == 0: hash as the int
            _tagged(_INT, _int_bytes(int(key)), out, nested)
        else:
            out += (_FLOAT, _NAN if math.isnan(key) else struct.pack("<d", key))
    elif key is None:
        out.append(_NONE)
    elif isinstance(key, tuple):
        out += (_TUPLE, struct.pack("<Q", len(key)))
        for item in key:
            _encode(item, out, nested=True)
    else:
        _tagged(_REPR, repr(key).encode("utf-8", "surrogatepass"), out, nested)


def _tagged(tag: bytes, payload: bytes, out: list[bytes], nested: bool) -> None:
    if nested:
        out += (tag, struct.pack("<Q", len(payload)), payload)
    else:
        out += (tag, payload)


def _int_bytes(n: int) -> bytes:
    """Two's complement, little-endian, in the fewest whole bytes that hold the sign."""
    return n.to_bytes(n.bit_length() // 8 + 1, "little", signed=True)
