"""The workflow end to end on the tiny config: tables, reruns, interruptions, the report."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, TINY, planned_jobs, snakemake
from PIL import Image

from camrobust.config import load_yaml, validate_config
from camrobust.early import cam_work, layer_channels
from camrobust.metrics import MEASURES
from camrobust.plan import Plan
from camrobust.report.registry import FIGURES

# The measures of a config that names none (the tiny one): the schema's default, rbo first.
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
DEFAULT_MEASURES = SCHEMA["properties"]["metrics"]["properties"]["measures"]["default"]
STATS_MEASURES = SCHEMA["properties"]["stats"]["properties"]["measures"]["default"]
# The figures of the tiny run: all but those of a noise it does not configure (the explanation
# attack's, tests/test_workflow_explanation.py).
TINY_FIGURES = [name for name, spec in FIGURES.items() if spec.noise is None]

pytestmark = pytest.mark.slow


def test_both_shipped_configs_dry_run(tmp_path):
    default = planned_jobs(tmp_path / "d", config=None)  # the embedded default, no --configfile
    # 1 architecture x 4 regularisers x 3 training seeds = 12 models; 2 corruptions x 2 severities
    # = 4 noisy sets shared by all models; FGSM at 1 eps per model; CAMs per model for 4 + 1
    # noisy levels; metrics per model and noise. A VAE and a Glow per training seed.
    assert (default["train_classifier"], default["train_generative"]) == (12, 2 * 3)
    # FGSM transferred from each seed's ERM model: CAMs of the other 9 models (ERM's are its
    # own attack's), metrics of all 12; the claims job
    assert (default["noisy_set"], default["adversarial_set"]) == (4, 12)
    assert (default["cam_clean"], default["cam"], default["metrics"]) == (12, 12 * 5 + 9, 12 * 4)
    # one figure job per registered figure but the explanation attack's (no such noise here)
    # and the one of H against faithfulness (the quality metrics are off in the default), and one
    # job for each whole-run table: 193 in all
    assert default["figure"] == len(TINY_FIGURES) - 1 == 7
    tables = ("claims", "corruption_error_table", "accuracy_table", "robustness_table", "stats")
    assert all(default[rule] == 1 for rule in tables) and sum(default.values()) == 193
    assert not {"quality", "quality_table", "quality_stats"} & set(default)
    # the CAM-work line printed before the first job counts the jobs the dry run plans
    plan = Plan(validate_config(load_yaml(ROOT / "config" / "config.yaml")))
    jobs = default["cam"] + default["cam_clean"]
    assert cam_work(plan, layer_channels(plan, {}))[0].startswith(f"CAM work: {jobs} cam jobs ")
    assert default["segments"] == 1  # the paper's regions: once per dataset
    paper = planned_jobs(tmp_path / "p", ROOT / "config" / "paper.yaml")
    # 2 datasets x 3 architectures x 4 regularisers x 3 training seeds, 3 files downloaded
    # (CIFAR-10 + 2 SVHN).
    assert paper["train_classifier"] == 72 and paper["download"] == 3
    assert paper["train_generative"] == 2 * 2 * 3  # datasets x (VAE, Glow) x training seeds
    assert paper["quality"] == 72 and paper["quality_table"] == 1
    assert paper["segments"] == 2


@pytest.mark.parametrize(("device", "gpu"), [("cpu", "0"), ("cuda", "1")])
def test_torch_jobs_hold_the_gpu_only_when_they_run_on_one(tmp_path, device, gpu):
    """On the CPU the torch jobs share the cores; on a GPU the one `gpu` makes them take turns."""
    out = snakemake(tmp_path, "-n", "--cores", "2", "--config", f"device={device}").stdout
    torch_rules = (
        "train_generative", "train_classifier", "adversarial_set", "cam", "cam_clean", "quality",
    )  # fmt: skip
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


def test_image_folder_data_stage_stops_on_an_unreadable_file_or_skips_it(tmp_path):
    """prepare_data on a folder with a truncated JPEG: by default one error line naming the file
    and no output; with skip_unreadable the files, the file left out and the log's count."""
    rng = np.random.default_rng(0)
    for label in ("ant", "bee"):
        folder = tmp_path / "imgs" / label
        folder.mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:02d}.jpg")
    broken = tmp_path / "imgs" / "bee" / "05.jpg"
    broken.write_bytes(broken.read_bytes()[:-200])
    config = {"datasets": {"f": {"source": "imagefolder", "path": str(tmp_path / "imgs"),
                                 "n_eval": 10, "test_fraction": 0.5}},
              "metrics": {"sensitivity": {"enabled": False}, "faithfulness": {"enabled": False}}}  # fmt: skip
    path = tmp_path / "folder.yaml"
    path.write_text(yaml.safe_dump(config))
    target = "results/data/f/eval.npz"
    failed = snakemake(tmp_path / "stop", "--cores", "1", target, config=path, check=False)
    assert failed.returncode != 0
    log = (tmp_path / "stop/results/logs/data/f.log").read_text().splitlines()
    errors = [line for line in log if " ERROR " in line]
    assert len(errors) == 1, log
    assert f"ValueError: cannot read image {broken}: image file is truncated" in errors[0]
    written = tmp_path / "stop/results/data/f"
    assert not written.exists() or list(written.iterdir()) == []  # not even a temporary file

    config["datasets"]["f"]["skip_unreadable"] = True
    path.write_text(yaml.safe_dump(config))
    snakemake(tmp_path / "skip", "--cores", "1", target, config=path)
    data = {s: np.load(tmp_path / f"skip/results/data/f/{s}.npz") for s in ("train", "test")}
    assert [str(v) for split in data.values() for v in split["unreadable"]] == ["bee/05.jpg"]
    assert len(data["train"]["labels"]) + len(data["test"]["labels"]) == 23
    log = (tmp_path / "skip/results/logs/data/f.log").read_text()
    assert "1 unreadable files skipped" in log and "skipped unreadable files: bee/05.jpg" in log


