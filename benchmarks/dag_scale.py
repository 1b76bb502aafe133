"""How long Snakemake takes for the DAG of config/paper.yaml, and where the time goes.

Prints, best of `--repeats`, the wall and CPU seconds of a bare `snakemake --version` (the
start-up, the reference measured in the same run), of `snakemake -n` (every job printed, as a
user runs it) and of `snakemake -n --quiet rules` (the job table only), with the job count and
the milliseconds per job beyond the start-up. CPU seconds matter on a shared machine: other
processes stretch the wall time, not the CPU time. `--x4` adds the paper grid with four copies
of each dataset. `--profile` runs `snakemake -n` once under cProfile and prints the share of its
phases and of the project's own code (Snakefile, rules/, camrobust/).
"""

from __future__ import annotations

import argparse
import cProfile  # noqa: F401 (run as `python -m cProfile` in the child)
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Snakemake 9.27.1's phases of a dry run: (label, file suffix, function name).
PHASES = (
    ("build the DAG (jobs, inputs, outputs)", "snakemake/dag.py", "update"),
    ("decide what needs to run", "snakemake/dag.py", "update_needrun"),
    ("conda env specs (evaluate every job's params)", "snakemake/dag.py", "update_conda_envs"),
    ("check every job's script file", "snakemake/dag.py", "process"),
    ("print every job (resources, logging)", "snakemake/executors/dryrun.py", "printjob"),
)


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (the child's user + system) of `cmd`, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def dry_run(config: Path, workdir: Path, quiet: bool) -> list[str]:
    cmd = [*SNAKEMAKE, "-n", "--cores", "8", "--configfile", str(config), "-d", str(workdir)]
    return [*cmd, "-s", str(ROOT / "Snakefile"), *(["--quiet", "rules"] if quiet else [])]


def best(cmd: list[str], repeats: int) -> tuple[float, float, str]:
    runs = [timed(cmd) for _ in range(repeats)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]


def jobs_in(out: str) -> int:
    total = re.search(r"^total\s+(\d+)", out, re.MULTILINE)
    if not total:
        raise RuntimeError(f"no job count in the dry run's output:\n{out[-2000:]}")
    return int(total.group(1))


def four_times(paper: dict) -> dict:
    """The paper grid with four copies of each dataset's jobs (2 datasets -> 8)."""
    datasets = {f"{name}_{k}": spec for name, spec in paper["datasets"].items() for k in "abcd"}
    return {**paper, "datasets": datasets}


def profile(config: Path, workdir: Path, out: Path) -> None:
    """Where one `snakemake -n` spends its time (cProfile slows it; the shares hold)."""
    cmd = dry_run(config, workdir, quiet=False)
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), *cmd[1:]], cwd=ROOT,
                   capture_output=True, check=True)  # fmt: skip
    stats = pstats.Stats(str(out)).stats
    total = max(ct for (_, _, _, ct, _) in stats.values())
    print(f"\nprofile of one `snakemake -n` ({total:.1f} s under cProfile):")
    for label, suffix, name in PHASES:
        seconds = sum(
            ct
            for (f, _, fn), (_, _, _, ct, _) in stats.items()
            if f.endswith(suffix) and fn == name
        )
        print(f"  {label:<48}{seconds:>7.1f} s {100 * seconds / total:>5.1f} %")
    own = [str(ROOT / "Snakefile"), str(ROOT / "rules"), str(ROOT / "camrobust")]
    mine = sum(tt for (f, _, _), (_, _, tt, _, _) in stats.items() if f.startswith(tuple(own)))
    print(f"  {'the project code (Snakefile, rules, camrobust)':<48}{mine:>7.1f} s "
          f"{100 * mine / total:>5.1f} %")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--x4", action="store_true", help="also the grid four times larger")
    parser.add_argument("--profile", action="store_true", help="profile one dry run")
    args = parser.parse_args()
    paper = ROOT / "config" / "paper.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        configs = [("paper.yaml", paper)]
        if args.x4:
            big = Path(tmp) / "paper_x4.yaml"
            big.write_text(yaml.safe_dump(four_times(yaml.safe_load(paper.read_text()))))
            configs.append(("paper x4", big))
        wall0, cpu0, _ = best([*SNAKEMAKE, "--version"], args.repeats)
        print(f"{'run':<30}{'jobs':>7}{'wall s':>9}{'CPU s':>8}{'ms/job (CPU)':>14}")
        print(f"{'snakemake --version':<30}{'-':>7}{wall0:>9.2f}{cpu0:>8.2f}{'-':>14}")
        for name, config in configs:
            for quiet in (False, True):
                wall, cpu, out = best(dry_run(config, Path(tmp) / "wd", quiet), args.repeats)
                jobs = jobs_in(out)
                label = f"{name} -n" + (" --quiet rules" if quiet else "")
                per_job = 1000 * (cpu - cpu0) / jobs
                print(f"{label:<30}{jobs:>7}{wall:>9.2f}{cpu:>8.2f}{per_job:>14.2f}")
        if args.profile:
            profile(paper, Path(tmp) / "wd", Path(tmp) / "dry.prof")


if __name__ == "__main__":
    main()
