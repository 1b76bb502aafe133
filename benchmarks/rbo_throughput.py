"""Rank-biased overlap of N pairs of rankings: camrobust's vectorised RBO vs the `rbo` package.

Usage: python benchmarks/rbo_throughput.py [--pairs 10000] [--items 50] [--reference-pairs 2000]
       [--p 0.9] [--repeats 5] [--threads 1]
Both sides get the same random rankings without ties (the package has no tie handling); the
package's `RankingSimilarity(S, T).rbo_ext(p)` runs once per pair on `--reference-pairs` pairs
and its time is scaled to `--pairs`. Ours starts from the N×m scores (it sorts them itself). Each
time is the best of --repeats runs after a warm-up, as CPU time of this process (the machine may
be shared) and as wall time. A second line times ours on rankings with ties (a block of zero
scores, as a ReLU'd map gives), which take the tie-aware path. The issue's goal is 100×.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import rbo as rbo_package
import torch

from camrobust.metrics import rbo


def best_times(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """The fastest (CPU seconds, wall seconds) of `repeats` timed runs after one warm-up."""
    fn()
    cpu = wall = float("inf")
    for _ in range(repeats):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        fn()
        cpu = min(cpu, time.process_time() - start_cpu)
        wall = min(wall, time.perf_counter() - start_wall)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=50, help="m, the regions per ranking")
    parser.add_argument("--reference-pairs", type=int, default=2000, help="pairs for the package")
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    n, m = args.pairs, args.items
    a = torch.from_numpy(rng.random((n, m)))
    b = torch.from_numpy(rng.random((n, m)))
    counts = torch.full((n,), m)
    order_a = [list(o) for o in np.argsort(-a.numpy(), axis=1)[: args.reference_pairs]]
    order_b = [list(o) for o in np.argsort(-b.numpy(), axis=1)[: args.reference_pairs]]

    def ours() -> torch.Tensor:
        return rbo(a, b, counts, p=args.p)

    def package() -> list[float]:
        return [
            rbo_package.RankingSimilarity(s, t).rbo_ext(p=args.p)
            for s, t in zip(order_a, order_b, strict=True)
        ]

    gap = np.abs(ours()[: args.reference_pairs].numpy() - np.array(package())).max()
    cpu, wall = best_times(ours, args.repeats)
    scale = n / args.reference_pairs
    ref_cpu, ref_wall = (t * scale for t in best_times(package, max(1, args.repeats // 2)))
    print(f"{n} pairs of {m} items, p = {args.p}, torch threads {args.threads}")
    print(f"largest difference from the rbo package: {gap:.1e}")
    print(f"rbo package : {ref_cpu * 1e3:9.1f} ms CPU, {ref_wall * 1e3:9.1f} ms wall")
    print(f"camrobust   : {cpu * 1e3:9.1f} ms CPU, {wall * 1e3:9.1f} ms wall")
    print(f"ratio       : {ref_cpu / cpu:9.1f}x CPU, {ref_wall / wall:9.1f}x wall")

    tied_a = a.clone()
    tied_a[:, : m // 3] = 0.0  # a third of the regions tied at zero in one map of each pair
    tie_cpu, tie_wall = best_times(lambda: rbo(tied_a, b, counts, p=args.p), args.repeats)
    print(f"with ties   : {tie_cpu * 1e3:9.1f} ms CPU, {tie_wall * 1e3:9.1f} ms wall (ours)")


if __name__ == "__main__":
    main()
