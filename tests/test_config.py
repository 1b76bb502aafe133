"""Config validation: a bad config is one ConfigError line naming the key, before any job; and
`snakemake -n` turns it into that one line on stderr and a non-zero exit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from camrobust.config import ConfigError, validate_config
from camrobust.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--workflow-profile", "none"]
OK = {"datasets": {"shapes": {"source": "shapes"}}}


def dry_run(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [
            *SNAKEMAKE,
            "--configfile",
            str(path),
            "-d",
            str(tmp_path / "wd"),
            "-s",
            str(ROOT / "Snakefile"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


BAD = [
    ({**OK, "colour": "red"}, "unknown key 'colour'"),
    ({**OK, "seed": "zero"}, "seed: 'zero' has the wrong type; expected integer"),
    ({**OK, "seed": -1}, "seed: -1 is out of range (minimum 0)"),
    ({"datasets": {"shapes": {"source": "mnist"}}}, "datasets.shapes.source: 'mnist' is not allowed"),
    ({"datasets": {"shapes": {"source": "shapes", "n_eval": 5}}}, "datasets.shapes.n_eval: 5 is out of range"),
    ({"datasets": {"shapes": {"n_train": 100}}}, "'source' is a required property"),
    ({"datasets": {"shapes": {"source": "shapes", "sise": 32}}}, "unknown key 'datasets.shapes.sise'"),
    ({**OK, "architectures": {"resnet50": {}}}, "architectures: 'resnet50' is not allowed; allowed: cnn13, resnet18, vgg11_bn"),
    ({**OK, "regularizers": {"vat": {"eps": 0}}}, "regularizers.vat.eps: 0 is out of range"),
    ({**OK, "noise": {"corruptions": {"rain": {"severities": [1]}}}}, "'rain' is not allowed"),
    ({**OK, "noise": {"corruptions": {"gaussian": {"severities": [6]}}}}, "gaussian.severities[0]: 6 is out of range (maximum 5)"),
    ({**OK, "noise": {"corruptions": {"gaussian": {"values": [-0.1]}}}}, "gaussian.values[0]: -0.1 is out of range"),
    ({**OK, "noise": {"corruptions": {"gaussian": {"values": ["big"]}}}}, "gaussian.values[0]: 'big' has the wrong type"),
    ({**OK, "cam": {"methods": ["gradcam", "smoothcam"]}}, "cam.methods[1]: 'smoothcam' is not allowed"),
    ({**OK, "stats": {"correction": "tukey"}}, "stats.correction: 'tukey' is not allowed"),
    ({**OK, "stats": {"measures": ["cosine"]}, "metrics": {"measures": ["ssim"]}}, "stats.measures: 'cosine' is not in metrics.measures"),
    ({**OK, "device": "tpu"}, "device: 'tpu'"),
    ({**OK, "architectures": {"resnet18": {"dropout": 0.2}}}, "architectures.resnet18.dropout: resnet18 has no dropout layers"),
    ({**OK, "architectures": {"vgg11_bn": {"dropout": 1.0}}}, "architectures.vgg11_bn.dropout: 1.0 is out of range"),
    ({**OK, "regularizers": {"lvat_vae": {"whiten": True}}}, "unknown key 'regularizers.lvat_vae.whiten'"),
    ({**OK, "datasets": {"shapes": {"source": "shapes", "regularizers": {"lvat_glow": {"whiten": True}}}}}, "unknown key 'datasets.shapes.regularizers.lvat_glow.whiten'"),
    ({**OK, "training": {"epochs": 3, "epoch_decay_start": 4}}, "training.epoch_decay_start: 4 is after the last epoch (epochs 3)"),
    ({"datasets": {"c": {"source": "cifar10", "training": {"epochs": 2}}}}, "datasets.c.training.epoch_decay_start: 5 is after the last epoch (epochs 2)"),
    ({"datasets": {"c": {"source": "svhn", "image_size": 64}}}, "datasets.c.image_size: svhn images are 32x32"),
    ({"datasets": {"s": {"source": "shapes", "training": {"seeds": [1]}}}}, "datasets.s.training.seeds: training seeds are global"),
    ({**OK, "training": {"seeds": []}}, "training.seeds"),
    ({**OK, "training": {"seeds": [0, 0]}}, "training.seeds"),
    ({**OK, "noise": {"adversarial": {"fgsm": {"eps": [8], "steps": 3}}}}, "unknown key 'noise.adversarial.fgsm.steps'"),
    ({**OK, "report": {"grid_noise": "fog"}}, "report.grid_noise: 'fog' is not a configured noise"),
    ({**OK, "report": {"corruption_error_reference": "alexnet"}}, "report.corruption_error_reference: 'alexnet' is neither a regularizer (erm, vat, lvat_vae, lvat_glow) nor a `models` name"),
    ({**OK, "report": {"measure": "pearson"}, "metrics": {"measures": ["ssim"]}, "stats": {"measures": ["ssim"]}}, "report.measure: 'pearson' is not in metrics.measures"),
    # the defaults of stats.measures and report.measure name rbo: dropping it names them first
    ({**OK, "metrics": {"measures": ["ssim"]}}, "stats.measures: 'rbo' is not in metrics.measures"),
    ({**OK, "metrics": {"rbo": {"score": "median"}}}, "metrics.rbo.score: 'median' is not allowed; allowed: mean, sum"),
    ({**OK, "metrics": {"rbo": {"p": 1}}}, "metrics.rbo.p: 1 is out of range (exclusiveMaximum 1)"),
    ({"datasets": {"mine": {"source": "imagefolder"}}}, "datasets.mine.path: imagefolder needs a folder"),
    ({"datasets": {"s": {"source": "svhn", "noise": {"source": "official"}}}}, "datasets.s.noise.source: official images exist only for cifar10, not svhn"),
    ({"datasets": {"c": {"source": "cifar10", "noise": {"source": "sampled"}}}}, "datasets.c.noise.source: 'sampled' is not allowed; allowed: generated, official"),
    ({"datasets": {"c": {"source": "cifar10", "noise": {"source": "official"}}}, "noise": {"table": "imagenetc"}}, "noise.table: datasets.c uses the official CIFAR-10-C images: use cifar10c"),
    ({"datasets": {"c": {"source": "cifar10", "noise": {"source": "official"}}}, "noise": {"corruptions": {"gaussian": {"severities": [1]}, "contrast": {"values": [0.3]}}}}, "noise.corruptions.contrast.values: datasets.c uses the official images: give severities (1-5)"),
    ({"datasets": {"c": {"source": "cifar10", "noise": {"url": "https://mirror.example/"}}}}, "datasets.c.noise.url: only for noise.source official"),
    ({"datasets": {"c": {"source": "cifar10", "noise": {"source": "official", "md5": "abc"}}}}, "datasets.c.noise.md5: 'abc' does not match"),
    ({"datasets": {"c": {"source": "cifar10", "noise": {"source": "official", "mirror": "x"}}}}, "unknown key 'datasets.c.noise.mirror'"),
    ({"datasets": {"s": {"source": "shapes", "n_eval": 12}}}, "metrics.sensitivity.images: 16 is more than datasets.s.n_eval (12)"),
    ({"datasets": {"s": {"source": "shapes", "n_eval": 12}}, "metrics": {"sensitivity": {"enabled": False}}}, "metrics.faithfulness.images: 16 is more than"),
    ({**OK, "metrics": {"faithfulness": {"percentiles": [50, 100]}}}, "metrics.faithfulness.percentiles[1]: 100 is out of range"),
    ({**OK, "metrics": {"sensitivity": {"samples": 3}}}, "unknown key 'metrics.sensitivity.samples'"),
    ({"datasets": {"mine": {"source": "imagefolder", "path": "/nonexistent/folder"}}}, "/nonexistent/folder"),
    ({"datasets": {"s": {"source": "shapes", "skip_unreadable": True}}}, "datasets.s.skip_unreadable: only image folders have files to skip"),
    ({"datasets": {"c": {"source": "cifar10", "skip_unreadable": "yes"}}}, "datasets.c.skip_unreadable: 'yes' has the wrong type; expected boolean"),
    ({**OK, "noise": {"table": "cifar100c"}}, "noise.table: 'cifar100c' is not allowed; allowed: auto, cifar10c, imagenetc"),
    ({**OK, "noise": {"transfer": {"attacks": ["pgd"]}}}, "noise.transfer.attacks: 'pgd' is not in noise.adversarial (none)"),
    ({**OK, "regularizers": {"erm": {}}, "noise": {"adversarial": {"fgsm": {"eps": [8]}}, "transfer": {"attacks": ["fgsm"], "reference": "vat"}}}, "noise.transfer.reference: 'vat' is not in regularizers (erm)"),
]  # fmt: skip


@pytest.mark.parametrize(("config", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_config_is_one_error_line_naming_the_key(config, message):
    """In-process: what the Snakefile does with a config before it defines any job."""
    with pytest.raises(ConfigError) as err:
        Plan(validate_config(config, SCHEMA))
    assert message in str(err.value)
    assert str(err.value).startswith("config error: ") and "\n" not in str(err.value)


def test_bad_config_stops_dry_run_with_one_line(tmp_path):
    result = dry_run(tmp_path, {**OK, "architectures": {"resnet18": {"dropout": 0.2}}})
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "config error: architectures.resnet18.dropout: resnet18 has no dropout layers"
    ], result.stderr
    assert not (tmp_path / "wd" / "results").exists()


def test_defaults_are_filled_and_overrides_stay_sparse():
    config = validate_config(
        {"datasets": {"c": {"source": "cifar10", "training": {"epochs": 6}}}}, SCHEMA
    )
    assert config["training"]["epochs"] == 10 and config["training"]["augment"]["translate"] == 2
    assert config["datasets"]["c"]["training"] == {"epochs": 6}
    assert config["datasets"]["c"]["n_eval"] == 100
    assert config["cam"]["target_policy"] == "predicted"


def test_shipped_configs_validate():
    shipped = sorted(p.name for p in (ROOT / "config").glob("*.yaml") if p.name != "schema.yaml")
    assert shipped == [
        "config.yaml", "imagenet-subset.yaml", "paper.yaml", "pretrained.yaml",
        "two-architectures.yaml",
    ]  # fmt: skip
    # these two need their files: tests of their own (imagenet-subset: tests/test_early_checks.py)
    for name in sorted(set(shipped) - {"pretrained.yaml", "imagenet-subset.yaml"}):
        raw = yaml.safe_load((ROOT / "config" / name).read_text())
        assert validate_config(raw, SCHEMA)["datasets"]
    # the default: three training seeds of one architecture (the regulariser test's unit)
    default = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), SCHEMA)
    assert default["training"]["seeds"] == [0, 1, 2] and list(default["architectures"]) == [
        "resnet18"
    ]
    with pytest.raises(ConfigError, match="seed"):
        validate_config({"seed": 1.5}, SCHEMA)


def test_key_order_does_not_matter():
    a = {"seed": 1, "datasets": {"s": {"source": "shapes", "n_eval": 20}}}
    b = {"datasets": {"s": {"n_eval": 20, "source": "shapes"}}, "seed": 1}
    va, vb = validate_config(a, SCHEMA), validate_config(b, SCHEMA)
    assert repr(va) == repr(vb)


def test_dropout_reaches_the_models_params_only_when_set():
    config = validate_config(
        {**OK, "architectures": {"vgg11_bn": {"dropout": 0.0}, "cnn13": {}}}, SCHEMA
    )
    plan = Plan(config)
    assert plan.train.params("shapes", "vgg11_bn-erm-s0")["arch_options"]["dropout"] == 0.0
    # Left out, the key stays out of the params: older configs do not rerun.
    assert "dropout" not in plan.train.params("shapes", "cnn13-erm-s0")["arch_options"]


def test_official_images_need_a_family_the_archive_has(monkeypatch):
    """The archive's families are checked by name (today they are every family of the schema)."""
    monkeypatch.setattr("camrobust.config.OFFICIAL_FAMILIES", ("gaussian",))
    official = {"datasets": {"c": {"source": "cifar10", "noise": {"source": "official"}}}}
    assert validate_config(
        {**official, "noise": {"corruptions": {"gaussian": {"severities": [2]}}}}
    )
    with pytest.raises(
        ConfigError,
        match=r"^config error: noise.corruptions.fog: not in the CIFAR-10-C archive \(datasets.c.noise.source\)$",
    ):
        validate_config({**official, "noise": {"corruptions": {"fog": {"severities": [1]}}}})