def test_tables_have_the_expected_columns_ranges_and_rows(tiny_run):
    config = yaml.safe_load(TINY.read_text())
    n_eval, n_methods, n_models = config["datasets"]["shapes"]["n_eval"], 12, 4
    levels = {"gaussian": 2, "fgsm": 1, "fgsm_transfer": 1}
    per_image = pd.read_parquet(tiny_run / "results/tables/per_image.parquet")
    assert len(per_image) == n_models * n_methods * n_eval * sum(levels.values())
    for column in ("dataset", "model", "arch", "regularizer", "seed", "noise", "level", "method",
                   "image", "label", "pred_clean", "pred_noisy", "kept", "degenerate",
                   *DEFAULT_MEASURES, "n_regions", "mask_energy_clean", "pointing_noisy"):  # fmt: skip
        assert column in per_image, column
    # one training seed (the default): every model is {arch}-{reg}-s0
    assert set(per_image["seed"]) == {"0"}
    assert (per_image["model"] == per_image["arch"] + "-" + per_image["regularizer"] + "-s0").all()
    values = per_image[DEFAULT_MEASURES].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1 + 1e-9).all()
    # The regions of each image are the segments file's (Quickshift, once per dataset).
    segments = np.load(tiny_run / "results/data/shapes/segments.npz")
    assert segments["labels"].shape == (n_eval, 32, 32)
    regions = per_image.drop_duplicates("image").set_index("image")["n_regions"].sort_index()
    assert regions.tolist() == segments["n_regions"].tolist() and (regions > 1).all()
    assert (per_image["kept"] == (per_image["pred_clean"] == per_image["pred_noisy"])).all()
    # the placebos are marked; ResNet-18's layer4 ends in a ReLU and its head is linear after
    # global pooling: LayerCAM repeats element-wise Grad-CAM and HiResCAM Grad-CAM on every model
    assert set(per_image.loc[per_image["placebo"], "method"]) == {"randomcam", "sobelcam"}
    twins = per_image.drop_duplicates(["model", "method"]).set_index(["model", "method"])
    for model in per_image["model"].unique():
        assert twins.loc[(model, "layercam"), "same_as"] == "gradcamelementwise"
        assert twins.loc[(model, "hirescam"), "same_as"] == "gradcam"
        assert twins.loc[(model, "sobelcam"), "same_as"] == ""
    # the method tests take each group of identical maps once
    distinct = per_image[per_image["same_as"] == ""].groupby("model")["method"].nunique()

    robust = pd.read_csv(tiny_run / "results/tables/robustness.csv", dtype={"level": str})
    strata = n_models * n_methods * len(DEFAULT_MEASURES)
    # one row per level, plus the pooled level "all", per noise
    assert len(robust) == strata * sum(n + 1 for n in levels.values())
    assert set(robust["level"]) == {"1", "5", "8", "all"}
    for stat in ("consistency", "responsiveness", "robustness", "rm", "auroc"):
        finite = robust[stat].dropna()
        assert ((finite >= 0) & (finite <= 1)).all(), stat
    # RM = C x R of the same split, NaN exactly where H is
    np.testing.assert_allclose(robust["rm"], robust["consistency"] * robust["responsiveness"])
    assert (robust["rm"].isna() == robust["robustness"].isna()).all()
    # NaN only where the counts say why
    undefined = robust["consistency"].isna()
    assert (robust.loc[undefined, "n_kept"] == 0).all()
    assert robust.loc[robust["responsiveness"].isna(), "note"].str.contains("no flipped").all()

    accuracy = pd.read_csv(
        tiny_run / "results/tables/accuracy.csv", dtype={"level": str, "seed": str}
    )
    assert accuracy["accuracy"].between(0, 1).all()
    # a row per model, noise and level (its clean level 0 too: gaussian 3, fgsm 2, fgsm_transfer
    # 2), and as many pooled over the training seeds (seed "all"; one seed: one model each)
    pooled = accuracy["seed"] == "all"
    rows = n_models * sum(n + 1 for n in levels.values())
    assert len(accuracy) == 2 * rows and pooled.sum() == rows
    assert (accuracy.loc[pooled, "n_seeds"] == 1).all()
    # Rows per test family (docs/metric.md): strata × (omnibus + pairwise tests). Per-level strata,
    # plus the levels pooled where a noise has several (gaussian).
    n_levels = sum(levels.values()) + sum(n > 1 for n in levels.values())
    n_measures = len(STATS_MEASURES)  # every test runs once per measure of stats.measures
    expected = {
        "methods": sum(n_levels * (1 + comb(k, 2)) for k in distinct) * n_measures,
        # strata of the regulariser tests: each regulariser against ERM in each (one
        # architecture, one seed: a model per regulariser), or one row saying why not; six
        # endpoints per method and measure, the flip rate and the activation shift per level
        "regularizers": (6 * n_methods * n_measures + 2) * n_levels,
        # a Mann-Whitney per level, and every noise's levels pooled (van Elteren)
        "flips": n_models * n_methods * (sum(levels.values()) + len(levels)) * n_measures,
        "noise": n_models * n_methods * (1 + comb(len(levels), 2)) * n_measures,  # levels pooled
    }
    for name in ("methods", "regularizers", "mixedlm", "flips", "noise"):
        stats = pd.read_csv(tiny_run / f"results/stats/{name}.csv")
        assert {"test", "p_value", "note"} <= set(stats.columns)
        # every row has a p-value or says why not
        assert (stats["p_value"].notna() | stats["note"].notna()).all()
        if name == "regularizers":
            strata = stats.groupby(
                ["method", "noise", "level", "measure", "endpoint"], dropna=False
            )
            assert strata.ngroups == expected[name]
            for _, rows in strata:  # a row per regulariser, or one naming the missing reference
                whole = len(rows) == n_models - 1 and rows["group_a"].notna().all()
                assert whole or (len(rows) == 1 and rows["note"].str.contains("reference").all()), (
                    rows[["group_a", "note"]]
                )
        elif name in expected:
            assert len(stats) == expected[name], name
    # one mixed model (or the reason why not) per method and noise
    mixed = pd.read_csv(tiny_run / "results/stats/mixedlm.csv")
    assert len(mixed.groupby(["method", "noise"])) == n_methods * len(levels)
    pngs = sorted((tiny_run / "results/report/shapes").rglob("*.png"))
    assert len(pngs) == len(TINY_FIGURES) + n_models  # the figures and a CAM grid per model
    for png in pngs:
        with Image.open(png) as img:  # a PNG with something drawn on it
            assert img.format == "PNG" and np.asarray(img.convert("L")).std() > 10, png
    headline = (tiny_run / "results/tables/headline.md").read_text().splitlines()
    assert len(headline) <= 20 and headline[2] == "shapes:"
    # The paper's metric leads: RM over rbo, then this project's H over the headline measure.
    assert headline[3].startswith("- RM over rbo, the paper's metric: most robust CAM method")
    assert headline[4].startswith("- H over rbo, this project's extension: most robust CAM method")
    summary = (tiny_run / "results/tables/summary.md").read_text()
    assert summary.startswith("RM rbo columns: the paper's metric, RM = C x R")
    _check_claims_and_transfer(tiny_run, per_image, n_models, list(levels))
    _check_quality_tables(tiny_run, config, n_models, n_methods)


