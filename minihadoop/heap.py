"""A daemon's heap, out of the cycle collector's way.

CPython's collector walks every object of a generation it collects, and a full collection
walks them all while every thread stands still. A daemon keeps a large heap that never
forms garbage cycles (imported modules, the app, and for the namenode the namespace and the
block map), and builds large acyclic results in bursts (a listing of 10,000 files parsed into
models, a report of 1,000 replicas). With the default thresholds each burst sets off
collection after collection that walks it again as it grows, and full ones that walk the
rest: parsing the block locations of 10,000 files took 0.20 s in a daemon's heap, 0.08 s
with the heap settled, 0.05 s with no collector at all.
"""

from __future__ import annotations

import gc

# The young generation is collected every this many allocations (CPython's default: 700).
YOUNG_GC_THRESHOLD = 10_000


def settle() -> None:
    """Move every object alive now out of the collector's sight (`gc.freeze`), and collect
    the young generation less often; the collector on.

    Nothing leaks by it: a frozen object is still freed when its last reference goes; only
    a cycle among frozen objects would wait, and a daemon settles once what it has built is
    built (the namenode again when its image is loaded and when its block map is filled)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, 10, 10)
    gc.enable()
