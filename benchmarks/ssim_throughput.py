"""SSIM pairs per second on 32×32 maps: batched torch vs a per-pair skimage loop (same process).

Usage: python benchmarks/ssim_throughput.py [--pairs 4096] [--reference-pairs 300] [--device cpu]
       [--threads N] [--repeats 5]
Without --threads, torch runs once with 1 thread and once with its default thread count; the
skimage loop is single-threaded either way. Each rate is the best of --repeats timed runs after a
warm-up, on the same maps for both sides. The issue's target is a ratio of at least 50×.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from skimage.metrics import structural_similarity
from timing import least_seconds

from camrobust.device import resolve_device
from camrobust.metrics import MEASURES, similarity


def best_rate(fn: Callable[[], None], pairs: int, repeats: int) -> float:
    """Pairs per second of the fastest of `repeats` timed runs (after one warm-up)."""
    return pairs / least_seconds(fn, repeats, warm_up=True, clock=time.perf_counter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4096, help="pairs in the torch batch")
    parser.add_argument("--reference-pairs", type=int, default=300, help="pairs in skimage loop")
    parser.add_argument("--size", type=int, default=32, help="map side")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: both 1 and the default)"
    )
    args = parser.parse_args()

    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    a = rng.random((args.pairs, args.size, args.size)).astype(np.float32)
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    ta, tb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def batched() -> None:
        similarity(ta, tb, ("ssim",))
        sync()

    def all_measures() -> None:
        similarity(ta, tb, MEASURES)
        sync()

    def reference() -> None:
        for i in range(args.reference_pairs):
            structural_similarity(
                a[i],
                b[i],
                data_range=1,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )

    default_threads = torch.get_num_threads()
    thread_counts = [args.threads] if args.threads else sorted({1, default_threads})
    ref_rate = best_rate(reference, args.reference_pairs, args.repeats)
    print(f"device {device}, {args.size}x{args.size} maps, {args.pairs} pairs per torch call")
    print(f"{'skimage per-pair loop':32s}: {ref_rate:12,.0f} pairs/s")
    ratios = []
    for threads in thread_counts:
        torch.set_num_threads(threads)
        torch_rate = best_rate(batched, args.pairs, args.repeats)
        all_rate = best_rate(all_measures, args.pairs, args.repeats)
        ratios.append((threads, torch_rate / ref_rate))
        label = f"torch, {threads} thread{'s' if threads > 1 else ''}"
        print(
            f"{label + ', batched SSIM':32s}: {torch_rate:12,.0f} pairs/s"
            f"  ({torch_rate / ref_rate:.1f}x)"
        )
        print(f"{label + f', all {len(MEASURES)} measures':32s}: {all_rate:12,.0f} pairs/s")
    torch.set_num_threads(default_threads)
    summary = ", ".join(f"{ratio:.1f}x with {threads} thread(s)" for threads, ratio in ratios)
    print(f"ratio SSIM torch / skimage: {summary} (target >= 50x)")


if __name__ == "__main__":
    main()