def _check_claims_and_transfer(tiny_run: Path, per_image: pd.DataFrame, n_models, noises) -> None:
    """The claims (one seed: estimates, untested) and the transfer attack's rows."""
    claims = pd.read_csv(tiny_run / "results/stats/claims.csv")
    assert set(claims["noise"]) == set(noises) and claims["p_value"].isna().all()
    for _, rows in claims.groupby("noise"):  # a row per regulariser, or one saying why not
        whole = len(rows) == n_models - 1 and rows["note"].str.contains("one model").all()
        assert whole or (len(rows) == 1 and "no usable model" in rows["note"].iloc[0]), rows
    sensitivity = pd.read_csv(tiny_run / "results/stats/sensitivity.csv")
    assert len(sensitivity) == len(noises) and sensitivity["p_value"].isna().all()
    assert sensitivity["note"].str.contains("one model|needs the reference").all()
    # the activation shift of every noisy row; ERM's transfer CAMs are its own attack's
    assert np.isfinite(per_image["feature_shift"]).all() and (per_image["feature_shift"] > 0).all()
    key = ["method", "image"]
    own = per_image.query("model == 'resnet18-erm-s0' and noise == 'fgsm'").set_index(key)
    moved = per_image.query("model == 'resnet18-erm-s0' and noise == 'fgsm_transfer'")
    moved = moved.set_index(key)
    pd.testing.assert_series_equal(own["ssim"], moved["ssim"].loc[own.index])
    vat = per_image.query("model == 'resnet18-vat-s0' and noise in ('fgsm', 'fgsm_transfer')")
    shifts = vat.groupby("noise")["feature_shift"].mean()
    assert shifts["fgsm"] != shifts["fgsm_transfer"]  # its own attack, ERM's images


