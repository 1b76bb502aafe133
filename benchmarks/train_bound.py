"""Training steps against the machine's bound: measured time, FLOPs, and their ratio.

Per regulariser: the median time of one training step on one thread (the loop's own
`training_step`, the default config's architecture, batch and generative sizes), its FLOPs
(`torch.utils.flop_counter`: matrix products and convolutions, forward and backward), and the
bound = FLOPs / the rate one core reaches on a 512×512 float32 matrix product, measured in the
same process. "measured / bound" says how far a step is from the hardware's limit. Then the whole
default run's classifier training: its FLOPs (steps × models) against two cores at that rate.

    python benchmarks/train_bound.py [--steps 20] [--config config/config.yaml]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from camrobust.config import load_yaml, validate_config
from camrobust.models import VAE, Glow, build_classifier
from camrobust.train.layout import cpu_training_format
from camrobust.train.loop import training_step
from camrobust.train.regularizers import get_regularizer
from camrobust.train.schedule import BETA1, BETA2


def matmul_gflops(size: int = 512, repeats: int = 30) -> float:
    """GFLOP/s of one thread on a size×size float32 matrix product (median of `repeats`)."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    for _ in range(5):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size**3 / sorted(times)[repeats // 2] / 1e9


def generative_models(config: dict, x: torch.Tensor) -> dict[str, torch.nn.Module | None]:
    """The default config's VAE and Glow at their sizes, untrained (cost, not quality)."""
    vae_cfg, glow_cfg = config["generative"]["vae"], config["generative"]["glow"]
    vae = VAE(latent_dim=vae_cfg["latent_dim"], channels=vae_cfg["channels"], image_size=32)
    glow = Glow(
        scales=glow_cfg["scales"],
        steps_per_scale=glow_cfg["steps_per_scale"],
        hidden=glow_cfg["hidden"],
    )
    with torch.no_grad():
        glow.encode(glow.dequantised(x))  # actnorm data-dependent initialisation
    frozen = {k: m.eval().requires_grad_(False) for k, m in {"vae": vae, "glow": glow}.items()}
    return {"erm": None, "vat": None, "lvat_vae": frozen["vae"], "lvat_glow": frozen["glow"]}


def step_cost(name, base, generative, params, x, y, steps: int) -> tuple[float, float]:
    """(median seconds, FLOPs) of one training step of regulariser `name`."""
    model = copy.deepcopy(base)
    model.to(memory_format=cpu_training_format(model))
    reg = get_regularizer(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(BETA1, BETA2))
    noise = torch.Generator().manual_seed(0)

    def step() -> None:
        training_step(model, optimizer, reg, params, x, y, None, generative, noise)

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times[2:])[steps // 2], float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = validate_config(load_yaml(args.config))
    ((arch, arch_cfg),) = config["architectures"].items()
    sched = config["training"]
    batch = sched["batch_labeled"]
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    base = build_classifier(arch, 10, width=arch_cfg["width"], seed=0).train()
    generative = generative_models(config, x)
    rate = matmul_gflops()
    print(
        f"torch {torch.__version__}, CPU {torch.backends.cpu.get_cpu_capability()}, one thread: "
        f"{rate:.1f} GFLOP/s on a 512x512 matmul; {arch} width {arch_cfg['width']}, batch {batch}"
    )
    header = ("regulariser", "ms/step", "GFLOP", "bound ms", "measured/bound")
    print("{:11s} {:>8s} {:>7s} {:>9s} {:>14s}".format(*header))
    steps_per_model = sched["epochs"] * sched["iters_per_epoch"]
    total_flops = 0.0
    for name, params in config["regularizers"].items():
        seconds, flops = step_cost(name, base, generative[name], params, x, y, args.steps)
        bound = flops / (rate * 1e9)
        print(
            f"{name:11s} {1000 * seconds:8.1f} {flops / 1e9:7.2f} {1000 * bound:9.1f} "
            f"{seconds / bound:14.2f}"
        )
        total_flops += flops * steps_per_model * len(sched["seeds"])
    models = len(config["regularizers"]) * len(sched["seeds"])
    print(
        f"default run: {models} models x {steps_per_model} steps = {total_flops / 1e12:.1f} TFLOP "
        f"of training steps, {total_flops / (2 * rate * 1e9):.0f} s on two cores at that rate"
    )


if __name__ == "__main__":
    main()
