"""The plan: the schema agrees with the library's registries, every config key reaches exactly the
jobs that read it, training seeds make models of their own, and the test switches and logging
stay out of the jobs' params and imports.

The key sweep computes every job's params in-process from Plan (the functions the rules call),
for a base config that holds every key of the schema, then changes one key at a time.
"""

from __future__ import annotations

import copy
import fnmatch
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_config_docs import KEYS, resolve

from camrobust.config import SCHEMA, ConfigError, validate_config
from camrobust.data.cifar10c import official_files
from camrobust.data.prepare import SOURCES, remote_files
from camrobust.logs import FAIL_FIRST_ENV, script_logging
from camrobust.names import TARGET_LAYERS, model_name, split_model
from camrobust.plan import Plan, training_seed

SCHEMA_DOC = yaml.safe_load(SCHEMA.read_text())
PROPS = SCHEMA_DOC["properties"]
DEFS = SCHEMA_DOC["$defs"]


# ---- the schema's names are the library's -------------------------------------------------------
def test_schema_enums_equal_the_registries():
    """Each side is written once; this fails as soon as one of them gains or loses a name."""
    from camrobust.cam.methods import METHODS
    from camrobust.metrics.measures import MEASURES
    from camrobust.models import ARCHITECTURES
    from camrobust.noise.settings import ATTACK_OPTIONS
    from camrobust.noise.severities import CORRUPTIONS, SEVERITY_TABLES
    from camrobust.train.generative import GENERATIVE_KINDS
    from camrobust.train.regularizers import REGISTRY
    from camrobust.train.schedule import SCHEDULE_KEYS

    # One enum of architecture names, referenced by the top-level and the per-dataset map.
    archs = DEFS["architecture_name"]["enum"]
    ref = {"$ref": "#/$defs/architecture_name"}
    assert PROPS["architectures"]["propertyNames"] == ref
    assert DEFS["dataset"]["properties"]["architectures"]["propertyNames"] == ref
    assert set(archs) == set(ARCHITECTURES) == set(TARGET_LAYERS)
    assert PROPS["cam"]["properties"]["methods"]["items"]["enum"] == list(METHODS)
    noise = PROPS["noise"]["properties"]
    assert noise["corruptions"]["propertyNames"]["enum"] == list(CORRUPTIONS)
    assert noise["table"]["enum"] == ["auto", *SEVERITY_TABLES]
    attacks = noise["adversarial"]["properties"]
    # the explanation attack's options: tests/test_explanation_attack.py
    assert list(attacks) == [*ATTACK_OPTIONS, "explanation_attack"]
    for name, options in ATTACK_OPTIONS.items():
        assert set(resolve(attacks[name], SCHEMA_DOC)["properties"]) == {"eps", *options}, name
    regs = DEFS["regularizers"]["properties"]
    assert list(regs) == list(REGISTRY)
    for name, reg in REGISTRY.items():
        assert set(resolve(regs[name], SCHEMA_DOC).get("properties", {})) == set(reg.keys), name
    assert set(DEFS["training"]["properties"]) == {
        *SCHEDULE_KEYS,
        "augment",
        "seeds",
        "recalibrate_bn",
    }
    assert list(PROPS["generative"]["properties"]) == list(GENERATIVE_KINDS)
    assert DEFS["dataset"]["properties"]["source"]["enum"] == list(SOURCES)
    pattern = PROPS["metrics"]["properties"]["measures"]["items"]["pattern"]
    assert all(__import__("re").fullmatch(pattern, m) for m in MEASURES)
    from camrobust.columns import PAPER_MEASURE, REGION_MEASURES

    # Every measure by default, the paper's first; it is also the default headline measure.
    default = PROPS["metrics"]["properties"]["measures"]["default"]
    assert default == [*REGION_MEASURES, *MEASURES] and default[0] == PAPER_MEASURE
    assert PROPS["report"]["properties"]["measure"]["default"] == PAPER_MEASURE


def test_default_target_layers_exist_and_architectures_without_dropout_have_none():
    from torch import nn

    from camrobust.models import build_classifier
    from camrobust.names import ARCHS_WITHOUT_DROPOUT

    for arch, layer in TARGET_LAYERS.items():
        model = build_classifier(arch, 10, width=0.0625)
        assert isinstance(model.get_submodule(layer), nn.Module)
        has_dropout = any(isinstance(m, nn.Dropout) for m in model.modules())
        assert has_dropout == (arch not in ARCHS_WITHOUT_DROPOUT), arch


