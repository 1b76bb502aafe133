"""How long the checks before the first job take: on the embedded default config, and on
config/pretrained.yaml with its two checkpoints (random 1000-class ResNet-50 and ViT-B/16
written here) and a folder of 5 × 100 small JPEGs.

Each config is checked as the Snakefile checks it (`validate_config`, `check_sizes`, the torch
checks in a child process, the CAM-work line): first with an empty cache, then again (the cache
a dry run of an unchanged config reads). Prints seconds, and the `snakemake --version` start-up
measured in the same run as the reference.

    python benchmarks/early_checks.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from camrobust.config import check_sizes, validate_config
from camrobust.early import cam_work, layer_channels, preflight
from camrobust.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
WNIDS = ["n01440764", "n02102040", "n02979186", "n03000684", "n03028079"]


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the torch checks' process)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def checks(config: dict, cache: Path) -> tuple[float, float, list[str]]:
    """Wall and CPU seconds of the Snakefile's checks of `config`, and the CAM-work lines."""
    start, cpu = time.perf_counter(), _cpu()
    valid = validate_config(config)
    checked = preflight(valid, check_sizes(valid), cache=cache) or {}
    plan = Plan(valid)
    lines = cam_work(plan, layer_channels(plan, checked.get("channels", {})))
    return time.perf_counter() - start, _cpu() - cpu, lines


def pretrained_config(work: Path) -> dict:
    """config/pretrained.yaml with its folder and checkpoints written under `work`."""
    import torch
    import torchvision

    config = yaml.safe_load((ROOT / "config" / "pretrained.yaml").read_text())
    rng = np.random.default_rng(0)
    for name in WNIDS:
        (work / "images" / name).mkdir(parents=True)
        for i in range(100):
            pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(work / "images" / name / f"{i}.jpg")
    for dataset in config["datasets"].values():
        dataset["path"] = str(work / "images")
    for entry in config["models"].values():
        net = torchvision.models.get_model(entry["name"], weights=None, num_classes=1000)
        entry["checkpoint"] = str(work / f"{entry['name']}.pt")
        torch.save(net.state_dict(), entry["checkpoint"])
    return config


def main() -> None:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--version"], check=True, capture_output=True
    )
    print(f"snakemake --version (start-up reference): {time.perf_counter() - start:.2f} s")
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        configs = {"config/config.yaml": default, "config/pretrained.yaml": pretrained_config(work)}
        for name, config in configs.items():
            first, cpu, lines = checks(config, work / "cache")
            again, _, _ = checks(config, work / "cache")
            print(f"{name}: checks {first:.2f} s ({cpu:.2f} s CPU), again (cached) {again:.2f} s")
            for line in lines:
                print(f"  {line}")


if __name__ == "__main__":
    main()
