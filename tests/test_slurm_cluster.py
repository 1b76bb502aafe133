"""The SLURM profiles run a toy workflow, and one model's chain of the tiny workflow, through a
real single-node SLURM cluster.

The cluster comes from tests/slurm_cluster.sh (started here unless already running, e.g. by
CI). SLURM itself is the oracle for where the jobs ran and what they asked for: `squeue`
still lists finished jobs (MinJobAge=600) and `scontrol show job` their requests. All SLURM
tests live in this one file, so that one test worker runs them (`--dist loadfile`).
"""

import re
import subprocess
import sys
from pathlib import Path

import conftest
import pytest
from conftest import slurm_jobs

from camrobust.logs import FAIL_FIRST_ENV

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "slurm_cluster.sh"
SNAKEFILE = REPO / "tests" / "toy_workflow" / "Snakefile"
PROFILES = REPO / "profiles"
LEVELS = [1, 2]
# The toy's data are 1..10; a CAM "score" is their sum times the level.
EXPECTED = {
    "data.txt": {"values": ",".join(str(v) for v in range(1, 11))},
    **{f"cams/{lv}.txt": {"score": str(55 * lv)} for lv in LEVELS},
    "metrics.txt": {"total": str(55 * sum(LEVELS))},
}


def snakemake(workdir: Path, profile: str, *extra: str) -> subprocess.CompletedProcess:
    """Run the toy workflow in `workdir` with a profile of this repository.

    From the repository root, as users do: Snakemake then also loads profiles/default (the
    workflow profile), whose keys win over the named profile's.
    """
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE)]
    cmd += ["--directory", str(workdir), "--profile", str(PROFILES / profile)]
    cmd += ["--config", f"levels={LEVELS}", *extra]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


def read_fields(path: Path) -> dict[str, str]:
    """The key=value lines a toy job wrote."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def scontrol_job(job_id: str) -> dict[str, str]:
    """SLURM's record of one job, as key=value pairs."""
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner", job_id],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(tok.split("=", 1) for tok in out.split() if "=" in tok)


@pytest.mark.slurm
def test_toy_workflow_runs_through_slurm(slurm_cluster: None, tmp_path: Path) -> None:
    """Outputs equal a local run's; jobs ran in SLURM, grouped, with GPUs, and were retried."""
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    run = snakemake(local, "default")
    assert run.returncode == 0, run.stderr[-3000:]
    run = snakemake(cluster, "slurm-local", "fail_once=True")
    assert run.returncode == 0, run.stderr[-3000:]

    jobs = {}
    for name, expected in EXPECTED.items():
        here, there = read_fields(local / name), read_fields(cluster / name)
        assert here == {**expected, "job": "none"}
        assert there == {**expected, "job": there["job"]}
        jobs[name] = there["job"]

    # SLURM's own list of this run's jobs (named by the run's id): prepare_data failed once
    # and was resubmitted; the CAM levels and metrics ran together as one group job.
    listed = sorted(tuple(job) for job in slurm_jobs(run, "%i %T %k"))
    group = jobs["metrics.txt"]
    assert {jobs[f"cams/{lv}.txt"] for lv in LEVELS} == {group}
    failed = [job for job, state, _ in listed if state == "FAILED"]
    assert len(failed) == 1
    assert listed == sorted(
        [
            (failed[0], "FAILED", "rule_prepare_data"),
            (jobs["data.txt"], "COMPLETED", "rule_prepare_data"),
            (group, "COMPLETED", "rule_per_model_noise_cam_metrics"),
        ]
    )
    assert (cluster / "logs" / "failed_once").exists()

    # What the jobs asked SLURM for: the profile's partition; the group one GPU (`gpu=1`, local
    # scope) and the sum of its jobs' runtimes (levels in series); prepare_data no GPU.
    data_job, group_job = scontrol_job(jobs["data.txt"]), scontrol_job(group)
    assert data_job["Partition"] == group_job["Partition"] == "debug"
    assert group_job["TresPerJob"] == "gres:gpu:1"
    assert "TresPerJob" not in data_job
    assert group_job["TimeLimit"] == f"00:{5 * (len(LEVELS) + 1):02d}:00"
    assert data_job["TimeLimit"] == "00:05:00"
    assert Path(group_job["WorkDir"]) == cluster


def test_slurm_profile_groups_levels_per_model_and_noise(tmp_path: Path) -> None:
    """The cluster profile's dry run puts all CAM levels and the metrics in one group job."""
    run = snakemake(tmp_path, "slurm", "--dry-run")
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout + run.stderr
    assert "workflow specific profile profiles/default" in out
    assert out.count("Group job per_model_noise") == 1
    cam = re.findall(r"rule cam:(?:\n .*)*?\n\s+resources: (.*)", out)
    assert len(cam) == len(LEVELS)
    for line in cam:
        fields = dict(item.split("=", 1) for item in line.split(", "))
        assert fields["slurm_partition"] == "<PARTITION>"
        assert (fields["mem_mb"], fields["runtime"], fields["gpu"]) == ("8000", "20", "1")


TINY_MODEL = "resnet18-erm-s0"  # needs no generative model: the shortest chain through every stage
TINY_NOISES = ("gaussian", "fgsm")  # a corruption shared by the models, an attack made per model


@pytest.mark.slurm
def test_one_models_tiny_chain_through_slurm_equals_the_local_run(
    slurm_cluster: None,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its metric files equal the local tiny run's, and a failing first attempt is retried."""
    # Test-only switch: the metrics jobs fail their first attempt (sbatch passes the environment
    # on) and the profile retries them.
    monkeypatch.setenv(FAIL_FIRST_ENV, "metrics")
    workdir = tmp_path / "cluster"
    targets = [
        f"results/metrics/shapes/{TINY_MODEL}/{noise}.{kind}"
        for noise in TINY_NOISES
        for kind in ("parquet", "robustness.csv")
    ]
    run = conftest.snakemake(workdir, "--profile", "profiles/slurm-local", *targets, timeout=2400)
    # Asked for only now, so that another test worker can make it while SLURM runs.
    local = request.getfixturevalue("tiny_run")
    for target in targets:
        assert (workdir / target).read_bytes() == (local / target).read_bytes(), target
    # the failed first attempts left their markers: the retries really happened
    markers = list((workdir / "results" / "logs" / "metrics").rglob("*.failed-once"))
    assert len(markers) == len(TINY_NOISES), markers
    # SLURM's own record: one failed submission per metrics job (each in the group job of its
    # model and noise), everything else completed.
    states = [state for (state,) in slurm_jobs(run, "%T")]
    assert states.count("FAILED") == len(TINY_NOISES), states
    assert set(states) == {"FAILED", "COMPLETED"}, states