# ---- every job's params, from the plan ----------------------------------------------------------
def job_params(plan: Plan) -> dict[tuple[str, ...], Any]:
    """{(rule, wildcards...): params} for every job of the plan's DAG."""
    jobs: dict[tuple[str, ...], Any] = {}
    for d in plan.datasets:
        spec = plan.config["datasets"][d]
        for filename, source in {**remote_files(spec), **official_files(spec)}.items():
            jobs["download", d, filename] = source
        jobs["prepare_data", d] = plan.data.params(d)
        if plan.needs_segments:
            jobs["segments", d] = plan.metrics.segment_params(d)
        for gen in plan.generative:
            for seed in plan.training_seeds:
                jobs["train_generative", d, gen, seed] = plan.train.generative_params(d, gen, seed)
        for noise, levels in plan.corruptions.items():
            for level in levels:
                jobs["noisy_set", d, noise, level] = plan.noise.corruption_params(d, noise, level)
        for level in plan.explanation:
            jobs["linf_random_set", d, level] = plan.noise.linf_random_params(d, level)
        for model in plan.user_models:
            jobs["import_model", d, model] = plan.train.import_params(d, model)
        for model in plan.models:
            if model in plan.trained_models:
                jobs["train_classifier", d, model] = plan.train.params(d, model)
            jobs["cam_clean", d, model] = plan.cam.params(model)
            for attack, levels in plan.attacks.items():
                for level in levels:
                    jobs["adversarial_set", d, model, attack, level] = plan.noise.attack_params(
                        d, model, attack, level
                    )
            for level in plan.explanation:
                for method in plan.explanation_methods:
                    jobs["explanation_attack_set", d, model, level, method] = (
                        plan.noise.explanation_attack_params(d, model, level, method)
                    )
                jobs["cam_explanation_attack", d, model, level] = plan.cam.explanation_params(model)
            for noise in plan.noises:
                # the explanation attack has CAM jobs of its own (above); a transfer against its
                # own reference model has none: its attack's files
                own = noise != "explanation_attack" and plan.cam_noise(model, noise) == noise
                for level in plan.levels(noise) if own else []:
                    jobs["cam", d, model, noise, level] = plan.cam.params(model)
                jobs["metrics", d, model, noise] = plan.metrics.params(noise)
            jobs["cam_grid", d, model] = plan.report.cam_grid_params()
            if plan.quality_enabled:
                jobs["quality", d, model] = plan.metrics.quality_params(model)
        for figure in plan.figures:
            jobs["figure", d, figure] = plan.report.figure_params(figure)
    jobs["stats",] = plan.report.stats_params()
    jobs["claims",] = plan.report.claims_params()
    if plan.quality_enabled:
        jobs["quality_table",] = plan.report.quality_table_params()
        jobs["quality_stats",] = plan.report.quality_stats_params()
    jobs["summary_table",] = plan.report.summary_params()
    jobs["accuracy_table",] = plan.report.accuracy_params()
    jobs["headline",] = plan.report.summary_params()
    if plan.corruptions:
        jobs["corruption_error_table",] = plan.report.corruption_error_params()
    return jobs


def changed_rules(before: Plan, after: Plan) -> set[str]:
    """Rules with a job whose params changed, or that gained or lost a job."""
    a, b = job_params(before), job_params(after)
    return {job[0] for job in a.keys() | b.keys() if a.get(job) != b.get(job)}


