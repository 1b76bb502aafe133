"""How long Snakemake takes to build the DAG of config/paper.yaml and of a grid four times larger.

Prints job counts and seconds of a dry run (`snakemake -n`), best of `--repeats`, plus the time of
a bare `snakemake --version` as the start-up reference measured in the same run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out


def dry_run(config: Path, repeats: int, workdir: Path) -> tuple[int, float]:
    cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--cores", "8"]
    cmd += ["--configfile", str(config), "-d", str(workdir), "-s", str(ROOT / "Snakefile")]
    best, out = min(timed(cmd) for _ in range(repeats))
    total = re.search(r"^total\s+(\d+)", out, re.MULTILINE)
    if not total:
        raise RuntimeError(f"no job count in the dry run's output:\n{out}")
    return int(total.group(1)), best


def four_times(paper: dict) -> dict:
    """The paper grid with four copies of each dataset's jobs (2 datasets -> 8)."""
    datasets = {f"{name}_{k}": spec for name, spec in paper["datasets"].items() for k in "abcd"}
    return {**paper, "datasets": datasets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "paper_x4.yaml"
        big.write_text(yaml.safe_dump(four_times(paper)))
        startup = min(timed([sys.executable, "-m", "snakemake", "--version"])[0] for _ in range(3))
        print(f"{'config':<16}{'jobs':>8}{'seconds':>10}{'x start-up':>12}")
        print(f"{'(start-up)':<16}{'-':>8}{startup:>10.2f}{1.0:>12.1f}")
        for name, path in (("paper.yaml", ROOT / "config" / "paper.yaml"), ("paper x4", big)):
            jobs, seconds = dry_run(path, args.repeats, Path(tmp) / "wd")
            print(f"{name:<16}{jobs:>8}{seconds:>10.2f}{seconds / startup:>12.1f}")


if __name__ == "__main__":
    main()
