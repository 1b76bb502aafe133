"""Shared fixtures: running the workflow on the tiny config."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
CLUSTER = ROOT / "tests" / "slurm_cluster.sh"


def snakemake(
    workdir: Path,
    *args: str,
    config: Path | None = TINY,
    timeout: float = 1500,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run snakemake on `config` (None: the embedded default) in `workdir`, with the
    repository's Snakefile and default profile."""
    configfile = ["--configfile", str(config)] if config is not None else []
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
        *configfile, *args,
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stderr[-5000:]}")
    return result


def planned_jobs(workdir: Path, config: Path | None = TINY) -> dict[str, int]:
    """Jobs a dry run would schedule, per rule (empty when there is nothing to do)."""
    out = snakemake(workdir, "-n", "--quiet", "rules", "--cores", "2", config=config).stdout
    counts = dict(re.findall(r"^([a-z_]+)\s+(\d+)$", out, re.MULTILINE))
    counts.pop("total", None)
    return {rule: int(n) for rule, n in counts.items()}


def slurm_jobs(run: subprocess.CompletedProcess, fields: str) -> list[list[str]]:
    """The SLURM jobs of one Snakemake run (named by its run id), finished ones too, as the
    `squeue --format` `fields` of each job (e.g. "%i %T")."""
    run_id = re.search(r"SLURM run ID: (\S+)", run.stderr).group(1)
    listing = subprocess.run(
        ["squeue", "--noheader", "--states=all", f"--name={run_id}", f"--format={fields}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split() for line in listing.splitlines()]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) between test processes."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# A worker that crashes (a segfault in a CPU kernel, say) ends the whole run at once: with
# `--max-worker-restart=0` xdist reports the crashed test and replaces no worker, but lets the
# other worker finish its queued file first, minutes for the workflow tests. Each worker writes
# its pid into a folder named in the environment, and the first crash interrupts the others.
WORKER_PIDS = "CAMROBUST_TEST_WORKER_PIDS"
_crashed: list[str] = []
_pid_dirs: list[str] = []  # the folder this process made (the controller's), removed at the end


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        if WORKER_PIDS in os.environ:
            (Path(os.environ[WORKER_PIDS]) / str(os.getpid())).touch()
    elif WORKER_PIDS not in os.environ:  # the controller, before it starts the workers
        os.environ[WORKER_PIDS] = tempfile.mkdtemp(prefix="camrobust-test-workers-")
        _pid_dirs.append(os.environ[WORKER_PIDS])


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _pid_dirs:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched) -> None:
    if _crashed:  # a test of another worker, interrupted because of the first crash
        report.longrepr = f"interrupted: the worker running {_crashed[0]} crashed"
        return
    _crashed.append(crashitem)
    for pid in Path(os.environ[WORKER_PIDS]).iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid.name), signal.SIGINT)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest test files first: the SLURM tests, then those of the tiny local run, then the
    other workflow runs (`slow`), then the unit tests.

    `make test` distributes whole files in this order (`-n 2 --dist loadfile
    --no-loadscope-reorder`), so each of the first two starts at once on its own worker, the unit
    test files run beside them while SLURM polls, and short files, not a workflow run, end the
    suite while the other worker finishes.
    """

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slurm"):
            return 0
        if "tiny_run" in item.fixturenames:
            return 1
        return 2 if item.get_closest_marker("slow") else 3

    file_rank: dict[Path, int] = {}
    for item in items:
        file_rank[item.path] = min(file_rank.get(item.path, 3), rank(item))
    items.sort(key=lambda item: file_rank[item.path])  # stable: a file's tests stay together


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A complete local run of the tiny config (every stage), shared by the workflow tests.

    Made once per pytest run: under pytest-xdist the first worker that asks runs it while holding
    a lock in the run's shared temporary folder; the others wait and reuse its files (or its
    error, rather than running it again).
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # all workers' parent
    workdir = shared / "tiny_local"
    done, failed = shared / "tiny_local.done", shared / "tiny_local.failed"
    with file_lock(shared / "tiny_local.lock"):
        if failed.exists():
            raise AssertionError(f"the tiny run failed in another worker:\n{failed.read_text()}")
        if not done.exists():
            workdir.mkdir()
            try:
                snakemake(workdir, "--cores", "2")
            except Exception as err:  # a failed run or a timeout: tell the other workers
                failed.write_text(f"{type(err).__name__}: {err}")
                raise
            done.touch()
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


@pytest.fixture(scope="session", autouse=True)
def one_thread() -> Iterator[None]:
    """Torch on one intra-op thread in every test process: the tests' models are tiny, and two
    workers on two cores with two threads each spin against each other (a central-difference
    gradient test took 32 s of CPU with two threads on a busy machine, 1.3 s with one). The
    workflow jobs set their own threads (the rules' `threads`)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
