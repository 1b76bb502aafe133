"""Cost of the explanation attack per image and step, against one CAM computation of the method.

Reference: `compute_cams` of the same method on the same images, timed in the same process (the
attack's unit of work is one CAM computation: each step adds the surrogate's double backward and
one real CAM computation of the stored iterate), so the printed ratio depends less on the machine
than the absolute times. Defaults: the default run's classifier (ResNet-18 at width 0.125,
random weights) on `--n` shapes images, the schema's attack options, one torch thread.

    python benchmarks/explanation_attack.py [--n 100] [--steps 10] [--methods gradcam ...]

The closing line estimates the attack's share of a run: `--models` models × the methods × one
budget, each job costing its attack time (process start and model loading not included).
"""

from __future__ import annotations

import argparse
import time

import torch
from timing import DEFAULT_EXPLANATIONS

from camrobust.cam import compute_cams
from camrobust.config import schema_defaults
from camrobust.data.shapes import make_shapes
from camrobust.data.tensors import to_model_input
from camrobust.explanation_names import attacked_methods
from camrobust.models import build_classifier
from camrobust.noise.explanation import explanation_attack
from camrobust.noise.settings import ExplanationAttackSettings


def _best_of(repeats: int, run) -> float:
    """The fastest of `repeats` runs, in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="images (the default run's n_eval)")
    parser.add_argument("--steps", type=int, default=None, help="attack steps (schema default)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_EXPLANATIONS))
    parser.add_argument("--models", type=int, default=12, help="models for the run estimate")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5, help="CAM timings (the best counts)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = schema_defaults("explanation_attack")
    options.pop("eps", None)
    if args.steps is not None:
        options["steps"] = args.steps
    torch.manual_seed(0)
    model = build_classifier("resnet18", 10, width=0.125).eval()
    images = make_shapes(args.n, size=32, seed=0)["images"]
    x = to_model_input(images, "cpu")
    compute_cams(model, "layer4", x, args.methods[:1], batch_size=args.n)  # warm-up
    print(f"{args.n} images, {options['steps']} steps, {args.threads} thread(s): {options}")
    print(f"{'method':<20}{'CAM (s)':>9}{'attack (s)':>12}{'ms/image/step':>15}{'ratio':>8}")
    total = 0.0
    for method in attacked_methods(args.methods):
        cam = _best_of(
            args.repeats, lambda m=method: compute_cams(model, "layer4", x, [m], batch_size=args.n)
        )
        settings = ExplanationAttackSettings(
            method, 8, **options, target_layer="layer4", layout=None, prefix_tokens=None,
            batch_size=args.n, device="cpu",
        )  # fmt: skip
        attack = _best_of(
            1, lambda s=settings: explanation_attack(model, images, s, progress=False)
        )
        per_step = attack / options["steps"]
        total += attack
        print(
            f"{method:<20}{cam:>9.3f}{attack:>12.2f}{1000 * per_step / args.n:>15.2f}"
            f"{per_step / cam:>8.1f}"
        )
    print(
        f"run estimate: {args.models} models x {len(attacked_methods(args.methods))} methods x "
        f"1 budget = {args.models * total / 60:.1f} CPU-minutes of attacks on one thread"
    )


if __name__ == "__main__":
    main()
