"""The tiny workflow through the SLURM executor on the real single-node cluster equals a local run,
and a job failing its first attempt is retried."""

from __future__ import annotations

import subprocess

import pytest
from conftest import snakemake
from test_workflow import same_tables

from camrobust.logs import FAIL_FIRST_ENV

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_tiny_workflow_through_slurm_equals_the_local_run(
    slurm_cluster, tiny_run, tmp_path, monkeypatch
):
    # Test-only switch: the metrics jobs fail their first attempt and the profile retries them.
    # The SLURM executor submits with `sbatch --export=ALL`, so the jobs see the variable.
    monkeypatch.setenv(FAIL_FIRST_ENV, "metrics")
    workdir = tmp_path / "cluster"
    run = snakemake(workdir, "--profile", "profiles/slurm-local", timeout=2400)
    same_tables(tiny_run, workdir)
    # the failed first attempts left their markers: the retries really happened
    assert len(list((workdir / "results" / "logs" / "metrics").rglob("*.failed-once"))) == 8
    jobs = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%j %T"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "FAILED" in jobs and "COMPLETED" in jobs, jobs
    assert run.returncode == 0
