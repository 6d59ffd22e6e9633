"""A helper module imported by examples/topwords.py: shipped to workers with the job."""

from __future__ import annotations

import heapq
from collections.abc import Iterable


def top(pairs: Iterable[tuple[int, str]], k: int) -> list[tuple[int, str]]:
    """The k largest (count, word) pairs, largest first; ties broken by word."""
    return heapq.nlargest(k, pairs, key=lambda p: (p[0], [-ord(c) for c in p[1]]))