# The rules that read each key, first matching pattern wins ("<*>" is any name of a map).
EXPLANATION = {"explanation_attack_set", "cam_explanation_attack"}
CHAIN = {
    "train_classifier",
    "adversarial_set",
    *EXPLANATION,
    "cam",
    "cam_clean",
    "metrics",
    "cam_grid",
    "quality",
}
QUALITY = {"quality", "quality_table", "quality_stats"}
LEVELS = {"cam", "metrics", "cam_grid"}  # a level list of the grid's noise
READERS: list[tuple[str, set[str]]] = [
    # cam and cam_clean: the default methods include randomcam, which draws from the seed
    ("seed", {"prepare_data", "train_generative", "train_classifier", "noisy_set",
              "adversarial_set", "linf_random_set", "cam", "cam_clean", "metrics", "cam_grid",
              "quality", "quality_table", "segments", "claims"}),
    ("device", {"train_generative", "train_classifier", "import_model", "adversarial_set", "cam",
                "cam_clean", "quality", *EXPLANATION}),
    # and the input size of the `models` entries (of both modes), and noise.table auto's choice
    ("datasets.<*>.image_size", {"prepare_data", "import_model", "train_classifier", "noisy_set"}),
    ("datasets.<*>.training.*", {"train_classifier"}),
    ("datasets.<*>.regularizers.*", {"train_classifier"}),
    ("datasets.<*>.source", {"download", "prepare_data"}),
    ("datasets.<*>.url", {"download", "prepare_data"}),
    ("datasets.<*>.md5*", {"download", "prepare_data"}),
    ("datasets.<*>.architectures.*", {"train_classifier"}),
    ("datasets.<*>.noise.source", {"download", "noisy_set"}),
    ("datasets.<*>.noise.*", {"download"}),
    ("datasets.<*>.*", {"prepare_data"}),
    ("architectures.<*>.target_layer", {"cam", "cam_clean", "quality", *EXPLANATION}),
    ("architectures.<*>.*", {"train_classifier"}),
    ("regularizers.*", {"train_classifier"}),
    # a generative model per seed; the accuracy table lists every model's file
    ("training.seeds", {*CHAIN, "train_generative", "accuracy_table"}),
    ("training.*", {"train_classifier"}),
    ("generative.*", {"train_generative"}),
    ("noise.table", {"noisy_set"}),
    ("noise.batch_size", {"noisy_set", "adversarial_set", "explanation_attack_set"}),
    ("noise.corruptions.<*>.*", {"noisy_set", *LEVELS}),
    ("noise.adversarial.*.eps", {"adversarial_set", "linf_random_set", *EXPLANATION, *LEVELS}),
    ("noise.adversarial.*", {"adversarial_set", "explanation_attack_set"}),
    ("noise.transfer.attacks", {"cam", "metrics"}),  # the new noise's CAMs and metrics
    ("noise.transfer.reference", {"cam"}),  # which models' CAMs are their own attack's
    ("cam.batch_size", {"cam", "cam_clean", "import_model", "quality", "cam_explanation_attack"}),
    ("cam.target_policy", {"cam", "cam_clean", "cam_explanation_attack"}),
    # the methods: which sets the explanation attack makes
    ("cam.*", {"cam", "cam_clean", "quality", *EXPLANATION}),
    # the model moves between the two chains (and its name in the accuracy table's list)
    ("models.<*>.mode", {"import_model", *CHAIN, "accuracy_table"}),
    ("models.<*>.target_layer", {"cam", "cam_clean", "quality", *EXPLANATION}),
    # an image folder's published transform (preprocess auto) is that of the models' architectures
    ("models.<*>.source", {"import_model", "train_classifier", "prepare_data"}),
    ("models.<*>.name", {"import_model", "train_classifier", "prepare_data"}),
    ("models.<*>.cam_*", {"cam", "cam_clean", "quality", *EXPLANATION}),
    ("models.<*>.*", {"import_model", "train_classifier"}),
    # switching the faithfulness family off also drops the H-vs-faithfulness figure
    ("metrics.faithfulness.enabled", {*QUALITY, "figure"}),
    ("metrics.sensitivity.enabled", QUALITY),
    ("metrics.sensitivity.*", {"quality"}),
    ("metrics.faithfulness.*", {"quality"}),
    ("metrics.bootstrap", {"metrics", "quality_table"}),
    ("metrics.ci", {"metrics", "quality_table"}),
    # how a map ranks the regions: the metrics jobs; Quickshift's options: the segments only
    ("metrics.rbo.p", {"metrics"}),
    ("metrics.rbo.score", {"metrics"}),
    ("metrics.rbo.*", {"segments"}),
    ("metrics.*", {"metrics"}),
    ("stats.measures", {"stats"}),
    ("stats.alpha", {"stats", "quality_stats", "claims"}),  # the claims' test level
    ("stats.min_pairs", {"stats", "quality_stats", "claims"}),  # their fewest images a cell
    ("claims.*", {"claims"}),
    ("stats.*", {"stats", "quality_stats"}),
    ("report.dpi", {"figure", "cam_grid"}),
    ("report.measure", {"figure", "summary_table", "headline", "claims"}),
    ("report.grid_*", {"cam_grid"}),
    ("report.corruption_error_reference", {"corruption_error_table"}),
]  # fmt: skip


