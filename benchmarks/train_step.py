"""Milliseconds per training step of ERM, VAT, LVAT-VAE and LVAT-Glow, and their ratio to ERM.

Same classifier initialisation, same batch, supervised setting (the labeled batch is also the
unlabeled one), the loop's own `training_step`. Issue 4 targets on the CPU at the default sizes:
VAT <= 3.5x ERM, LVAT-VAE <= 4.5x ERM; LVAT-Glow is reported.

    python benchmarks/train_step.py [--device cpu|cuda] [--arch resnet18] [--width 0.25]
                                    [--batch 32] [--steps 20] [--paper-sizes]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from camrobust.config import validate_config
from camrobust.device import resolve_device
from camrobust.models import VAE, Glow, build_classifier
from camrobust.train.loop import training_step
from camrobust.train.regularizers import REGULARIZERS, get_regularizer
from camrobust.train.schedule import BETA1, BETA2

# Each regulariser's schema defaults, as a config naming it gets them.
REG_PARAMS = validate_config({"regularizers": {name: {} for name in REGULARIZERS}})["regularizers"]

# config/config.yaml (default) and config/paper.yaml (paper) generative sizes, see docs/training.md.
SMALL = {
    "vae": {"latent_dim": 32, "channels": (32, 64, 128)},
    "glow": {"scales": 2, "steps_per_scale": 4, "hidden": 32},
}
PAPER = {
    "vae": {"latent_dim": 128, "channels": (128, 256, 512)},
    "glow": {"scales": 3, "steps_per_scale": 22, "hidden": 128},
}
TARGETS = {"vat": 3.5, "lvat_vae": 4.5}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    name: str,
    model: torch.nn.Module,
    generative: torch.nn.Module | None,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    warmup: int,
) -> float:
    """Median milliseconds per training step of regulariser `name`."""
    reg = get_regularizer(name)
    params = reg.params(REG_PARAMS[name])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(BETA1, BETA2))
    noise = torch.Generator(device=x.device).manual_seed(0)
    times = []
    for i in range(warmup + steps):
        _sync(x.device)
        start = time.perf_counter()
        training_step(model, optimizer, reg, params, x, y, None, generative, noise)
        _sync(x.device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 1000.0 * sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--arch", default=None, help="default resnet18 (cnn13 with --paper-sizes)")
    parser.add_argument("--width", type=float, default=None, help="default 0.25 (1.0 paper)")
    parser.add_argument("--batch", type=int, default=None, help="default 32 (128 paper)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--paper-sizes", action="store_true", help="CNN-13, paper-size generators")
    args = parser.parse_args()
    paper = args.paper_sizes
    arch = args.arch or ("cnn13" if paper else "resnet18")
    width = args.width if args.width is not None else (1.0 if paper else 0.25)
    batch = args.batch or (128 if paper else 32)
    sizes = PAPER if paper else SMALL
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    torch.manual_seed(0)
    base = build_classifier(arch, 10, width=width).to(device).train()
    vae = VAE(**sizes["vae"], image_size=32).to(device).eval().requires_grad_(False)
    glow = Glow(**sizes["glow"]).to(device)
    with torch.no_grad():
        glow.encode(glow.dequantised(x))  # actnorm data-dependent initialisation
    glow.eval().requires_grad_(False)
    generative = {"erm": None, "vat": None, "lvat_vae": vae, "lvat_glow": glow}

    print(
        f"device {device} ({torch.get_num_threads()} threads), {arch} width {width}, "
        f"batch {batch}, {'paper' if paper else 'default'} generative sizes, "
        f"median of {args.steps} steps"
    )
    results = {}
    for name in REGULARIZERS:
        model = copy.deepcopy(base)
        results[name] = time_steps(name, model, generative[name], x, y, args.steps, args.warmup)
    erm = results["erm"]
    for name, ms in results.items():
        target = TARGETS.get(name)
        verdict = (
            ""
            if target is None
            else f"  target <= {target}x: " + ("met" if ms / erm <= target else "MISSED")
        )
        print(f"{name:10s} {ms:9.1f} ms/step  {ms / erm:5.2f}x ERM{verdict}")


if __name__ == "__main__":
    main()
