"""Avg-Sensitivity throughput: our one-pass engine against Quantus + pytorch-grad-cam, same inputs.

Both sides evaluate Avg-Sensitivity with N perturbed copies per image for the seven gradient
methods on the default config's classifier (ResNet-18, width 0.125, 32×32), in one process.
Quantus re-explains every copy with pytorch-grad-cam, one method at a time; ours explains all
copies for all methods in one engine pass per batch. `--quantus-images` times Quantus on fewer
images (it is slow) and compares seconds per image. Then prints seconds per image for each of
the eleven methods alone and all together. Example:
    python benchmarks/sensitivity_throughput.py --images 100 --samples 50 --quantus-images 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pytorch_grad_cam as pgc
import quantus
import torch
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from camrobust.cam import METHODS
from camrobust.cam.methods import GRADIENT_METHODS
from camrobust.device import resolve_device
from camrobust.models.registry import build_classifier, default_target_layer
from camrobust.quality.sensitivity import sensitivity
from camrobust.seeding import torch_generator

SEVEN = tuple(m for m in METHODS if m in GRADIENT_METHODS)
#: pytorch-grad-cam's classes by their lower-case name; only Grad-CAM++ is spelt differently
PGC = {cls.__name__.lower(): cls for cls in vars(pgc).values() if isinstance(cls, type)}
PGC["gradcampp"] = pgc.GradCAMPlusPlus


def pgc_explainer(method: str, layer: str):
    """Quantus' explain_func: pytorch-grad-cam's maps for the given targets."""

    def explain(model, inputs, targets, device=None, **kwargs) -> np.ndarray:
        cam = PGC[method](model, [model.get_submodule(layer)])
        try:
            x = torch.as_tensor(inputs, device=device)
            return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
        finally:
            cam.activations_and_grads.release()

    return explain


def quantus_avg_sensitivity(model, layer, method, x, targets, args) -> tuple[float, np.ndarray]:
    """Seconds and scores of Quantus' AvgSensitivity with pytorch-grad-cam explanations."""
    metric = quantus.AvgSensitivity(
        nr_samples=args.samples, lower_bound=args.radius, disable_warnings=True
    )
    start = time.perf_counter()
    scores = metric(
        model=model,
        x_batch=x.cpu().numpy(),
        y_batch=targets,
        explain_func=pgc_explainer(method, layer),
        device=str(x.device),
        batch_size=64,
    )
    return time.perf_counter() - start, np.asarray(scores)


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--radius", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=256, help="copies per engine batch (ours)")
    parser.add_argument("--quantus-images", type=int, default=None, help="default: --images")
    parser.add_argument("--all-methods-images", type=int, default=4)
    args = parser.parse_args()
    device = resolve_device(args.device)
    model = build_classifier("resnet18", width=0.125, seed=0).eval().to(device)
    layer = default_target_layer("resnet18")
    x = torch.rand(args.images, 3, 32, 32, generator=torch_generator("bench", "sensitivity"))
    x = x.to(device)
    n_q = args.quantus_images or args.images
    opts = {"n_samples": args.samples, "radius": args.radius, "batch_size": args.batch}

    sensitivity(model, layer, x[:2], SEVEN, **{**opts, "n_samples": 2})  # warm-up
    result = {}
    t_ours = seconds(lambda: result.update(r=sensitivity(model, layer, x, SEVEN, **opts)))
    ours = result["r"]

    t_quantus, agree = 0.0, []
    for method in SEVEN:
        t, scores = quantus_avg_sensitivity(model, layer, method, x[:n_q], ours.targets[:n_q], args)
        t_quantus += t
        # Different noise draws: the two estimates agree only in distribution.
        mine = ours.scores[method]["avg_sensitivity"]
        agree.append(f"{method} {np.mean(scores):.3f}/{np.mean(mine):.3f}")

    per_ours, per_q = t_ours / args.images, t_quantus / n_q
    print(
        f"device={device} model=resnet18 width=0.125 layer={layer} N={args.samples} "
        f"r={args.radius} batch={args.batch} threads={torch.get_num_threads()} "
        f"torch={torch.__version__} quantus={quantus.__version__}"
    )
    print(f"Avg-Sensitivity, the seven gradient methods ({', '.join(SEVEN)}):")
    print(f"  ours:    {args.images:4d} images {t_ours:9.2f} s  {per_ours:8.4f} s/image")
    print(f"  quantus: {n_q:4d} images {t_quantus:9.2f} s  {per_q:8.4f} s/image")
    print(f"  speed-up: {per_q / per_ours:.1f}× (target ≥ 50×)")
    print("  mean Avg-Sensitivity quantus/ours: " + "; ".join(agree))

    xa = x[: args.all_methods_images]
    print(f"ours, seconds per image (N={args.samples}, {len(xa)} images, all five metrics):")
    for method in METHODS:
        t = seconds(lambda method=method: sensitivity(model, layer, xa, [method], **opts))
        print(f"  {method:20s} {t / len(xa):8.4f}")
    t_all = seconds(lambda: sensitivity(model, layer, xa, METHODS, **opts))
    print(f"  {'all at once':20s} {t_all / len(xa):8.4f}")


if __name__ == "__main__":
    main()