def _check_quality_tables(tiny_run: Path, config: dict, n_models: int, n_methods: int) -> None:
    """quality.csv: a row per model × method × metric with its images, means within range."""
    from camrobust.quality import FAITHFULNESS_METRICS, SENSITIVITY_METRICS

    metrics = config["metrics"]
    images = {
        **dict.fromkeys(SENSITIVITY_METRICS, metrics["sensitivity"]["images"]),
        **dict.fromkeys(FAITHFULNESS_METRICS, metrics["faithfulness"]["images"]),
    }
    quality = pd.read_csv(tiny_run / "results/tables/quality.csv")
    assert len(quality) == n_models * n_methods * len(images)
    assert set(quality["metric"]) == set(images)
    assert (quality["n_images"] == quality["metric"].map(images)).all()
    # a mean is undefined only where no image has a finite score (NaN, inf counted)
    no_score = quality["n_nan"] + quality["n_infinite"] == quality["n_images"]
    assert (np.isnan(quality["mean"]) == no_score).all()
    finite = quality[~no_score]
    sens = finite[finite["metric"].isin(SENSITIVITY_METRICS)]
    assert (sens["mean"] >= 0).all()
    probability = finite[finite["metric"].isin(["deletion_auc", "insertion_auc"])]
    assert probability["mean"].between(0, 1).all()
    change = finite[~finite["metric"].isin([*SENSITIVITY_METRICS, "deletion_auc", "insertion_auc"])]
    assert change["mean"].between(-1, 1).all()
    bounded = finite.dropna(subset=["mean_lo", "mean_hi"])
    assert len(bounded) and (bounded["mean_lo"] <= bounded["mean"] + 1e-12).all()
    assert (bounded["mean"] <= bounded["mean_hi"] + 1e-12).all()
    tests = pd.read_csv(tiny_run / "results/stats/quality.csv")
    # per model and metric: a Friedman row and the pairwise Wilcoxon rows
    assert len(tests) == n_models * len(images) * (1 + comb(n_methods, 2))
    summary = pd.read_csv(tiny_run / "results/tables/summary.csv")
    assert {"avg_sensitivity", "road_combined", "placebo", "same_as"} <= set(summary.columns)
    _check_corruption_error_table(tiny_run, n_models)


