"""What the benchmarks share: the default run's explanation methods and a CPU-time minimum."""

from __future__ import annotations

import time
from collections.abc import Callable

from camrobust.cam.methods import PLACEBOS
from camrobust.config import schema_default

#: the default config's CAM methods without its two placebos (the nine explanations)
DEFAULT_EXPLANATIONS: tuple[str, ...] = tuple(
    m for m in schema_default("cam", "methods") if m not in PLACEBOS
)


def least_seconds(
    fn: Callable[[], object],
    repeats: int = 3,
    warm_up: bool = False,
    clock: Callable[[], float] = time.process_time,
) -> float:
    """The least time of `repeats` calls of fn() on `clock`, after one uncounted call with
    `warm_up`. The default clock is this process's CPU time: on a machine shared with other work
    the wall time of a single-threaded call varies with the load, its CPU time far less (a GPU's
    work needs the wall clock, `time.perf_counter`, with the device synchronised in fn)."""
    if warm_up:
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best