def readers(key: str) -> set[str]:
    pattern_key = key.replace("<name>", "<*>").replace("<family>", "<*>")
    for pattern, rules in READERS:
        if fnmatch.fnmatchcase(pattern_key, pattern):
            return rules
    raise AssertionError(f"no READERS entry for {key}")


LEAVES = [k for k in KEYS if not any(other.startswith(f"{k}.") for other in KEYS)]
# Keys that have nothing to change: ERM takes no hyper-parameters, and the training seeds are
# global (setting them per dataset is a config error, tests/test_config.py).
NOTHING_TO_CHANGE = {
    "regularizers.erm",
    "datasets.<name>.regularizers.erm",
    "datasets.<name>.training.seeds",
    # Its one valid value is every dataset's image_size, which null stands for already.
    "models.<name>.input_size",
}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """A config that sets every key somewhere (two image folders to switch between)."""
    folders = [tmp_path_factory.mktemp(f"images{i}") for i in range(2)]
    checkpoints = [folders[0] / f"weights{i}.pt" for i in range(2)]
    for path in checkpoints:
        path.write_bytes(b"")  # only its existence is checked before the jobs
    user_model = {
        "source": "torchvision",
        "checkpoint": str(checkpoints[0]),
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "target_layer": "layer4",
    }
    reg = {"eps": 2.0, "xi": 1e-6, "alpha": 1.0, "entmin": False}
    vat = {**reg, "whiten": False}
    return {
        "folders": [str(f) for f in folders],
        "checkpoints": [str(c) for c in checkpoints],
        "config": {
            "datasets": {
                "shapes": {"source": "shapes", "n_train": 100, "n_test": 50, "n_eval": 20},
                "c": {
                    "source": "cifar10",
                    "training": {
                        "epochs": 4, "iters_per_epoch": 5, "batch_labeled": 8,
                        "batch_unlabeled": 8, "lr": 0.01, "epoch_decay_start": 2,
                        "n_labeled": 100, "augment": {"translate": 1, "flip": True},
                        "recalibrate_bn": False,
                    },
                    "regularizers": {"erm": {}, "vat": vat, "lvat_vae": reg, "lvat_glow": reg},
                    "architectures": {"resnet18": {"top_bn": False}},
                },
                "s": {"source": "svhn", "md5": {"train": "1" * 32, "test": "2" * 32}},
                # above 32 pixels: noise.table auto gives it the ImageNet-C constants
                "f": {"source": "imagefolder", "path": str(folders[0]), "image_size": 64},
            },
            "architectures": {"resnet18": {}, "vgg11_bn": {"dropout": 0.1}},
            "regularizers": {"erm": {}, "vat": {}, "lvat_vae": {}, "lvat_glow": {}},
            "noise": {
                "corruptions": {"gaussian": {"severities": [1, 3]}, "contrast": {"values": [0.5]}},
                "adversarial": {"fgsm": {"eps": [8]}, "pgd": {"eps": [2]},
                                "explanation_attack": {"eps": [4]}},
                "transfer": {"attacks": ["fgsm"], "reference": "erm"},
            },
            "report": {"grid_noise": "contrast"},
            "models": {
                "cnn": {**user_model, "name": "resnet18", "cam_layout": "nhwc"},
                "vit": {**user_model, "name": "vit_b_16", "cam_layout": "tokens",
                        "cam_prefix_tokens": 1, "kwargs": {"patch_size": 8}},
                "tuned": {**user_model, "name": "swin_t", "mode": "train"},
            },
        },
    }  # fmt: skip


def official(config: dict) -> dict:
    """The base config with CIFAR-10-C's published images for dataset `c` (severities only)."""
    config = copy.deepcopy(config)
    config["datasets"]["c"]["noise"] = {"source": "official"}
    config["noise"]["corruptions"]["contrast"] = {"severities": [2]}
    return config


def _get(config: dict, path: list[str]) -> Any:
    for part in path:
        config = config[part]
    return config


def _set(config: dict, path: list[str], value: Any) -> None:
    _get(config, path[:-1])[path[-1]] = value


