"""What the workflow computes, derived from a validated config: models, noise levels, and the
slice of the config each job reads (its `params`, so config edits rerun exactly what changed).

The config comes validated (camrobust/config.py); file names are in camrobust/paths.py. Pure
Python (no torch): the Snakefile builds this on every dry run.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from camrobust.columns import REGION_MEASURES
from camrobust.config import merged, severity_table
from camrobust.data.cifar10c import is_official
from camrobust.explanation_names import (
    EXPLANATION_ATTACK,
    LINF_RANDOM,
    attacked_methods,
)
from camrobust.names import (
    CLEAN_LEVEL,
    GENERATIVE_OF,
    RANDOM_METHODS,
    TARGET_LAYERS,
    model_name,
    split_model,
    transfer_noise,
)
from camrobust.report.registry import FIGURES, figure_spec
from camrobust.seeding import derive_seed

QUALITY_SECTIONS = ("sensitivity", "faithfulness")  # the metrics sections of the quality job
# The metrics.rbo keys of the segmentation job (Quickshift's); the metrics jobs read the rest.
SEGMENT_KEYS = ("kernel_size", "max_dist", "ratio", "sigma")
_LAYER_KEYS = ("target_layer", "layout", "prefix_tokens")  # where a model's CAMs are taken
# Model sources with a published evaluation transform (camrobust/models/published.py).
PUBLISHING_SOURCES = ("torchvision", "timm")


def level_name(value: int | float) -> str:
    """A noise level as a file-name-safe decimal string (severity 3 -> '3', 0.05 -> '0.05')."""
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(float(value))), "f")


def training_seed(config_seed: int, seed: int) -> int:
    """The seed a model of training seed `seed` trains from (its initial weights, its batches).

    Seed 0 is the config seed itself, so a config with the one training seed 0 trains the
    networks it trained before there were training seeds."""
    return config_seed if seed == 0 else derive_seed(config_seed, "training seed", seed)


class Plan:
    """The jobs' names and parameters for one validated config."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.seed = config["seed"]
        self.device = config["device"]
        self.datasets = list(config["datasets"])
        # The user's models of mode train are trained like the architectures, by their names.
        trained = [n for n, spec in config["models"].items() if spec["mode"] == "train"]
        self.architectures = [*config["architectures"], *trained]
        self.regularizers = list(config["regularizers"])
        self.trained_models = [
            model_name(a, r, s)
            for a in self.architectures
            for r in self.regularizers
            for s in config["training"]["seeds"]
        ]
        # The user's checkpoints evaluated as they are (rule import_model), by their own names.
        self.user_models = [n for n in config["models"] if n not in trained]
        self.models = [*self.trained_models, *self.user_models]
        # The generative models the configured latent-space regularisers need (none when
        # nothing is trained).
        regularizers = self.regularizers if self.trained_models else []
        self.generative = sorted({GENERATIVE_OF.get(r) for r in regularizers} - {None})
        noise = config["noise"]
        # noise -> {level name: (kind, value)} where kind is "severity" or "value"
        self.corruptions: dict[str, dict[str, tuple[str, int | float]]] = {}
        for name, spec in noise["corruptions"].items():
            kind, values = next(iter(spec.items()))
            kind = "severity" if kind == "severities" else "value"
            self.corruptions[name] = {level_name(v): (kind, v) for v in values}
        self.attacks: dict[str, dict[str, int]] = {
            name: {level_name(e): e for e in spec["eps"]}
            for name, spec in noise["adversarial"].items()
            if spec is not None
        }
        # The explanation attack makes one image set per CAM method (its own rules); its random
        # control linf_random shares its budgets. {level name: eps}, empty when not configured.
        self.explanation: dict[str, int] = self.attacks.pop(EXPLANATION_ATTACK, {})
        # transfer noise -> its attack, crafted on each seed's reference model (noise.transfer)
        self.transfers = {transfer_noise(a): a for a in noise["transfer"]["attacks"]}

    # ---- names -------------------------------------------------------------------------------
    @property
    def noises(self) -> list[str]:
        """Every noise a CAM is computed under: corruptions, then attacks and their transfers,
        then the explanation attack's random control and the explanation attack."""
        return [*self.corruptions, *self.attacks, *self.transfers, *self.explanation_noises]

    @property
    def explanation_noises(self) -> list[str]:
        """linf_random and explanation_attack where the explanation attack is configured."""
        return [LINF_RANDOM, EXPLANATION_ATTACK] if self.explanation else []

    def levels(self, noise: str) -> list[str]:
        """Level names of `noise` in config order."""
        if noise in self.explanation_noises:
            return list(self.explanation)
        noise = self.transfers.get(noise, noise)  # a transfer has its attack's levels
        table = self.corruptions if noise in self.corruptions else self.attacks
        return list(table[noise])

    def transfer_reference(self, model: str) -> str:
        """The model a transfer attack against `model` is crafted on: the reference regulariser's
        model of its architecture and training seed; a user's model (no seed block) is its own."""
        if model in self.user_models:
            return model
        arch, _, seed = split_model(model)
        return model_name(arch, self.config["noise"]["transfer"]["reference"], seed)

    def cam_noise(self, model: str, noise: str) -> str:
        """The noise whose CAM files hold `model`'s maps under `noise`: a transfer against its
        own reference model is that model's own attack, computed once."""
        if noise in self.transfers and self.transfer_reference(model) == model:
            return self.transfers[noise]
        return noise

    @property
    def figures(self) -> list[str]:
        """The report figures; those comparing regularisers only where the models have two
        (a run of the user's checkpoints alone has one, `pretrained`: nothing to compare), those
        drawn from the quality table only with the faithfulness metrics on, those of one noise
        only where it is configured."""
        groups = {split_model(m).regularizer for m in self.models}
        measured = set(self.config["metrics"]["measures"])
        return [
            f
            for f in FIGURES
            if (len(groups) > 1 or not figure_spec(f).compares_regularizers)
            and (figure_spec(f).extra != "quality" or self.faithfulness_enabled)
            and set(figure_spec(f).measures) <= measured
            and figure_spec(f).noise in (None, *self.noises)
        ]

    def grid_noise(self) -> str:
        """The noise shown in the CAM grid figures."""
        return self.config["report"]["grid_noise"] or self.noises[0]

    # ---- params (each job's config slice) ----------------------------------------------------
    def data_params(self, dataset: str) -> dict[str, Any]:
        """The dataset's own keys; for an image folder also whether the run only evaluates it
        (then only its evaluation images are decoded, see `evaluate_only`)."""
        spec = {
            k: v
            for k, v in self.config["datasets"][dataset].items()
            if k not in ("training", "regularizers", "architectures", "noise")
        }
        preprocess = self.image_preprocess(spec.pop("preprocess"))
        if spec["source"] == "imagefolder":
            spec["evaluate_only"] = self.evaluate_only(dataset)
            if preprocess is not None:  # the centred square keeps the params it had
                spec["preprocess"] = preprocess
        else:  # only image folders have files to skip (config.py); other params stay as they were
            spec.pop("skip_unreadable")
        return {"seed": self.seed, "dataset": dataset, **spec}

    def image_preprocess(self, preprocess: str | dict[str, Any]) -> dict[str, Any] | None:
        """How an image folder's images are cut from their files: None for the centred square;
        explicit sizes; or, for `auto`, the (source, name) of the torchvision and timm models
        whose published transform the job reads (none of them: the square)."""
        if preprocess == "square":
            return None
        if preprocess != "auto":
            return dict(preprocess)
        models = self.config["models"].values()
        publishers = sorted(
            {(m["source"], m["name"]) for m in models if m["source"] in PUBLISHING_SOURCES}
        )
        return {"published_by": [list(p) for p in publishers]} if publishers else None

    def evaluate_only(self, dataset: str) -> bool:
        """Whether `dataset` is an image folder that no model trains on: its test file then holds
        the evaluation subset alone, the only images the run reads (docs/pipeline.md)."""
        source = self.config["datasets"][dataset]["source"]
        return source == "imagefolder" and not self.trained_models

    @property
    def training_seeds(self) -> list[int]:
        """The training seeds; each has its own generative models (`generative_params`)."""
        return list(self.config["training"]["seeds"])

    def generative_params(self, dataset: str, gen: str, seed: int) -> dict[str, Any]:
        """A VAE or Glow of one training seed: seeded like that seed's classifiers, so its
        variation is part of the seed-to-seed variation the regulariser test measures."""
        return {
            "seed": training_seed(self.seed, seed),
            "dataset": dataset,
            "device": self.device,
            **self.config["generative"][gen],
        }

    def training(self, dataset: str) -> dict[str, Any]:
        """The global training section with the dataset's overrides merged over it (without the
        seeds, which name the models: a new seed must not rerun the others)."""
        section = merged(self.config["training"], self.config["datasets"][dataset].get("training"))
        section.pop("seeds")
        return section

    def train_params(self, dataset: str, model: str) -> dict[str, Any]:
        arch, reg, seed = split_model(model)
        overrides = (self.config["datasets"][dataset].get("regularizers") or {}).get(reg)
        return {
            "seed": training_seed(self.seed, seed),
            "dataset": dataset,
            "device": self.device,
            "arch": arch,
            **self._architecture(dataset, arch),
            "regularizer": reg,
            "reg_params": merged(self.config["regularizers"][reg], overrides),
            "training": self.training(dataset),
        }

    def _architecture(self, dataset: str, arch: str) -> dict[str, Any]:
        """How a trained model is built: a project architecture's options, or a user's model
        of mode train (its source, name and checkpoint)."""
        if arch in self.config["models"]:
            return {"model_source": self.model_source(dataset, arch)}
        return {"arch_options": self.arch_options(dataset, arch)}

    def model_source(self, dataset: str, name: str) -> dict[str, Any]:
        """What build_model needs for a `models` entry (input size: its own or the dataset's)."""
        spec = self.config["models"][name]
        size = spec["input_size"] or self.config["datasets"][dataset]["image_size"]
        build = ("source", "name", "checkpoint", "mean", "std", "kwargs")
        return {**{k: spec[k] for k in build}, "input_size": size}

    def import_params(self, dataset: str, model: str) -> dict[str, Any]:
        """A user's checkpoint evaluated as it is: how to build it, the accuracy pass's batch, and
        (evaluate-only image folders) that the test file it measures holds the evaluation subset."""
        params = {
            "dataset": dataset,
            "device": self.device,
            **self.model_source(dataset, model),
            "classes": self.config["models"][model]["classes"],
            "batch_size": self.config["cam"]["batch_size"],
        }
        if self.evaluate_only(dataset):  # only then: the other datasets' params stay as they were
            params["accuracy_on"] = "evaluation subset"
        return params

    def arch_options(self, dataset: str, arch: str) -> dict[str, Any]:
        """An architecture's options, with the dataset's override (e.g. SVHN's top_bn) over them."""
        override = (self.config["datasets"][dataset].get("architectures") or {}).get(arch)
        opts = merged(self.config["architectures"][arch], override)
        options = {"width": opts["width"], "top_bn": opts["top_bn"]}
        # Only when set: configs that leave it out keep their params, so nothing reruns.
        if opts.get("dropout") is not None:
            options["dropout"] = opts["dropout"]
        return options

    def noise_params(self, dataset: str, noise: str, level: str) -> dict[str, Any]:
        """A corruption level: a severity of the dataset's table (`noise.table`, auto: by its
        image size), or an explicit value (no table); for a dataset with official images, the
        severity whose rows of the archive it reads."""
        kind, value = self.corruptions[noise][level]
        if is_official(self.config["datasets"][dataset]):
            return {
                "source": "official",
                "dataset": dataset,
                "noise": noise,
                "level": level,
                "severity": value,
            }
        strength = (
            {"severity": value, "table": self.severity_table(dataset)}
            if kind == "severity"
            else {"value": value}
        )
        return {
            "seed": self.seed,
            "dataset": dataset,
            "noise": noise,
            "level": level,
            "strength": strength,
            "batch_size": self.config["noise"]["batch_size"],
        }

    def severity_table(self, dataset: str) -> str:
        """The severity constants of `dataset`'s corruptions (cifar10c or imagenetc)."""
        size = self.config["datasets"][dataset]["image_size"]
        return severity_table(self.config["noise"]["table"], size)

    def attack_params(self, dataset: str, model: str, attack: str, level: str) -> dict[str, Any]:
        """The budget in the config's unit (1/255 levels) and the attack's own options."""
        spec = self.config["noise"]["adversarial"][attack]
        return {
            "seed": self.seed,
            "dataset": dataset,
            "model": model,
            "device": self.device,
            "attack": attack,
            "level": level,
            "eps": self.attacks[attack][level],
            "options": {k: v for k, v in spec.items() if k != "eps"},
            "batch_size": self.config["noise"]["batch_size"],
        }

    def cam_params(self, model: str) -> dict[str, Any]:
        cam = self.config["cam"]
        params = {
            "device": self.device,
            "methods": cam["methods"],
            "target_policy": cam["target_policy"],
            "batch_size": cam["batch_size"],
            "autocast": None if cam["autocast"] == "none" else cam["autocast"],
        }
        if RANDOM_METHODS & set(cam["methods"]):
            # Only then: configs without RandomCAM keep their params, so nothing reruns.
            params["seed"] = self.seed
        arch = split_model(model).arch
        if arch in self.config["models"]:
            # A user's model: target layer None means the family's default (camrobust/cam).
            spec = self.config["models"][arch]
            return {
                **params,
                "target_layer": spec["target_layer"],
                "layout": spec["cam_layout"],
                "prefix_tokens": spec["cam_prefix_tokens"],
            }
        layer = self.config["architectures"][arch]["target_layer"] or TARGET_LAYERS[arch]
        return {**params, "target_layer": layer}

    # ---- the explanation attack (docs/explanation-attack.md) ---------------------------------
    @property
    def explanation_methods(self) -> list[str]:
        """The configured CAM methods the explanation attack attacks (one image set each)."""
        return attacked_methods(self.config["cam"]["methods"]) if self.explanation else []

    def explanation_attack_params(
        self, dataset: str, model: str, level: str, method: str
    ) -> dict[str, Any]:
        """One method's attacked set: the budget, the attack's options, and the CAM layer (and a
        user model's layout) whose map it attacks."""
        spec = self.config["noise"]["adversarial"][EXPLANATION_ATTACK]
        layer = {k: v for k, v in self.cam_params(model).items() if k in _LAYER_KEYS}
        return {
            "dataset": dataset,
            "model": model,
            "device": self.device,
            "level": level,
            "eps": self.explanation[level],
            "method": method,
            "options": {k: v for k, v in spec.items() if k != "eps"},
            "batch_size": self.config["noise"]["batch_size"],
            **layer,
        }

    def linf_random_params(self, dataset: str, level: str) -> dict[str, Any]:
        """The random control: one random vertex of the eps-ball per image, seeded."""
        return {
            "seed": self.seed,
            "dataset": dataset,
            "level": level,
            "eps": self.explanation[level],
        }

    def explanation_cam_params(self, model: str) -> dict[str, Any]:
        """The CAM job of the attacked sets: the cam jobs' settings, the attacked methods and
        those left out (its log says why, `explanation_names.left_out_reason`)."""
        cam = self.cam_params(model)
        attacked = self.explanation_methods
        left_out = [m for m in cam["methods"] if m not in attacked]
        if not RANDOM_METHODS & set(attacked):
            cam.pop("seed", None)  # RandomCAM's draws: not among the attacked methods
        return {**cam, "methods": attacked, "left_out": left_out}

    def metrics_params(self, noise: str) -> dict[str, Any]:
        """A metrics job: the measures, the bootstrap, and (rbo) how regions are ranked; the
        segmentation keys reach it through the segments file, not as params."""
        skip = {*QUALITY_SECTIONS, "rbo"}
        metrics = {k: v for k, v in self.config["metrics"].items() if k not in skip}
        if self.needs_segments:
            rbo = self.config["metrics"]["rbo"]
            metrics["rbo"] = {k: v for k, v in rbo.items() if k not in SEGMENT_KEYS}
        return {"seed": self.seed, "levels": [CLEAN_LEVEL, *self.levels(noise)], **metrics}

    # ---- the paper's metric: regions of the evaluation images (docs/metric.md) ---------------
    @property
    def needs_segments(self) -> bool:
        """Whether a measure reads the images' regions (rbo): else no segmentation job."""
        return any(m in REGION_MEASURES for m in self.config["metrics"]["measures"])

    def segment_params(self, dataset: str) -> dict[str, Any]:
        """The segmentation job: Quickshift's options and the seed of its tie-breaking."""
        rbo = self.config["metrics"]["rbo"]
        return {"seed": self.seed, "dataset": dataset, **{k: rbo[k] for k in SEGMENT_KEYS}}

    # ---- sensitivity and faithfulness (docs/sensitivity-faithfulness.md) ---------------------
    @property
    def quality_enabled(self) -> bool:
        """Whether any quality family runs (else there are no quality jobs at all)."""
        return any(self.config["metrics"][s]["enabled"] for s in QUALITY_SECTIONS)

    @property
    def faithfulness_enabled(self) -> bool:
        return bool(self.config["metrics"]["faithfulness"]["enabled"])

    def quality_options(self, section: str) -> dict[str, Any] | None:
        """A family's options for `evaluate_quality`, None when switched off."""
        spec = self.config["metrics"][section]
        if not spec["enabled"]:
            return None
        return {k: v for k, v in spec.items() if k != "enabled"}

    def quality_params(self, model: str) -> dict[str, Any]:
        """A quality job: both families' options (with their image counts) and the engine's."""
        cam = self.cam_params(model)
        return {
            "seed": self.seed,
            "sensitivity": self.quality_options("sensitivity"),
            "faithfulness": self.quality_options("faithfulness"),
            # the cam jobs' engine settings (a user model's layout too), but the target policy
            **{k: v for k, v in cam.items() if k != "target_policy"},
        }

    def quality_table_params(self) -> dict[str, Any]:
        """The quality summary: the bootstrap of the robustness table."""
        metrics = self.config["metrics"]
        return {"seed": self.seed, "bootstrap": metrics["bootstrap"], "ci": metrics["ci"]}

    def quality_stats_params(self) -> dict[str, Any]:
        """The method tests on the quality metrics: the stats options but the measures."""
        return {k: v for k, v in self.config["stats"].items() if k != "measures"}

    def stats_params(self) -> dict[str, Any]:
        return dict(self.config["stats"])

    def claims_params(self) -> dict[str, Any]:
        """The headline claims: their measure (the headline's), the test level and the fewest
        images a cell needs, δ, and the randomisation test's arrangements and seed."""
        stats = self.config["stats"]
        return {
            "alpha": stats["alpha"],
            "min_pairs": stats["min_pairs"],
            "measure": self.config["report"]["measure"],
            "seed": self.seed,
            **self.config["claims"],
        }

    # ---- params of the report rules ----------------------------------------------------------
    def figure_params(self, figure: str) -> dict[str, Any]:
        """A figure's resolution, and the similarity measure it plots if it plots one."""
        report = self.config["report"]
        uses_measure = figure_spec(figure).uses_measure
        return {"dpi": report["dpi"], **({"measure": report["measure"]} if uses_measure else {})}

    def cam_grid_params(self) -> dict[str, Any]:
        """A CAM grid: how many images and their seed, the noise and its levels, resolution."""
        noise = self.grid_noise()
        report = self.config["report"]
        return {
            "images": report["grid_images"],
            "seed": self.seed,
            "noise": noise,
            "levels": self.levels(noise),
            "dpi": report["dpi"],
        }

    def corruption_error_params(self) -> dict[str, Any]:
        """The corruption error table: the corruption families (not the attacks) and the
        reference, a regulariser or a `models` entry (camrobust/report/corruption_error.py)."""
        name = self.config["report"]["corruption_error_reference"]
        kind = "model" if name in self.config["models"] else "regularizer"
        return {"corruptions": list(self.corruptions), "reference": {"kind": kind, "name": name}}

    def summary_params(self) -> dict[str, Any]:
        """The summary table and the headline: the similarity measure they show."""
        return {"measure": self.config["report"]["measure"]}

    def model_keys(self) -> list[tuple[str, str]]:
        """Every (dataset, model) the run evaluates, datasets first: the accuracy table's model
        files, in the order of its inputs."""
        return [(dataset, model) for dataset in self.datasets for model in self.models]

    def accuracy_params(self) -> dict[str, Any]:
        """The accuracy table: the (dataset, model) row key of each of its model files, in order
        (so the job reads them from the plan, not back from the paths)."""
        return {"models": [list(key) for key in self.model_keys()]}