def _check_corruption_error_table(tiny_run: Path, n_models: int) -> None:
    """A row per model and corruption family (gaussian) and its mean (noise all); against ERM,
    whose ratios are 1, or NaN with the reason (the tiny run's untrained models can be more
    accurate under noise than clean: no relative CE)."""
    table = pd.read_csv(tiny_run / "results/tables/corruption_error.csv")
    assert len(table) == n_models * 2 and set(table["noise"]) == {"gaussian", "all"}
    assert (table["reference"] == table["arch"] + "-erm-s0").all()
    erm = table[table["regularizer"] == "erm"]
    for column in ("ce", "relative_ce"):
        defined = erm[column].notna()
        assert (erm.loc[defined, column] == 1.0).all()
        # a family's ratio says why it is undefined, the mean over families which it left out
        assert erm.loc[~defined, "note"].str.contains("undefined|families").all()
    assert table["error"].between(0, 1).all()


def test_a_second_dry_run_has_nothing_to_do(tiny_run):
    assert planned_jobs(tiny_run) == {}


def variant(tmp_path: Path, change) -> Path:
    config = yaml.safe_load(TINY.read_text())
    change(config)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


AGGREGATES = {"robustness_table": 1, "per_image_table": 1, "accuracy_table": 1, "stats": 1,
              "claims": 1, "figure": 8, "summary_table": 1, "headline": 1,
              "corruption_error_table": 1, "all": 1}  # fmt: skip
QUALITY = {"quality_table": 1, "quality_stats": 1}  # the quality aggregates


def test_adding_a_noise_level_schedules_only_that_level(tiny_run, tmp_path):
    path = variant(
        tmp_path, lambda c: c["noise"]["corruptions"]["gaussian"].update(severities=[1, 3, 5])
    )
    assert planned_jobs(tiny_run, path) == {
        "noisy_set": 1, "cam": 4, "metrics": 4, "cam_grid": 4, **AGGREGATES,
    }  # fmt: skip


