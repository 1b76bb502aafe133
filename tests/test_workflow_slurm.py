"""One model's chain of the tiny workflow through the SLURM executor on the real single-node
cluster equals the local run, and a job failing its first attempt is retried."""

from __future__ import annotations

import pytest
import yaml
from conftest import TINY, slurm_jobs, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
MODEL = "resnet18-erm"  # needs no generative model: the shortest chain through every stage kind
NOISES = ("gaussian", "fgsm")  # a corruption shared by the models, an attack made per model


def test_one_models_metrics_through_slurm_equal_the_local_run(slurm_cluster, request, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["fail_first_attempt"] = ["metrics"]  # test-only switch: retried by the profile
    path = tmp_path / "tiny_retry.yaml"
    path.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "cluster"
    targets = [
        f"results/metrics/shapes/{MODEL}/{noise}.{kind}"
        for noise in NOISES
        for kind in ("parquet", "robustness.csv")
    ]
    run = snakemake(
        workdir, "--profile", "profiles/slurm-local", *targets, config=path, timeout=2400
    )
    # Asked for only now, so that another test worker can make it while SLURM runs.
    local = request.getfixturevalue("tiny_run")
    for target in targets:
        assert (workdir / target).read_bytes() == (local / target).read_bytes(), target
    # the failed first attempts left their markers: the retries really happened
    assert len(list((workdir / "results" / "metrics").rglob("*.failed-once"))) == len(NOISES)
    # SLURM's own record of this run's jobs: one failed submission per metrics job (each in
    # the group of its model and noise), everything else completed.
    states = [state for (state,) in slurm_jobs(run, "%T")]
    assert states.count("FAILED") == len(NOISES), states
    assert set(states) == {"FAILED", "COMPLETED"}, states
