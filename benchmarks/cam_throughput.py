"""CAM throughput: our one-pass engine against pytorch-grad-cam and torch-cam, same model/batch.

Prints median wall times and ratios to a bare no-grad forward and to each peer. Examples:
    python benchmarks/cam_throughput.py --device cpu --batch 64 --repeats 3
    python benchmarks/cam_throughput.py --model vit_b_16 --batch 4 --repeats 1
The ViT-B/16 and ResNet-50 cases (224 pixels, random weights) compare the seven gradient methods
only, against pytorch-grad-cam given its reshape_transform for tokens (torch-cam has no token
layout); on CUDA they also print the peak GPU memory of ours.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable

import pytorch_grad_cam as pgc
import torch
import torchvision
from torch import nn

from camrobust.cam import compute_cams, normalize_maps
from camrobust.device import resolve_device
from camrobust.seeding import torch_generator

SEVEN = ("gradcam", "gradcampp", "xgradcam", "hirescam", "layercam", "eigencam", "eigengradcam")
PGC = {
    "gradcam": pgc.GradCAM,
    "gradcampp": pgc.GradCAMPlusPlus,
    "xgradcam": pgc.XGradCAM,
    "hirescam": pgc.HiResCAM,
    "layercam": pgc.LayerCAM,
    "eigencam": pgc.EigenCAM,
    "eigengradcam": pgc.EigenGradCAM,
}


def torchcam_four() -> tuple[type, ...]:
    """torch-cam's four gradient methods (imported here: the ViT case does not need torch-cam)."""
    import torchcam.methods as tcm

    return (tcm.GradCAM, tcm.GradCAMpp, tcm.XGradCAM, tcm.LayerCAM)


def resnet18_cifar(classes: int = 10) -> nn.Module:
    """torchvision ResNet-18 with the CIFAR stem (3×3 stride-1 conv, no max-pool)."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=classes)
    model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model.eval()


def vit_b_16(classes: int = 1000) -> nn.Module:
    """torchvision ViT-B/16 at 224 pixels, random weights (nothing is downloaded)."""
    torch.manual_seed(0)
    return torchvision.models.vit_b_16(weights=None, num_classes=classes).eval()


def vit_tokens_to_grid(tokens: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam's reshape_transform for ViT-B/16 at 224: drop the class token, 14×14."""
    n, _, c = tokens.shape
    return tokens[:, 1:, :].reshape(n, 14, 14, c).permute(0, 3, 1, 2)


def resnet50(classes: int = 1000) -> nn.Module:
    """torchvision ResNet-50 at 224 pixels, random weights (nothing is downloaded)."""
    torch.manual_seed(0)
    return torchvision.models.resnet50(weights=None, num_classes=classes).eval()


# The 224-pixel cases: the network, its CAM layer, pytorch-grad-cam's reshape_transform.
IMAGENET_CASES: dict[str, tuple[Callable[[], nn.Module], str, Callable | None]] = {
    "vit_b_16": (vit_b_16, "encoder.layers.encoder_layer_11.ln_1", vit_tokens_to_grid),
    "resnet50": (resnet50, "layer4", None),
}


