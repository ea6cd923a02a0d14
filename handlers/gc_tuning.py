"""Python's cyclic garbage collector, tuned once per popcycle process.

The read side decodes thousands of events a second into short-lived dicts and tuples, and the
command side builds a state per command: many container objects, next to no reference cycles
(refcounting frees nearly all of them). With CPython's default threshold a young collection runs
every 700 net allocations, and every tenth one also walks the middle generation — over and
over, finding nothing. A young threshold of 50 000 allocations makes those passes rare while
the collector still runs (cycles are still freed, just later; what waits meanwhile is bounded
by the threshold).

Measured on the 100k-event bench log, fresh processes alternating with and without it, 3
rounds: rebuild 1.19x and catch-up from 0 1.22x the events per second, 0.82-0.84 of the CPU,
peak memory +1 MB (bench/README.md, `bench.projections`).
"""

from __future__ import annotations

import gc

#: Net container allocations between two young collections (CPython's default: 700).
YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Raise the young generation's threshold; the older ones keep their defaults. Idempotent."""
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