def test_adding_a_cam_method_reruns_cams_but_no_training_or_noise(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c["cam"].update(methods=[*_all_methods(), "fem"]))
    # per model gaussian 1 and 5, fgsm 8; fgsm_transfer 8 for the three models but ERM
    assert planned_jobs(tiny_run, path) == {
        "cam_clean": 4, "cam": 4 * 3 + 3, "metrics": 4 * 3, "cam_grid": 4, "quality": 4,
        **QUALITY, **AGGREGATES,
    }  # fmt: skip


def _all_methods() -> list[str]:
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    return schema["properties"]["cam"]["properties"]["methods"]["default"]


def test_a_regulariser_hyper_parameter_reruns_only_its_models_chain(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c["regularizers"]["vat"].update(eps=3.0))
    # VAT's own chain, its CAMs of the images transferred from ERM too
    assert planned_jobs(tiny_run, path) == {
        "train_classifier": 1, "adversarial_set": 1, "cam_clean": 1, "cam": 4, "metrics": 3,
        "cam_grid": 1, "quality": 1, **QUALITY, **AGGREGATES,
    }  # fmt: skip


def test_a_new_training_seed_reruns_only_its_chains_and_the_aggregates(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c.setdefault("training", {}).update(seeds=[0, 1]))
    # the new seed's models and its own VAE and Glow
    assert planned_jobs(tiny_run, path) == {
        "train_generative": 2, "train_classifier": 4, "adversarial_set": 4, "cam_clean": 4,
        "cam": 4 * 3 + 3, "metrics": 4 * 3, "cam_grid": 4, "quality": 4, **QUALITY,
        **AGGREGATES,
    }  # fmt: skip


def test_a_figure_option_reruns_only_report_jobs(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c.setdefault("report", {}).update(dpi=90))
    assert planned_jobs(tiny_run, path) == {"figure": 8, "cam_grid": 4, "all": 1}


def test_report_keys_rerun_only_the_jobs_that_read_them(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c.setdefault("report", {}).update(grid_images=2))
    assert planned_jobs(tiny_run, path) == {"cam_grid": 4, "all": 1}
    reference = variant(
        tmp_path, lambda c: c.setdefault("report", {}).update(corruption_error_reference="vat")
    )
    assert planned_jobs(tiny_run, reference) == {"corruption_error_table": 1, "all": 1}
    other = next(m for m in MEASURES if m != "ssim")
    path = variant(tmp_path, lambda c: c.setdefault("report", {}).update(measure=other))
    # Four of the eight figures show the headline measure; the CAM grids show none; the
    # headline's claims are tested on it.
    assert planned_jobs(tiny_run, path) == {
        "figure": 4, "summary_table": 1, "claims": 1, "headline": 1, "all": 1,
    }  # fmt: skip


def test_the_segments_rerun_only_for_their_keys_or_new_evaluation_images(tiny_run, tmp_path):
    """Quickshift's keys: the segments, then the metrics that read them; how a map ranks the
    regions (p, score): the metrics only; other keys (tests above): never the segments; new
    evaluation images: everything, the segments once."""
    path = variant(tmp_path, lambda c: c["metrics"].update(rbo={"kernel_size": 2}))
    # metrics: 4 models x 3 noises (gaussian, fgsm, fgsm transferred from ERM)
    assert planned_jobs(tiny_run, path) == {"segments": 1, "metrics": 4 * 3, **AGGREGATES}
    path = variant(tmp_path, lambda c: c["metrics"].update(rbo={"p": 0.8, "score": "sum"}))
    assert planned_jobs(tiny_run, path) == {"metrics": 4 * 3, **AGGREGATES}
    path = variant(tmp_path, lambda c: c["datasets"]["shapes"].update(n_eval=30))
    assert planned_jobs(tiny_run, path) == {
        "prepare_data": 1, "segments": 1, "train_generative": 2, "train_classifier": 4,
        "noisy_set": 2, "adversarial_set": 4, "cam_clean": 4, "cam": 4 * 3 + 3, "metrics": 4 * 3,
        "cam_grid": 4, "quality": 4, **QUALITY, **AGGREGATES,
    }  # fmt: skip