def concrete_paths(config: dict, key: str) -> list[list[str]]:
    """The places in `config` that `key` (with <name>/<family> placeholders) names."""
    found = [[]]
    for part in key.split("."):
        step = []
        for path in found:
            node = _get(config, path)
            if not isinstance(node, dict):
                continue
            names = list(node) if part.startswith("<") else [part] if part in node else []
            step += [[*path, name] for name in names]
        found = step
    return found


def schema_node(key: str) -> dict:
    node: dict = SCHEMA_DOC
    for part in key.split("."):
        node = resolve(node, SCHEMA_DOC)
        if part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            node = node["additionalProperties"]
    return resolve(node, SCHEMA_DOC)


def candidates(key: str, node: dict, value: Any, files: dict[str, list[str]]) -> list[Any]:
    """Other values for a key, to be tried in order until one validates."""
    special = {
        "url": ["https://mirror.example/data/"],
        "md5": ["0" * 32],
        "train": ["0" * 32],
        "test": ["0" * 32],
        "path": [f for f in files["folders"] if f != value],
        "checkpoint": [f for f in files["checkpoints"] if f != value],
        "kwargs": [{"patch_size": 4}],
        "name": ["resnet50"],
        "target_layer": ["layer3", "features.conv7"],
        "measure": ["pearson"],
        "grid_noise": ["gaussian"],
        "device": ["cpu", "cuda:1"],
        "sigma": [0.5],  # Quickshift's smoothing: 0 doubled or halved is 0
        "corruption_error_reference": ["vat", "cnn"],
        "attacks": [["fgsm", "pgd"], []],
        "reference": ["vat"],
        "preprocess": ["square", {"resize": 72, "crop": 64, "interpolation": "bicubic"}],
        "classes": ["identity"],
    }
    last = key.rsplit(".", 1)[-1]
    if last in special:
        return special[last]
    if "enum" in node:
        return [v for v in node["enum"] if v != value]
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, bool):
        return [not value]
    if value is None:
        return [100, 0.25, 1]
    if isinstance(value, int) and "integer" in types:
        return [value + 1, value - 1]
    if isinstance(value, float | int):
        top = node.get("maximum", node.get("exclusiveMaximum"))
        return [value * 2, (value + top) / 2 if top is not None else value / 2, value / 2]
    if isinstance(value, list):
        items = resolve(node["items"], SCHEMA_DOC)
        if node.get("minItems") == node.get("maxItems"):
            return [[value[0] + 1, *value[1:]]]
        pool = items.get("enum") or ["iou_top10", "pearson", 2, 4, 5, 16, 0.3]
        return [[*value, extra] for extra in pool if extra not in value]
    raise AssertionError(f"no other value for {key} = {value!r}")


@pytest.mark.parametrize("key", [k for k in LEAVES if k not in NOTHING_TO_CHANGE])
def test_changing_a_key_changes_exactly_the_jobs_that_read_it(base, key):
    # The archive's keys change something only where a dataset reads the archive.
    official_key = key.startswith("datasets.<name>.noise.")
    config = validate_config(official(base["config"]) if official_key else base["config"])
    plan = Plan(config)
    places = concrete_paths(config, key)
    assert places, f"the sweep's base config does not set {key}"
    changed_somewhere = []
    for path in places:
        value = _get(config, path)
        for other in candidates(key, schema_node(key), value, base):
            changed = copy.deepcopy(config)
            _set(changed, path, other)
            try:
                after = Plan(validate_config(changed))
            except ConfigError:
                continue
            rules = changed_rules(plan, after)
            where = ".".join(path)
            assert rules, f"{where}: {value!r} -> {other!r} changes no job's params"
            assert rules <= readers(key), f"{where} changes {sorted(rules - readers(key))}"
            changed_somewhere.append(where)
            break
    # Some places allow no other value (a CIFAR-10 image_size, a ResNet's dropout); not all.
    assert changed_somewhere, f"{key}: no place in the base config takes another valid value"


