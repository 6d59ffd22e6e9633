"""A daemon's heap, out of the cycle collector's way.

CPython's collector walks every object of a generation it collects, and a full collection
walks them all while every thread stands still. A daemon keeps a large heap that never
forms garbage cycles (imported modules, the app, and for the namenode the namespace and the
block map), and builds large acyclic results in bursts (a listing of 10,000 files parsed into
models, a report of 1,000 replicas). Each burst sets off full collections that walk the
rest of the heap again: parsing the block locations of 10,000 files took 0.20 s in a
daemon's heap, 0.10 s with the heap frozen, 0.05 s with no collector at all; a namenode's
full collection at 333,000 blocks stood every thread, heartbeats included, still for
0.25-0.5 s.
"""

from __future__ import annotations

import gc

# The namenode's young generation is collected every this many allocations (CPython's
# default: 700): a report of 1,000 replicas parses into 1,000 objects.
YOUNG_GC_THRESHOLD = 10_000


def settle(young: int | None = None) -> None:
    """Move every object alive now out of the collector's sight (`gc.freeze`), and, given
    `young`, collect the young generation every `young` allocations; the collector on.

    Nothing leaks by it: a frozen object is still freed when its last reference goes; only
    a cycle among frozen objects would wait, and a daemon settles once what it has built is
    built (the namenode again when its image is loaded and when its block map is filled).
    A daemon that is not the namenode keeps the default young threshold: garbage cycles
    made per request (an error's traceback holding its request's body) are collected as
    soon as before, not after 10,000 allocations."""
    gc.collect()
    gc.freeze()
    if young is not None:
        gc.set_threshold(young, 10, 10)
    gc.enable()