def test_a_killed_run_resumes_to_identical_outputs(tiny_run, tmp_path):
    """SIGKILL the whole snakemake process group while it trains, run again: the same models as
    an uninterrupted run (training is where a run resumes from checkpoints; the outputs
    downstream of the models are compared across runs by the SLURM test)."""
    targets = [
        str(p.relative_to(tiny_run)) for p in sorted((tiny_run / "results/models").rglob("*.pt"))
    ]
    assert len(targets) == 4  # one model per regulariser
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
           "--configfile", str(TINY), "--cores", "2", *targets]  # fmt: skip
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
    snakemake(tmp_path, "--cores", "2", *targets)
    files = sorted(
        p for name in ("models", "generative") for p in (tiny_run / "results" / name).rglob("*.*")
    )
    assert (
        len(files) == 4 * 3 + 2
    )  # model.pt, metrics.json, curve.csv per model; vae-s0.pt, glow-s0.pt
    for path in files:
        other = tmp_path / path.relative_to(tiny_run)
        assert other.read_bytes() == path.read_bytes(), path


@pytest.mark.chromium
def test_the_report_builds_and_chromium_renders_it(tiny_run, tmp_path):
    assert shutil.which("chromium"), "Debian's chromium is needed: run `make system-deps`"
    report = tiny_run / "report.html"
    snakemake(tiny_run, "--cores", "1", "--report", str(report))
    html = report.read_text()
    pngs = list((tiny_run / "results/report").rglob("*.png"))
    assert len(pngs) == len(TINY_FIGURES) + 4  # every figure and one CAM grid per model
    assert html.count("data:image/png") == len(pngs)
    for name in ("h_heatmap", "severity_curves", "kept_flipped", "average_ranks",
                 "accuracy_vs_severity", "forest_plot", "robustness.csv", "summary.csv",
                 "methods.csv", "regularizers.csv", "mixedlm.csv", "flips.csv", "noise.csv"):  # fmt: skip
        assert name in html, name
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


