"""The tiny workflow through the SLURM executor on the real single-node cluster equals a local run,
and a job failing its first attempt is retried."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from conftest import TINY, snakemake
from test_workflow import same_tables

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_tiny_workflow_through_slurm_equals_the_local_run(slurm_cluster, tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["fail_first_attempt"] = ["metrics"]  # test-only switch: retried by the profile
    path = tmp_path / "tiny_retry.yaml"
    path.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "cluster"
    run = snakemake(workdir, "--profile", "profiles/slurm-local", config=path, timeout=2400)
    same_tables(tiny_run, workdir)
    # the failed first attempts left their markers: the retries really happened
    assert len(list((workdir / "results" / "metrics").rglob("*.failed-once"))) == 8
    jobs = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%j %T"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "FAILED" in jobs and "COMPLETED" in jobs, jobs
    assert run.returncode == 0