# ---- training seeds -----------------------------------------------------------------------------
def test_model_names_round_trip_and_reject_anything_else():
    assert model_name("vgg11_bn", "lvat_glow", 12) == "vgg11_bn-lvat_glow-s12"
    assert split_model("vgg11_bn-lvat_glow-s12") == ("vgg11_bn", "lvat_glow", 12)
    assert split_model("resnet18-erm-s0").seed == 0
    # A `models` entry (no hyphen) is its own arch, regulariser "pretrained", seed 0.
    assert split_model("my_vit2") == ("my_vit2", "pretrained", 0)
    for bad in ("resnet18-erm", "resnet18-erm-0", "resnet18-erm-s", "ResNet", "2vit", "a-b"):
        with pytest.raises(ValueError, match="is not '<arch>-<regularizer>-s<seed>'"):
            split_model(bad)


def test_a_new_training_seed_adds_its_own_chains_and_changes_no_other_job(base):
    config = validate_config(base["config"])
    seeded = copy.deepcopy(config)
    seeded["training"]["seeds"] = [0, 1]
    one, two = job_params(Plan(config)), job_params(Plan(seeded))
    # The accuracy table lists every model's file: it gains the new seed's, as its inputs do.
    listed, relisted = (jobs.pop(("accuracy_table",))["models"] for jobs in (one, two))
    assert [key for key in relisted if key in listed] == listed
    assert {split_model(m).seed for d, m in relisted if [d, m] not in listed} == {1}
    assert {job: two[job] for job in one} == one  # every existing job keeps its params
    new = set(two) - set(one)
    gens = {job for job in new if job[0] == "train_generative"}
    # the new seed's own VAE and Glow per dataset that trains LVAT models
    assert gens and all(job[3] == 1 for job in gens)
    assert all(split_model(job[2]).seed == 1 for job in new - gens)
    assert {job[0] for job in new - gens} == CHAIN
    # Noise sets stay shared: only the per-model rules gain jobs.
    models = Plan(seeded).trained_models
    assert len(models) == 2 * len(Plan(config).trained_models)
    assert Plan(seeded).user_models == Plan(config).user_models == ["cnn", "vit"]
    assert "tuned-vat-s1" in models  # a user's model of mode train has its seeds too


def test_each_training_seed_trains_from_its_own_seed():
    plan = Plan(validate_config({"seed": 7, "training": {"seeds": [0, 1, 2]}}))
    seeds = [plan.train.params("shapes", f"resnet18-erm-s{s}")["seed"] for s in (0, 1, 2)]
    assert seeds[0] == 7  # seed 0: the config seed itself, the models of a one-seed config
    assert len(set(seeds)) == 3
    assert training_seed(8, 1) != training_seed(7, 1)  # another config seed, other models
    # The seeds name the models; they are not a training param (a new seed reruns no model).
    assert "seeds" not in plan.train.params("shapes", "resnet18-erm-s1")["training"]


def test_each_training_seed_has_its_own_generative_models_seeded_like_its_classifiers():
    regs = {"erm": {}, "lvat_vae": {}, "lvat_glow": {}}
    plan = Plan(
        validate_config({"seed": 7, "training": {"seeds": [0, 1, 2]}, "regularizers": regs})
    )
    assert plan.training_seeds == [0, 1, 2] and plan.generative == ["glow", "vae"]
    for seed in (0, 1, 2):
        gen = plan.train.generative_params("shapes", "vae", seed)
        assert gen["seed"] == plan.train.params("shapes", f"resnet18-lvat_vae-s{seed}")["seed"]
    assert (
        plan.train.generative_params("shapes", "glow", 0)["seed"] == 7
    )  # the config seed's models
    assert plan.train.generative_params("shapes", "vae", 1) != plan.train.generative_params(
        "shapes", "vae", 2
    )


def test_a_transfer_attack_is_crafted_on_the_reference_model_of_each_seed():
    plan = Plan(
        validate_config(
            {
                "training": {"seeds": [0, 1]},
                "regularizers": {"erm": {}, "vat": {}},
                "noise": {
                    "adversarial": {"fgsm": {"eps": [4, 8]}},
                    "transfer": {"attacks": ["fgsm"], "reference": "vat"},
                },
            }
        )
    )
    assert plan.noises == ["gaussian", "fgsm", "fgsm_transfer"]
    assert plan.levels("fgsm_transfer") == plan.levels("fgsm") == ["4", "8"]
    assert plan.transfer_reference("resnet18-erm-s1") == "resnet18-vat-s1"
    assert plan.transfer_reference("resnet18-vat-s0") == "resnet18-vat-s0"
    # the reference's own CAMs under its attack are its transfer CAMs: computed once
    assert plan.cam_noise("resnet18-vat-s1", "fgsm_transfer") == "fgsm"
    assert plan.cam_noise("resnet18-erm-s1", "fgsm_transfer") == "fgsm_transfer"
    assert plan.cam_noise("resnet18-erm-s1", "fgsm") == "fgsm"