def test_user_checkpoints_are_evaluated_as_they_are_to_the_tables(tmp_path):
    """A CNN, a tiny ViT and a tiny Swin from torchvision, saved random-initialised as a user
    would save their own, run through every stage without training. Two gradient methods keep
    it short (tests/test_cam.py checks every method on transformers against pytorch-grad-cam)."""
    import torch
    import torchvision

    from camrobust.data.shapes import CLASS_NAMES

    models = {  # name: (architecture, constructor options, CAM layer: None = the family's)
        "resnet": ("resnet18", {}, "layer3"),  # layer4 is 1×1 at 32 pixels
        # a 4×4 patch grid at 32 pixels, two blocks, 24k parameters
        "vit": ("VisionTransformer", {"patch_size": 8, "num_layers": 2, "num_heads": 2,
                                      "hidden_dim": 32, "mlp_dim": 64}, None),
        # two stages (8×8, then 4×4 at the default layer, the last), 36k parameters
        "swin": ("SwinTransformer", {"patch_size": [4, 4], "embed_dim": 16, "depths": [2, 2],
                                     "num_heads": [2, 2], "window_size": [4, 4]}, None),
    }  # fmt: skip
    entries = {}
    for name, (arch, options, layer) in models.items():
        torch.manual_seed(0)
        size = {"image_size": 32} if arch == "VisionTransformer" else {}
        if options:
            net = getattr(torchvision.models, arch)(num_classes=len(CLASS_NAMES), **size, **options)
        else:
            net = torchvision.models.get_model(arch, weights=None, num_classes=len(CLASS_NAMES))
        if arch == "VisionTransformer":  # torchvision zero-initialises the head: every logit
            torch.nn.init.normal_(net.heads.head.weight, std=0.02)  # and every map would be 0
        torch.save(net.state_dict(), tmp_path / f"{name}.pt")
        entries[name] = {"source": "torchvision", "name": arch, "checkpoint": str(tmp_path / f"{name}.pt"),
                         "target_layer": layer, "kwargs": options}  # fmt: skip
    config = {
        "seed": 0, "device": "cpu",
        "datasets": {"shapes": {"source": "shapes", "n_train": 100, "n_test": 50, "n_eval": 10}},
        "architectures": {}, "models": entries,
        "noise": {"corruptions": {"gaussian": {"severities": [3]}}, "adversarial": {"fgsm": {"eps": [8]}}},
        "cam": {"methods": ["gradcam", "layercam"], "batch_size": 10},
        # n_eval 10 < the quality families' default 16 images: off here (tests/test_quality_*)
        "metrics": {"bootstrap": 20, "sensitivity": {"enabled": False},
                    "faithfulness": {"enabled": False}, "measures": ["ssim", "l1"]},
        # a config without the paper's rbo still runs: no segments, the headline says so
        "stats": {"min_pairs": 5, "measures": ["ssim"]}, "report": {"measure": "ssim"},
    }  # fmt: skip
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    # What the assertions read; the figures and grids are the tiny run's (test_tables_...).
    tables = ("per_image.parquet", "accuracy.csv", "headline.md")
    targets = [*(f"results/tables/{name}" for name in tables), "results/stats/methods.csv"]
    snakemake(out, "--cores", "2", *targets, config=path)
    results = out / "results"
    assert not (results / "generative").exists()  # nothing trained, no generative model
    assert sorted(p.name for p in (results / "models/shapes").iterdir()) == sorted(models)
    per_image = pd.read_parquet(results / "tables/per_image.parquet")
    assert len(per_image) == len(models) * 2 * 10 * 2  # models × methods × images × levels
    assert (
        set(per_image["model"]) == set(models) and (per_image["arch"] == per_image["model"]).all()
    )
    assert set(per_image["regularizer"]) == {"pretrained"} and set(per_image["seed"]) == {"0"}
    assert np.isfinite(per_image[["ssim", "l1"]].to_numpy()).all()
    assert not {"rbo", "n_regions"} & set(per_image.columns)
    assert not (results / "data/shapes/segments.npz").exists()
    accuracy = pd.read_csv(results / "tables/accuracy.csv", dtype={"level": str, "seed": str})
    per_model = accuracy[accuracy["seed"] == "0"]
    assert set(per_model["model"]) == set(models) and per_model["test_accuracy"].between(0, 1).all()
    for name in ("methods", "regularizers", "mixedlm", "flips", "noise"):
        stats = pd.read_csv(results / f"stats/{name}.csv")
        assert (stats["p_value"].notna() | stats["note"].notna()).all(), name
    headline = (results / "tables/headline.md").read_text().splitlines()
    assert headline[3] == (
        "- RM over rbo, the paper's metric: not computed (rbo is not in metrics.measures)"
    )
    # nor the figure of the paper's method rankings among what the whole run would still make
    rest = snakemake(out, "-n", "--cores", "2", config=path).stdout
    assert "report/shapes/cam_grid/resnet.png" in rest and "method_rankings" not in rest


def test_a_quality_option_reruns_only_the_quality_jobs(tiny_run, tmp_path):
    path = variant(tmp_path, lambda c: c["metrics"]["sensitivity"].update(n_samples=3))
    assert planned_jobs(tiny_run, path) == {
        "quality": 4, **QUALITY, "figure": 1, "summary_table": 1, "all": 1,
    }  # fmt: skip
    off = {"enabled": False}
    path = variant(tmp_path, lambda c: c["metrics"].update(sensitivity=off, faithfulness=off))
    assert planned_jobs(tiny_run, path) == {"summary_table": 1, "all": 1}
