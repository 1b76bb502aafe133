"""The explanation attack in the workflow: its jobs, its rows in the tables, what a change reruns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, planned_jobs, snakemake

from camrobust.explanation_names import EXPLANATION_ATTACK, LINF_RANDOM

pytestmark = pytest.mark.slow

CONFIG = ROOT / "tests" / "configs" / "explanation.yaml"
ATTACKED = ["ablationcam", "eigencam", "gradcam"]  # cam.methods but ScoreCAM, sorted
MODEL = "resnet18-erm-s0"


def variant(tmp_path: Path, name: str, edit) -> Path:
    """The test config with `edit` applied, written to `tmp_path / name`."""
    config = yaml.safe_load(CONFIG.read_text())
    edit(config)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("explanation")
    jobs = planned_jobs(workdir, CONFIG)
    # one attacked set per attacked method; the control shared by the models; one CAM job of the
    # attacked sets; the generic CAM job for gaussian and linf_random; a metrics job per noise
    assert (jobs["explanation_attack_set"], jobs["cam_explanation_attack"]) == (3, 1)
    assert (jobs["linf_random_set"], jobs["noisy_set"], jobs["cam"], jobs["metrics"]) == (
        1,
        1,
        2,
        3,
    )
    snakemake(workdir, "--cores", "2", config=CONFIG)
    return workdir


def test_attacked_pairs_are_rows_like_every_other_noises(run):
    per_image = pd.read_parquet(run / "results/tables/per_image.parquet")
    attack = per_image[per_image["noise"] == EXPLANATION_ATTACK]
    control = per_image[per_image["noise"] == LINF_RANDOM]
    assert sorted(attack["method"].unique()) == ATTACKED
    assert sorted(control["method"].unique()) == [*ATTACKED, "scorecam"]
    assert len(attack) == 3 * 20 and set(attack["level"]) == set(control["level"]) == {"8"}
    clean = np.load(run / "results/data/shapes/eval.npz")["images"]
    for method in ATTACKED:
        rows = attack[attack["method"] == method].sort_values("image")
        sets = np.load(run / f"results/noisy/shapes/{MODEL}/{EXPLANATION_ATTACK}/8/{method}.npz")
        assert np.abs(sets["images"].astype(int) - clean).max() <= 8
        # kept exactly where the attack found a kept-class perturbation: the rest are flipped
        assert rows["kept"].tolist() == sets["attacked"].tolist()
    robust = pd.read_csv(run / "results/tables/robustness.csv", dtype={"level": str})
    attacked = robust[(robust["noise"] == EXPLANATION_ATTACK) & (robust["level"] == "8")]
    assert sorted(attacked["method"].unique()) == ATTACKED
    log = (run / f"results/logs/cam/shapes/{MODEL}/{EXPLANATION_ATTACK}/8.log").read_text()
    assert "scorecam: left out of the explanation attack" in log
    assert (run / "results/report/shapes/explanation_attack.png").stat().st_size > 0


def test_an_attack_option_reruns_only_the_attack_and_a_new_method_only_its_own_set(run, tmp_path):
    def more_steps(config):
        config["noise"]["adversarial"][EXPLANATION_ATTACK]["steps"] = 3

    jobs = planned_jobs(run, variant(tmp_path, "steps.yaml", more_steps))
    assert (jobs["explanation_attack_set"], jobs["cam_explanation_attack"]) == (3, 1)
    assert jobs["metrics"] == 1
    for untouched in ("train_classifier", "linf_random_set", "noisy_set", "cam", "cam_clean"):
        assert untouched not in jobs, untouched

    def one_more_method(config):
        config["cam"]["methods"].append("layercam")

    jobs = planned_jobs(run, variant(tmp_path, "methods.yaml", one_more_method))
    assert (jobs["explanation_attack_set"], jobs["cam_explanation_attack"]) == (1, 1)
    assert "train_classifier" not in jobs and "linf_random_set" not in jobs
