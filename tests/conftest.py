"""Shared fixtures: running the workflow on the tiny config."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
CLUSTER = ROOT / "tests" / "slurm_cluster.sh"


def snakemake(
    workdir: Path, *args: str, config: Path = TINY, timeout: float = 1500, check: bool = True
) -> subprocess.CompletedProcess:
    """Run snakemake on `config` in `workdir` (the repository's Snakefile and default profile)."""
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
        "--configfile", str(config), *args,
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stderr[-5000:]}")
    return result


def planned_jobs(workdir: Path, config: Path = TINY) -> dict[str, int]:
    """Jobs a dry run would schedule, per rule (empty when there is nothing to do)."""
    out = snakemake(workdir, "-n", "--quiet", "rules", "--cores", "2", config=config).stdout
    counts = dict(re.findall(r"^([a-z_]+)\s+(\d+)$", out, re.MULTILINE))
    counts.pop("total", None)
    return {rule: int(n) for rule, n in counts.items()}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A complete local run of the tiny config (every stage), shared by the workflow tests."""
    workdir = tmp_path_factory.mktemp("tiny_local")
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """A running test cluster; stopped afterwards only if this fixture started it."""
    running = subprocess.run(["bash", str(CLUSTER), "status"], capture_output=True).returncode == 0
    if not running:
        subprocess.run(["bash", str(CLUSTER), "start"], check=True, timeout=900)
    yield
    if not running:
        subprocess.run(["bash", str(CLUSTER), "stop"], check=True, timeout=300)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Torch on one intra-op thread for a test module, restored afterwards: tiny models gain
    nothing from threads, and on a shared 2-core machine extra threads only add contention.

    Opt in per module with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch  # here, so that the workflow tests do not pay for importing torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