def test_attack_budget_stays_in_config_units_and_the_target_layer_is_resolved():
    plan = Plan(validate_config({"noise": {"adversarial": {"fgsm": {"eps": [8]}}}}))
    params = plan.noise.attack_params("shapes", "resnet18-erm-s0", "fgsm", "8")
    assert params["eps"] == 8 and params["options"] == {}
    assert plan.cam.params("resnet18-erm-s0")["target_layer"] == TARGET_LAYERS["resnet18"]


def test_a_corruption_level_given_as_a_value_reads_no_severity_table():
    noise = {"corruptions": {"gaussian": {"severities": [2]}, "contrast": {"values": [0.5]}}}
    plan = Plan(validate_config({"noise": noise}))
    assert plan.noise.corruption_params("shapes", "gaussian", "2")["strength"] == {
        "severity": 2,
        "table": "cifar10c",
    }
    assert plan.noise.corruption_params("shapes", "contrast", "0.5")["strength"] == {"value": 0.5}


# ---- test switches and imports ------------------------------------------------------------------
def test_failure_injection_fails_only_the_named_rule_once(tmp_path, monkeypatch):
    log = tmp_path / "job.log"
    monkeypatch.setenv(FAIL_FIRST_ENV, "stats,metrics")
    with pytest.raises(RuntimeError, match="on purpose"), script_logging(str(log), rule="metrics"):
        pass
    with script_logging(str(log), rule="metrics"):  # the retry
        pass
    with script_logging(str(tmp_path / "other.log"), rule="cam"):  # not named: never fails
        pass
    monkeypatch.delenv(FAIL_FIRST_ENV)
    with script_logging(str(tmp_path / "third.log"), rule="metrics"):
        pass
    assert sorted(p.name for p in tmp_path.glob("*.failed-once")) == ["job.log.failed-once"]


