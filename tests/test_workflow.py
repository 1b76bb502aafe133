"""The workflow end to end on the tiny config: tables, reruns, interruptions, the report."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, TINY, planned_jobs, snakemake

from camrobust.metrics import MEASURES

pytestmark = pytest.mark.slow
TABLES = ["tables/robustness.csv", "tables/accuracy.csv", "tables/per_image.parquet",
          "tables/summary.csv", "stats/methods.csv", "stats/regularizers.csv",
          "stats/mixedlm.csv", "stats/flips.csv", "stats/noise.csv"]  # fmt: skip


def test_both_shipped_configs_dry_run(tmp_path):
    default = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--cores", "2",
         "-d", str(tmp_path / "d")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert default.returncode == 0, default.stderr
    assert "train_classifier" in default.stdout
    paper = planned_jobs(tmp_path / "p", ROOT / "config" / "paper.yaml")
    # 2 datasets x 3 architectures x 4 regularisers x 3 training seeds, 3 files downloaded
    # (CIFAR-10 + 2 SVHN).
    assert paper["train_classifier"] == 72 and paper["download"] == 3
    assert paper["train_generative"] == 4


@pytest.mark.parametrize(("device", "gpu"), [("cpu", "0"), ("cuda", "1")])
def test_torch_jobs_hold_the_gpu_only_when_they_run_on_one(tmp_path, device, gpu):
    """On the CPU the torch jobs share the cores; on a GPU the one `gpu` makes them take turns."""
    out = snakemake(tmp_path, "-n", "--cores", "2", "--config", f"device={device}").stdout
    torch_rules = ("train_generative", "train_classifier", "adversarial_set", "cam", "cam_clean")
    found = re.findall(r"^(?:local)?rule (\w+):\n(?: .*\n)*?\s+resources: (.*)", out, re.M)
    gpus = {
        rule: dict(kv.split("=", 1) for kv in res.split(", ")).get("gpu") for rule, res in found
    }
    assert {rule for rule in gpus if rule in torch_rules} == set(torch_rules)
    for rule, held in gpus.items():
        assert held == (gpu if rule in torch_rules else None), rule


def test_data_stage_of_the_default_config(tmp_path):
    target = "results/data/shapes/eval.npz"
    config = ROOT / "config" / "config.yaml"
    snakemake(tmp_path, "--cores", "2", target, config=config)
    data = {
        s: np.load(tmp_path / f"results/data/shapes/{s}.npz") for s in ("train", "test", "eval")
    }
    assert data["train"]["images"].shape == (4000, 32, 32, 3)
    assert data["eval"]["images"].shape == (100, 32, 32, 3)
    assert np.array_equal(data["test"]["images"][data["eval"]["indices"]], data["eval"]["images"])
    assert np.bincount(data["eval"]["labels"]).tolist() == [10] * 10
    again = snakemake(tmp_path, "-n", "--cores", "2", target, config=config)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_tables_have_the_expected_columns_ranges_and_rows(tiny_run):
    config = yaml.safe_load(TINY.read_text())
    n_eval, n_methods, n_models = config["datasets"]["shapes"]["n_eval"], 10, 4
    levels = {"gaussian": 2, "fgsm": 1}
    per_image = pd.read_parquet(tiny_run / "results/tables/per_image.parquet")
    assert len(per_image) == n_models * n_methods * n_eval * sum(levels.values())
    for column in ("dataset", "model", "arch", "regularizer", "seed", "noise", "level", "method",
                   "image", "label", "pred_clean", "pred_noisy", "kept", "degenerate",
                   *MEASURES, "mask_energy_clean", "pointing_noisy"):  # fmt: skip
        assert column in per_image, column
    # one training seed (the default): every model is {arch}-{reg}-s0
    assert set(per_image["seed"]) == {"0"}
    assert (per_image["model"] == per_image["arch"] + "-" + per_image["regularizer"] + "-s0").all()
    values = per_image[list(MEASURES)].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1 + 1e-9).all()
    assert (per_image["kept"] == (per_image["pred_clean"] == per_image["pred_noisy"])).all()

    robust = pd.read_csv(tiny_run / "results/tables/robustness.csv", dtype={"level": str})
    strata = n_models * n_methods * len(MEASURES)
    # one row per level, plus the pooled level "all", per noise
    assert len(robust) == strata * sum(n + 1 for n in levels.values())
    assert set(robust["level"]) == {"1", "5", "8", "all"}
    for stat in ("consistency", "responsiveness", "robustness", "auroc"):
        finite = robust[stat].dropna()
        assert ((finite >= 0) & (finite <= 1)).all(), stat
    # NaN only where the counts say why
    undefined = robust["consistency"].isna()
    assert (robust.loc[undefined, "n_kept"] == 0).all()
    assert robust.loc[robust["responsiveness"].isna(), "note"].str.contains("no flipped").all()

    accuracy = pd.read_csv(tiny_run / "results/tables/accuracy.csv", dtype={"level": str})
    assert accuracy["accuracy"].between(0, 1).all() and len(accuracy) == n_models * 5
    for name in ("methods", "regularizers", "mixedlm", "flips", "noise"):
        stats = pd.read_csv(tiny_run / f"results/stats/{name}.csv")
        assert len(stats) > 0 and {"test", "p_value", "note"} <= set(stats.columns)
        # every row has a p-value or says why not
        assert (stats["p_value"].notna() | stats["note"].notna()).all()
    for png in (tiny_run / "results/report/shapes").rglob("*.png"):
        assert png.stat().st_size > 5000, png


def test_a_second_dry_run_has_nothing_to_do(tiny_run):
    assert planned_jobs(tiny_run) == {}


def variant(tmp_path: Path, change) -> Path:
    config = yaml.safe_load(TINY.read_text())
    change(config)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


AGGREGATES = {"robustness_table": 1, "per_image_table": 1, "accuracy_table": 1, "stats": 1,
              "figure": 6, "summary_table": 1, "all": 1}  # fmt: skip


def test_adding_a_noise_level_schedules_only_that_level(tiny_run, tmp_path):
    path = variant(
        tmp_path, lambda c: c["noise"]["corruptions"]["gaussian"].update(severities=[1, 3, 5])
    )
    assert planned_jobs(tiny_run, path) == {
        "noisy_set": 1, "cam": 4, "metrics": 4, "cam_grid": 4, **AGGREGATES,
    }  # fmt: skip


def test_adding_a_cam_method_reruns_cams_but_no_training_or_noise(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c["cam"].update(methods=[*_all_methods(), "fem"]))
    assert planned_jobs(tiny_run, path) == {
        "cam_clean": 4, "cam": 12, "metrics": 8, "cam_grid": 4, **AGGREGATES,
    }  # fmt: skip


def _all_methods() -> list[str]:
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    return schema["properties"]["cam"]["properties"]["methods"]["default"]


def test_a_regulariser_hyper_parameter_reruns_only_its_models_chain(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c["regularizers"]["vat"].update(eps=3.0))
    assert planned_jobs(tiny_run, path) == {
        "train_classifier": 1, "adversarial_set": 1, "cam_clean": 1, "cam": 3, "metrics": 2,
        "cam_grid": 1, **AGGREGATES,
    }  # fmt: skip


def test_a_new_training_seed_reruns_only_its_chains_and_the_aggregates(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c.setdefault("training", {}).update(seeds=[0, 1]))
    assert planned_jobs(tiny_run, path) == {
        "train_classifier": 4, "adversarial_set": 4, "cam_clean": 4, "cam": 12, "metrics": 8,
        "cam_grid": 4, **AGGREGATES,
    }  # fmt: skip


def test_a_figure_option_reruns_only_report_jobs(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c.setdefault("report", {}).update(dpi=90))
    assert planned_jobs(tiny_run, path) == {"figure": 6, "cam_grid": 4, "all": 1}


def same_tables(a: Path, b: Path) -> None:
    for name in TABLES:
        assert (a / "results" / name).read_bytes() == (b / "results" / name).read_bytes(), name


def test_a_killed_run_resumes_to_identical_outputs(tiny_run, tmp_path):
    """SIGKILL the whole snakemake process group mid-run, run again: the same files as an
    uninterrupted run (and so two runs from scratch agree)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
           "--configfile", str(TINY), "--cores", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 900
    models = tmp_path / "results" / "models"
    while len(list(models.rglob("model.pt"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before the kill"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(models.rglob("model.pt"))  # some work was done and is kept
    # A killed Snakemake cannot release its lock; --unlock is Snakemake's documented next step.
    snakemake(tmp_path, "--unlock")
    snakemake(tmp_path, "--cores", "2")
    same_tables(tiny_run, tmp_path)
    for name in ("models", "cams", "noisy"):
        for path in (tiny_run / "results" / name).rglob("*.*"):
            other = tmp_path / path.relative_to(tiny_run)
            assert other.read_bytes() == path.read_bytes(), path


def test_the_report_builds_and_chromium_renders_it(tiny_run, tmp_path):
    assert shutil.which("chromium"), "Debian's chromium is needed (.ci/run installs it)"
    report = tiny_run / "report.html"
    snakemake(tiny_run, "--cores", "1", "--report", str(report))
    assert report.stat().st_size > 100_000
    shot = tmp_path / "report.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900",
         "--virtual-time-budget=5000", f"--screenshot={shot}", report.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (900, 1280)
    assert pixels.std() > 10  # not a blank page
