"""What each CAM method adds to the engine's pass, and the peers' methods against pytorch-grad-cam.

For every method, the median wall time of the engine computing Grad-CAM plus that method, minus
Grad-CAM alone (one forward and one backward to the target layer): the method's marginal cost,
printed as a multiple of that shared pass. FullGrad (its own forward and backward through the
whole network), ShapleyCAM (a second backward) and KPCA-CAM (an eigendecomposition per image)
are also timed alone against pytorch-grad-cam 1.5.7's classes on the same model and batch. The
last line is the default config's nine methods with and without the two placebos. Examples:
    OMP_NUM_THREADS=1 python benchmarks/cam_method_cost.py   # the default run's ResNet-18 (×0.125)
    OMP_NUM_THREADS=1 python benchmarks/cam_method_cost.py --width 1 --batch 64 --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

import pytorch_grad_cam as pgc
import torch

from camrobust.cam import METHODS, compute_cams
from camrobust.device import resolve_device
from camrobust.models import build_classifier
from camrobust.names import TARGET_LAYERS
from camrobust.seeding import torch_generator

PEERS = {"fullgrad": pgc.FullGrad, "kpcacam": pgc.KPCA_CAM, "shapleycam": pgc.ShapleyCAM}
# config/config.yaml's methods, without and with the placebos
DEFAULT = (
    "gradcam", "gradcampp", "xgradcam", "hirescam", "gradcamelementwise", "layercam",
    "eigencam", "eigengradcam", "ablationcam",
)  # fmt: skip
PLACEBOS = ("randomcam", "sobelcam")


def engine(model: torch.nn.Module, layer: str, x: torch.Tensor, methods: tuple[str, ...]):
    """One engine call on the whole batch (seeded: RandomCAM may be among the methods)."""
    return lambda: compute_cams(model, layer, x, methods=methods, batch_size=len(x), seed=0)


def peer(model: torch.nn.Module, layer: str, x: torch.Tensor, name: str) -> Callable[[], None]:
    """pytorch-grad-cam's class for `name` on the same batch (FullGrad finds its own layers)."""
    target = [] if name == "fullgrad" else [model.get_submodule(layer)]

    def run() -> None:
        cam = PEERS[name](model, target)
        cam(input_tensor=x, targets=None)
        cam.activations_and_grads.release()

    return run


def paired(
    a: Callable[[], object], b: Callable[[], object], repeats: int, device: torch.device
) -> tuple[float, float]:
    """Least times of `a` and `b`, called alternately after a warm-up of each: on a shared
    machine the minimum is the stablest estimate, and alternating exposes both to the same
    load. CPU time of this process on the CPU (run it with one thread: OMP_NUM_THREADS=1),
    wall time on CUDA."""
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    best = [float("inf"), float("inf")]
    a(), b()
    for _ in range(repeats):
        for i, fn in enumerate((a, b)):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = clock()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best[i] = min(best[i], clock() - start)
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--width", type=float, default=0.125, help="ResNet-18 width multiplier")
    parser.add_argument("--batch", type=int, default=50, help="images (the default cam.batch_size)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = resolve_device(args.device)
    model = build_classifier("resnet18", 10, width=args.width, seed=0).eval().to(device)
    layer = TARGET_LAYERS["resnet18"]
    x = torch.rand(args.batch, 3, 32, 32, generator=torch_generator("bench-cost", args.batch))
    x = x.to(device)
    gradcam = engine(model, layer, x, ("gradcam",))
    shared, _ = paired(gradcam, gradcam, args.repeats, device)
    print(
        f"device={device} model=resnet18 width={args.width} layer={layer} batch={args.batch} "
        f"repeats={args.repeats} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    print(f"shared pass (Grad-CAM alone): {shared:.4f} s (fastest of {args.repeats})")
    print(f"{'method':20s} {'+ seconds':>10s} {'× shared':>9s}  pytorch-grad-cam (alone)")
    for name in METHODS:
        if name == "gradcam":
            continue
        alone, both = paired(
            gradcam, engine(model, layer, x, ("gradcam", name)), args.repeats, device
        )
        note = ""
        if name in PEERS:
            ours, theirs = paired(
                engine(model, layer, x, (name,)), peer(model, layer, x, name), args.repeats, device
            )
            note = f"ours {ours:.4f} s, pgc {theirs:.4f} s: {theirs / ours:.1f}× faster"
        extra = both - alone
        print(f"{name:20s} {extra:10.4f} {extra / alone:9.2f}  {note}")
    base, more = paired(
        engine(model, layer, x, DEFAULT),
        engine(model, layer, x, (*DEFAULT, *PLACEBOS)),
        args.repeats,
        device,
    )
    print(
        f"default's 9 methods {base:.4f} s; with randomcam and sobelcam {more:.4f} s "
        f"(×{more / base:.3f})"
    )


if __name__ == "__main__":
    main()