def test_the_plan_and_the_logging_import_no_torch():
    code = (
        "import sys, camrobust.logs, camrobust.plan, camrobust.paths, camrobust.config;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_a_datasets_architecture_override_reaches_only_its_classifiers():
    config = {
        "datasets": {
            "svhn_like": {"source": "shapes", "architectures": {"resnet18": {"top_bn": True}}},
            "shapes": {"source": "shapes"},
        },
        "architectures": {"resnet18": {"width": 0.125}},
    }
    plan = Plan(validate_config(config))
    model = plan.models[0]
    assert plan.train.params("svhn_like", model)["arch_options"]["top_bn"] is True
    assert plan.train.params("shapes", model)["arch_options"]["top_bn"] is False
    # the data preparation does not read it, so it does not rerun
    assert "architectures" not in plan.data.params("svhn_like")


def test_without_rbo_nothing_reads_segments_and_the_rbo_options_reach_no_job():
    """A config that drops rbo: no segmentation job, no rbo options in the metrics params (so
    p and score rerun nothing), and no figure that compares with rbo."""
    measures = {"metrics": {"measures": ["ssim", "l1"]}, "stats": {"measures": ["ssim"]},
                "report": {"measure": "ssim"}}  # fmt: skip
    plan = Plan(validate_config(measures))
    assert not plan.needs_segments
    assert not any(job[0] == "segments" for job in job_params(plan))
    assert "rbo" not in plan.metrics.params("gaussian")
    assert "method_rankings" not in plan.figures
    other = Plan(
        validate_config({**measures, "metrics": {**measures["metrics"], "rbo": {"p": 0.5}}})
    )
    assert changed_rules(plan, other) == set()
    # With rbo: one segmentation job per dataset, and the metrics jobs read p and score only.
    default = Plan(validate_config({}))
    assert default.metrics.params("gaussian")["rbo"] == {"p": 0.9, "score": "mean"}
    assert default.metrics.segment_params("shapes") == {
        "seed": 0, "dataset": "shapes", "kernel_size": 1, "max_dist": 200, "ratio": 0.2,
        "sigma": 0,
    }  # fmt: skip
    assert "method_rankings" in default.figures


def test_quality_switched_off_plans_no_quality_job_and_no_faithfulness_figure():
    off = {"sensitivity": {"enabled": False}, "faithfulness": {"enabled": False}}
    # images beyond n_eval do not matter while a family is off
    config = {"datasets": {"s": {"source": "shapes", "n_eval": 10}}, "metrics": off}
    jobs = job_params(Plan(validate_config(config)))
    assert not {job[0] for job in jobs} & {"quality", "quality_table", "quality_stats"}
    assert ("figure", "s", "h_vs_faithfulness") not in jobs
    sens_only = Plan(validate_config({"metrics": {"faithfulness": {"enabled": False}}}))
    params = sens_only.metrics.quality_params(sens_only.models[0])
    assert params["faithfulness"] is None and params["sensitivity"]["images"] == 16
    assert "h_vs_faithfulness" not in sens_only.figures
    assert "sensitivity" not in sens_only.metrics.params("gaussian")  # no metrics rerun


# ---- severity tables and image-folder preparation ----------------------------------------------
def test_noise_table_auto_follows_each_datasets_image_size(tmp_path):
    """auto: CIFAR-10-C's constants up to 32 pixels, ImageNet-C's above; an explicit table wins."""
    config = {
        "datasets": {
            "shapes": {"source": "shapes"},
            "big": {"source": "shapes", "image_size": 33},
            "folder": {"source": "imagefolder", "path": str(tmp_path), "image_size": 224},
        },
        "noise": {"corruptions": {"gaussian": {"severities": [3]}, "contrast": {"values": [0.5]}}},
    }
    plan = Plan(validate_config(config))
    assert plan.config["noise"]["table"] == "auto"
    tables = {
        d: plan.noise.corruption_params(d, "gaussian", "3")["strength"]["table"]
        for d in plan.datasets
    }
    assert tables == {"shapes": "cifar10c", "big": "imagenetc", "folder": "imagenetc"}
    assert plan.noise.corruption_params("folder", "contrast", "0.5")["strength"] == {"value": 0.5}
    for table in ("cifar10c", "imagenetc"):
        config["noise"]["table"] = table
        fixed = Plan(validate_config(config))
        assert {fixed.noise.severity_table(d) for d in fixed.datasets} == {table}


def test_the_default_configs_noisy_sets_keep_their_params():
    """The embedded default (32-pixel shapes) gets the table it had before auto: cifar10c."""
    auto = Plan(validate_config({}))
    explicit = Plan(validate_config({"noise": {"table": "cifar10c"}}))
    jobs = job_params(auto)
    assert jobs == job_params(explicit)
    noisy = [params for job, params in jobs.items() if job[0] == "noisy_set"]
    assert noisy and all(p["strength"]["table"] == "cifar10c" for p in noisy)


def test_an_image_folder_is_evaluated_only_when_no_model_trains(tmp_path):
    """Then only its evaluation images are decoded, and its checkpoints' accuracy is measured on
    them; other sources keep the params they had (their splits are always made in full)."""
    (tmp_path / "m.pt").write_bytes(b"")
    datasets = {"f": {"source": "imagefolder", "path": str(tmp_path)}, "s": {"source": "shapes"}}
    user = {
        "m": {"source": "torchvision", "name": "resnet18", "checkpoint": str(tmp_path / "m.pt")}
    }
    evaluates = Plan(validate_config({"datasets": datasets, "architectures": {}, "models": user}))
    trains = Plan(validate_config({"datasets": datasets, "models": user}))
    assert [evaluates.evaluate_only(d) for d in ("f", "s")] == [True, False]
    assert [trains.evaluate_only(d) for d in ("f", "s")] == [False, False]
    assert evaluates.data.params("f")["evaluate_only"] is True
    assert trains.data.params("f")["evaluate_only"] is False
    assert evaluates.data.params("f")["skip_unreadable"] is False
    assert evaluates.train.import_params("f", "m")["accuracy_on"] == "evaluation subset"
    assert "accuracy_on" not in trains.train.import_params("f", "m")
    assert evaluates.data.params("s") == trains.data.params("s")
    assert {"evaluate_only", "skip_unreadable"}.isdisjoint(trains.data.params("s"))
    assert "accuracy_on" not in evaluates.train.import_params("s", "m")
