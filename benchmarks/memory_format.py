"""Which memory format the classifiers may train in on the CPU: crashes, then speed.

1. Crash probe: every project architecture at each width trains a few Adam steps channels-last,
   each in its own subprocess (a heap corruption kills only that child), then the kernel the
   crash was reduced to: the weight gradient of a 1×1 stride-2 convolution, per input-channel
   count. Prints `ok` or the signal per case.
2. Speed: milliseconds per ERM and VAT training step (the loop's own `training_step`, one
   thread, batch 32, 32×32 inputs) in the default (NCHW) and the channels-last format, and their
   ratio, for the cases that did not crash. The two formats are timed alternately in the same
   process, so the ratio survives a noisy machine.

    python benchmarks/memory_format.py [--widths 0.0625 0.125 0.25] [--steps 15] [--no-probe]

What was measured, and the rule chosen from it: docs/performance.md.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

import torch

from camrobust.config import validate_config
from camrobust.models import build_classifier
from camrobust.models.registry import ARCHITECTURES
from camrobust.train.layout import cpu_training_format
from camrobust.train.loop import training_step
from camrobust.train.regularizers import REGULARIZERS, get_regularizer
from camrobust.train.schedule import BETA1, BETA2

# Each regulariser's schema defaults, as a config naming it gets them.
REG_PARAMS = validate_config({"regularizers": {name: {} for name in REGULARIZERS}})["regularizers"]

CHILD_MODEL = """
import sys, torch
from camrobust.models import build_classifier
torch.set_num_threads(1)
arch, width, steps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
model = build_classifier(arch, 10, width=width, seed=0).to(memory_format=torch.channels_last)
opt = torch.optim.Adam(model.parameters(), 1e-3)
gen = torch.Generator().manual_seed(0)
for _ in range(steps):
    x, y = torch.rand(32, 3, 32, 32, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
"""
CHILD_KERNEL = """
import sys, torch
torch.set_num_threads(1)
cin, steps = int(sys.argv[1]), int(sys.argv[2])
conv = torch.nn.Conv2d(cin, 2 * cin, 1, stride=2, bias=False).to(memory_format=torch.channels_last)
x = torch.rand(32, cin, 32, 32).contiguous(memory_format=torch.channels_last)
for _ in range(steps):
    conv(x).square().sum().backward()
"""


def _child(code: str, *args: object) -> str:
    """'ok', or how the child died (a signal name, or its exit code)."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, timeout=600
    )
    if proc.returncode == 0:
        return "ok"
    if proc.returncode < 0:
        return signal.Signals(-proc.returncode).name
    return f"exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()[-80:]}"


def probe(widths: list[float], steps: int) -> None:
    print(f"crash probe: {steps} Adam steps channels-last, one subprocess each")
    for arch in sorted(ARCHITECTURES):
        for width in widths:
            print(f"  {arch:9s} width {width:<8g} {_child(CHILD_MODEL, arch, width, steps)}")
    print("kernel: weight gradient of a 1x1 stride-2 conv, channels-last, 100 steps")
    for cin in (1, 2, 3, 4, 6, 7, 8, 12, 16, 32):
        print(f"  in_channels {cin:3d}  {_child(CHILD_KERNEL, cin, 100)}")


def _step_ms(model, reg, params, x, y, steps: int) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(BETA1, BETA2))
    noise = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        training_step(model, optimizer, reg, params, x, y, None, None, noise)
        times.append(1000 * (time.perf_counter() - start))
    return times


def speed(widths: list[float], steps: int) -> None:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 3, 32, 32, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    print(f"speed: median ms per step, one thread, batch 32; {steps} steps per format, alternating")
    print(f"  {'arch':9s} {'width':>7s} {'reg':4s} {'nchw':>8s} {'cl':>8s} {'nchw/cl':>8s}  chosen")
    for arch in sorted(ARCHITECTURES):
        for width in widths:
            model = build_classifier(arch, 10, width=width, seed=0).train()
            chosen = "cl" if cpu_training_format(model) == torch.channels_last else "nchw"
            if chosen == "nchw":
                print(f"  {arch:9s} {width:7g} (unsafe channels-last: not timed)  nchw")
                continue
            for name in ("erm", "vat"):
                reg = get_regularizer(name)
                params = reg.params(REG_PARAMS[name])
                times = {"nchw": [], "cl": []}
                for _ in range(3):  # alternate, so drift hits both formats alike
                    for fmt, memory_format in (
                        ("nchw", torch.contiguous_format),
                        ("cl", torch.channels_last),
                    ):
                        m = build_classifier(arch, 10, width=width, seed=0).train()
                        m.to(memory_format=memory_format)
                        times[fmt] += _step_ms(m, reg, params, x, y, steps)[2:]
                med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
                print(
                    f"  {arch:9s} {width:7g} {name:4s} {med['nchw']:8.1f} {med['cl']:8.1f} "
                    f"{med['nchw'] / med['cl']:8.2f}  {chosen}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=float, nargs="+", default=[0.0625, 0.125, 0.25])
    parser.add_argument("--probe-widths", type=float, nargs="+", default=[0.03125, 0.0625, 0.125])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--no-probe", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    if not args.no_probe:
        probe(args.probe_widths, 60)
    speed(args.widths, args.steps)


if __name__ == "__main__":
    main()