def test_official_images_read_the_archive_rows_of_their_severity():
    """An official dataset's noisy sets: a severity, no seed or table; the others unchanged."""
    config = {
        "datasets": {
            "c": {"source": "cifar10", "noise": {"source": "official"}},
            "g": {"source": "cifar10"},
        },
        "noise": {"corruptions": {"frost": {"severities": [4]}}},
    }
    plan = Plan(validate_config(config, SCHEMA))
    assert plan.noise.corruption_params("c", "frost", "4") == {
        "source": "official", "dataset": "c", "noise": "frost", "level": "4", "severity": 4,
    }  # fmt: skip
    assert plan.noise.corruption_params("g", "frost", "4")["strength"] == {
        "severity": 4,
        "table": "cifar10c",
    }
    assert "noise" not in plan.data.params("c")  # the data chain does not read it


# ---- the user's models (config `models`) ---------------------------------------------------------
def _user_config(tmp_path: Path, **entry) -> dict:
    checkpoint = tmp_path / "weights.pt"
    checkpoint.write_bytes(b"")
    model = {"source": "torchvision", "name": "resnet18", "checkpoint": str(checkpoint), **entry}
    return {**OK, "architectures": {}, "models": {"mine": model}}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"checkpoint": "/nowhere/w.pt"}, "models.mine.checkpoint: /nowhere/w.pt is not a file"),
        ({"input_size": 224}, "models.mine.input_size: 224 differs from datasets.shapes.image_size (32)"),
        ({"cam_prefix_tokens": 1}, "models.mine.cam_prefix_tokens: needs cam_layout: tokens"),
        ({"source": "camrobust", "mean": [0, 0, 0]}, "models.mine.mean: the project's own models"),
        ({"checkpoint": None}, "models.mine.checkpoint: mode evaluate needs a checkpoint"),
        ({"mode": "tune"}, "models.mine.mode: 'tune' is not allowed"),
        ({"source": "keras"}, "models.mine.source: 'keras' is not allowed"),
    ],
)  # fmt: skip
def test_a_user_model_is_checked_before_any_job(tmp_path, entry, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(_user_config(tmp_path, **entry))


def test_a_run_needs_a_model_and_names_user_models_with_a_hyphen_free_name(tmp_path):
    with pytest.raises(ConfigError, match="architectures: no model to evaluate"):
        validate_config({**OK, "architectures": {}})
    config = _user_config(tmp_path)
    config["models"]["my-net"] = config["models"].pop("mine")
    with pytest.raises(ConfigError, match="models: 'my-net' does not match"):
        validate_config(config)


def test_a_user_model_is_imported_not_trained_and_its_cam_keys_reach_the_cam_jobs(tmp_path):
    config = _user_config(tmp_path, cam_layout="tokens", cam_prefix_tokens=1)
    plan = Plan(validate_config({**config, "regularizers": {"lvat_vae": {}}}))
    # Nothing trained: no generative model either, whatever the regularisers say.
    assert plan.models == plan.user_models == ["mine"] and plan.generative == []
    params = plan.train.import_params("shapes", "mine")
    assert params["input_size"] == 32 and params["checkpoint"] == str(tmp_path / "weights.pt")
    cam = plan.cam.params("mine")
    assert (cam["target_layer"], cam["layout"], cam["prefix_tokens"]) == (None, "tokens", 1)
    # One regulariser group (pretrained): no figure comparing regularisers is planned.
    assert "forest_plot" not in plan.figures and "h_heatmap" in plan.figures
    assert (
        "forest_plot" in Plan(validate_config({**config, "architectures": {"cnn13": {}}})).figures
    )
    # A trained model's CAM params keep their keys (the default run's CAM jobs do not rerun).
    assert "layout" not in Plan(validate_config(OK)).cam.params("resnet18-erm-s0")


def test_the_pretrained_example_validates_once_its_files_exist(tmp_path):
    raw = yaml.safe_load((ROOT / "config" / "pretrained.yaml").read_text())
    with pytest.raises(
        ConfigError, match=r"^config error: (datasets|models)\.[a-z0-9_]+\.(path|checkpoint)"
    ):
        validate_config(raw)
    for dataset in raw["datasets"].values():
        dataset["path"] = str(tmp_path)
    for model in raw["models"].values():
        model["checkpoint"] = str(tmp_path / f"{model['name']}.pt")
        Path(model["checkpoint"]).write_bytes(b"")
    plan = Plan(validate_config(raw))
    assert plan.models == ["resnet50", "vit_b_16"] and plan.trained_models == []
    assert {
        plan.train.import_params(d, m)["input_size"] for d in plan.datasets for m in plan.models
    } == {224}
    # Its 224-pixel images get the ImageNet-C constants from the default table, and only the
    # evaluation images are decoded (nothing trains).
    assert {plan.noise.severity_table(d) for d in plan.datasets} == {"imagenetc"}
    assert [plan.data.params(d)["evaluate_only"] for d in plan.datasets] == [True]


def test_a_user_model_of_mode_train_is_trained_like_an_architecture(tmp_path):
    config = _user_config(tmp_path, mode="train", kwargs={"width": 0.5})
    config["models"]["mine"]["source"] = "camrobust"
    config["models"]["mine"]["name"] = "resnet18"
    plan = Plan(validate_config({**config, "regularizers": {"erm": {}, "lvat_vae": {}}}))
    assert plan.user_models == [] and plan.models == ["mine-erm-s0", "mine-lvat_vae-s0"]
    assert plan.generative == ["vae"]
    params = plan.train.params("shapes", "mine-lvat_vae-s0")
    assert "arch_options" not in params and params["arch"] == "mine"
    assert params["model_source"] == {
        "source": "camrobust", "name": "resnet18", "checkpoint": str(tmp_path / "weights.pt"),
        "input_size": 32, "mean": None, "std": None, "kwargs": {"width": 0.5},
    }  # fmt: skip
    assert plan.cam.params("mine-erm-s0")["layout"] is None
    # without a checkpoint it trains from random weights
    config["models"]["mine"]["checkpoint"] = None
    assert (
        Plan(validate_config(config)).train.params("shapes", "mine-erm-s0")["model_source"][
            "checkpoint"
        ]
        is None
    )


def test_a_user_model_beside_trained_ones_is_imported_once_and_theirs_trained(tmp_path):
    """Each model file has one rule: import_model for the user's, train_classifier for the rest."""
    import torch
    import torchvision

    config = _user_config(tmp_path)
    # a real checkpoint: the checks before the jobs read it (camrobust/preflight.py)
    net = torchvision.models.resnet18(num_classes=10)
    torch.save(net.state_dict(), config["models"]["mine"]["checkpoint"])
    config["architectures"] = {"resnet18": {}}
    config["regularizers"] = {"erm": {}, "vat": {}}
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^([a-z_]+)\s+(\d+)$", result.stdout, re.MULTILINE))
    assert (counts["import_model"], counts["train_classifier"]) == ("1", "2")
    assert counts["cam_clean"] == "3"


def test_the_config_checker_names_a_yaml_errors_line_and_a_bad_key(tmp_path):
    """`python -m camrobust.config`: what Snakemake's --configfile message leaves out."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: 0\ndatasets:\n  d: {source: shapes\ncam: {}\n")
    typo = tmp_path / "typo.yaml"
    typo.write_text("cam: {method: [gradcam]}\n")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-m", "camrobust.config", str(broken), str(typo), "config/paper.yaml"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert run.stdout == "config/paper.yaml: ok\n"
    lines = run.stderr.splitlines()
    assert lines[0].startswith(f"{broken} is not valid YAML (line 4, column 4): ")
    assert lines[1] == f"{typo}: config error: unknown key 'cam.method'; allowed: " + (
        "autocast, batch_size, methods, target_policy"
    )