def imagenet_case(args: argparse.Namespace, device: torch.device) -> None:
    """Seven gradient methods on a 224-pixel ImageNet network: ours against pytorch-grad-cam
    (given the reshape_transform a token layout needs), one process; peak GPU memory on CUDA."""
    build, layer_name, reshape = IMAGENET_CASES[args.model]
    model = build().to(device)
    layer = model.get_submodule(layer_name)
    x = torch.rand(args.batch, 3, 224, 224, generator=torch_generator("bench-vit", args.batch))
    x = x.to(device)

    def bare() -> None:
        with torch.no_grad():
            model(x)

    def pgc_seven() -> None:
        for cls in PGC.values():
            cam = cls(model, [layer], reshape_transform=reshape)
            cam(input_tensor=x, targets=None)
            cam.activations_and_grads.release()

    def ours_seven() -> None:
        compute_cams(model, layer_name, x, methods=SEVEN, batch_size=args.batch)

    t_bare = timed(bare, args.repeats, device)
    t_pgc = timed(pgc_seven, args.repeats, device)
    t_ours = timed(ours_seven, args.repeats, device)
    peak = peak_mb(ours_seven, device)
    print(
        f"device={device} model={args.model}@224 layer={layer_name} batch={args.batch} "
        f"repeats={args.repeats} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    print(f"{'what':42s} {'seconds':>9s} {'× bare fwd':>11s}  speed-up")
    print(f"{'bare no-grad forward':42s} {t_bare:9.4f} {1.0:11.1f}")
    label = "pytorch-grad-cam, 7 methods" + (" (reshape)" if reshape else "")
    print(f"{label:42s} {t_pgc:9.4f} {t_pgc / t_bare:11.1f}")
    print(
        f"{'ours, 7 at once':42s} {t_ours:9.4f} {t_ours / t_bare:11.1f}  {t_pgc / t_ours:.1f}× pgc"
    )
    if peak is not None:
        print(f"peak GPU memory, ours 7 at once: {peak:.0f} MB")


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of `fn` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mb(fn: Callable[[], object], device: torch.device) -> float | None:
    """Peak CUDA memory (MB) allocated while running `fn`; None on CPU."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument(
        "--model", default="resnet18-cifar", choices=("resnet18-cifar", *IMAGENET_CASES)
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layer", default="layer4")
    parser.add_argument(
        "--perturb-images",
        type=int,
        default=4,
        help="images for the ScoreCAM/AblationCAM comparison (pytorch-grad-cam is slow there)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = resolve_device(args.device)
    if args.model in IMAGENET_CASES:
        imagenet_case(args, device)
        return
    model = resnet18_cifar().to(device)
    x = torch.rand(args.batch, 3, 32, 32, generator=torch_generator("bench", args.batch))
    x = x.to(device)
    layer = model.get_submodule(args.layer)
    xp = x[: args.perturb_images]

    def bare() -> None:
        with torch.no_grad():
            model(x)

    def pgc_seven() -> None:
        for cls in PGC.values():
            cam = cls(model, [layer])
            cam(input_tensor=x, targets=None)
            cam.activations_and_grads.release()

    torchcam_classes = torchcam_four()

    def torchcam_run() -> None:
        for cls in torchcam_classes:
            with cls(model, target_layer=args.layer, input_shape=(3, 32, 32)) as extractor:
                out = model(x)
                extractor(out.argmax(1).tolist(), out)

    def ours_seven() -> None:
        compute_cams(model, args.layer, x, methods=SEVEN, batch_size=args.batch)

    def ours_seven_normalized() -> None:
        res = compute_cams(model, args.layer, x, methods=SEVEN, batch_size=args.batch)
        for maps in res.maps.values():
            normalize_maps(maps, size=(32, 32))

    def pgc_method(cls: type) -> Callable[[], None]:
        def run() -> None:
            cam = cls(model, [layer])
            cam(input_tensor=xp, targets=None)
            cam.activations_and_grads.release()

        return run

    def ours_method(name: str) -> Callable[[], None]:
        return lambda: compute_cams(model, args.layer, xp, methods=(name,))

    rows: list[tuple[str, float, str]] = []
    t_bare = timed(bare, args.repeats, device)
    t_pgc = timed(pgc_seven, args.repeats, device)
    t_tc = timed(torchcam_run, args.repeats, device)
    t_ours = timed(ours_seven, args.repeats, device)
    t_ours_n = timed(ours_seven_normalized, args.repeats, device)
    rows.append(("bare no-grad forward", t_bare, ""))
    rows.append(("pytorch-grad-cam, 7 methods", t_pgc, ""))
    rows.append(("torch-cam, 4 methods", t_tc, ""))
    rows.append(
        ("ours, 7 at once", t_ours, f"{t_pgc / t_ours:.1f}× pgc, {t_tc / t_ours:.1f}× tcam")
    )
    rows.append(
        (
            "ours, 7 + normalize",
            t_ours_n,
            f"{t_pgc / t_ours_n:.1f}× pgc, {t_tc / t_ours_n:.1f}× tcam",
        )
    )

    perturb_repeats = max(1, args.repeats // 2)
    xb = x[: args.perturb_images]
    with torch.no_grad():
        model(xb)
    t_bare_p = timed(lambda: model(xb).detach(), args.repeats, device)
    for name, cls in (("scorecam", pgc.ScoreCAM), ("ablationcam", pgc.AblationCAM)):
        t_peer = timed(pgc_method(cls), perturb_repeats, device)
        t_mine = timed(ours_method(name), perturb_repeats, device)
        rows.append((f"pytorch-grad-cam {name} ({len(xp)} img)", t_peer, ""))
        mem = peak_mb(ours_method(name), device)
        peer_mem = peak_mb(pgc_method(cls), device)
        mem_note = "" if mem is None else f", peak {mem:.0f} MB vs {peer_mem:.0f} MB"
        rows.append(
            (f"ours {name} ({len(xp)} img)", t_mine, f"{t_peer / t_mine:.1f}× pgc{mem_note}")
        )

    print(
        f"device={device} model=resnet18-cifar layer={args.layer} batch={args.batch} "
        f"repeats={args.repeats} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    print(f"{'what':42s} {'seconds':>9s} {'× bare fwd':>11s}  speed-up")
    for name, seconds, note in rows:
        base = t_bare_p if "img)" in name else t_bare
        print(f"{name:42s} {seconds:9.4f} {seconds / base:11.1f}  {note}")


if __name__ == "__main__":
    main()
