"""Rank-biased overlap of N pairs of rankings: camrobust's vectorised RBO vs the `rbo` package.

Usage: python benchmarks/rbo_throughput.py [--pairs 10000] [--items 50] [--reference-pairs 2000]
       [--p 0.9] [--repeats 11] [--threads 1]
Both sides get the same random rankings without ties (the package has no tie handling); the
package's `RankingSimilarity(S, T).rbo_ext(p)` runs once per pair on `--reference-pairs` pairs
and its time is scaled to `--pairs`. Ours starts from the N×m scores of both maps of every pair
(it ranks them itself: nothing is reused between pairs; below 256 pairs it takes the exact
path). The timed functions take turns for --repeats rounds after a warm-up, and each time is the
median over the rounds, as CPU time of this process (the machine may be shared) and as wall
time. Also timed: the exact path alone (a float sort per ranking; ties and GPUs take it, and so
did every pair before the sort keys), and ours on rankings with ties (a block of zero scores, as
a ReLU'd map gives), which take the tie-aware exact path. The issue's goal is 100×.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import rbo as rbo_package
import torch

from camrobust.metrics import rbo
from camrobust.metrics.rbo import _exact_rbo


def median_times(
    fns: dict[str, Callable[[], object]], repeats: int
) -> dict[str, tuple[float, float]]:
    """Per function, the median (CPU seconds, wall seconds) of `repeats` timed runs after one
    warm-up, the functions taking turns so that a change in the machine's load hits them alike."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            fn()
            times[name].append((time.process_time() - start_cpu, time.perf_counter() - start_wall))
    return {name: tuple(np.median(np.array(t), axis=0)) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=50, help="m, the regions per ranking")
    parser.add_argument("--reference-pairs", type=int, default=2000, help="pairs for the package")
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=11)
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

    tied_a = a.clone()
    tied_a[:, : m // 3] = 0.0  # a third of the regions tied at zero in one map of each pair
    gap = np.abs(ours()[: args.reference_pairs].numpy() - np.array(package())).max()
    exact_gap = (ours() - _exact_rbo(a, b, counts, args.p)).abs().max().item()
    times = median_times(
        {
            "package": package,
            "ours": ours,
            "exact": lambda: _exact_rbo(a, b, counts, args.p),
            "ties": lambda: rbo(tied_a, b, counts, p=args.p),
        },
        args.repeats,
    )
    scale = n / args.reference_pairs
    ref_cpu, ref_wall = (t * scale for t in times["package"])
    print(f"{n} pairs of {m} items, p = {args.p}, torch threads {args.threads}, "
          f"median of {args.repeats} rounds")  # fmt: skip
    print(f"largest difference from the rbo package: {gap:.1e}, from the exact path: "
          f"{exact_gap:.1e}")  # fmt: skip
    print(f"rbo package : {ref_cpu * 1e3:9.1f} ms CPU, {ref_wall * 1e3:9.1f} ms wall")
    for name, label in (("ours", "camrobust  "), ("exact", "exact path ")):
        cpu, wall = times[name]
        print(f"{label} : {cpu * 1e3:9.1f} ms CPU, {wall * 1e3:9.1f} ms wall, "
              f"{ref_cpu / cpu:6.1f}x CPU, {ref_wall / wall:6.1f}x wall")  # fmt: skip
    tie_cpu, tie_wall = times["ties"]
    print(f"with ties   : {tie_cpu * 1e3:9.1f} ms CPU, {tie_wall * 1e3:9.1f} ms wall (ours)")


if __name__ == "__main__":
    main()
