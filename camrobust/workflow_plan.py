"""What the workflow computes, derived from a validated config: models, noise levels, and the
slice of the config each job depends on (its `params`, so config edits rerun exactly what changed).

Pure Python (no torch): the Snakefile builds this on every dry run.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from camrobust.config import ConfigError, merged

# Which generative model each latent-space regulariser needs.
GENERATIVE_OF = {"lvat_vae": "vae", "lvat_glow": "glow"}
CLEAN = "clean"  # the noise name of the clean set, level "0"
ARCHS_WITHOUT_DROPOUT = ("resnet18",)


def level_name(value: int | float) -> str:
    """A noise level as a file-name-safe decimal string (severity 3 -> '3', 0.05 -> '0.05')."""
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(float(value))), "f")


class Plan:
    """The jobs' parameters and file lists for one validated config."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.seed = config["seed"]
        self.datasets = list(config["datasets"])
        self.architectures = list(config["architectures"])
        self.regularizers = list(config["regularizers"])
        self.models = [f"{a}-{r}" for a in self.architectures for r in self.regularizers]
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
        self._check_measures()
        self._check_folders()
        self._check_dropout()

    def _check_folders(self) -> None:
        for name, spec in self.config["datasets"].items():
            if spec["source"] != "imagefolder":
                continue
            if not spec["path"]:
                raise ConfigError(f"config error: datasets.{name}.path: imagefolder needs a folder")
            if not Path(spec["path"]).is_dir():
                raise ConfigError(
                    f"config error: datasets.{name}.path: {spec['path']} is not a folder"
                )

    def _check_dropout(self) -> None:
        for arch in ARCHS_WITHOUT_DROPOUT:
            if self.config["architectures"].get(arch, {}).get("dropout") is not None:
                raise ConfigError(
                    f"config error: architectures.{arch}.dropout: {arch} has no dropout layers"
                )

    def _check_measures(self) -> None:
        measures = set(self.config["metrics"]["measures"])
        for key, wanted in (
            ("stats.measures", self.config["stats"]["measures"]),
            ("report.measure", [self.config["report"]["measure"]]),
        ):
            missing = [m for m in wanted if m not in measures]
            if missing:
                raise ConfigError(
                    f"config error: {key}: {missing[0]!r} is not in metrics.measures "
                    f"({', '.join(sorted(measures))})"
                )
        grid = self.config["report"]["grid_noise"]
        if grid is not None and grid not in self.noises:
            raise ConfigError(
                f"config error: report.grid_noise: {grid!r} is not a configured noise "
                f"({', '.join(self.noises)})"
            )

    # ---- names -------------------------------------------------------------------------------
    @property
    def noises(self) -> list[str]:
        """Every noise a CAM is computed under: corruptions, then attacks."""
        return [*self.corruptions, *self.attacks]

    def levels(self, noise: str) -> list[str]:
        """Level names of `noise` in config order."""
        table = self.corruptions if noise in self.corruptions else self.attacks
        return list(table[noise])

    @staticmethod
    def split_model(model: str) -> tuple[str, str]:
        """'resnet18-lvat_vae' -> ('resnet18', 'lvat_vae')."""
        arch, reg = model.split("-", 1)
        return arch, reg

    def grid_noise(self) -> str:
        """The noise shown in the CAM grid figures."""
        return self.config["report"]["grid_noise"] or self.noises[0]

    # ---- params (each job's config slice) ----------------------------------------------------
    def data_params(self, dataset: str) -> dict[str, Any]:
        spec = {
            k: v
            for k, v in self.config["datasets"][dataset].items()
            if k not in ("training", "regularizers")
        }
        return {"seed": self.seed, "dataset": dataset, **spec}

    def generative_params(self, dataset: str, gen: str) -> dict[str, Any]:
        return {"seed": self.seed, "dataset": dataset, **self.config["generative"][gen]}

    def training(self, dataset: str) -> dict[str, Any]:
        """The global training section with the dataset's overrides merged over it."""
        return merged(self.config["training"], self.config["datasets"][dataset].get("training"))

    def train_params(self, dataset: str, model: str) -> dict[str, Any]:
        arch, reg = self.split_model(model)
        overrides = (self.config["datasets"][dataset].get("regularizers") or {}).get(reg)
        return {
            "seed": self.seed,
            "dataset": dataset,
            "arch": arch,
            "arch_options": self.arch_options(arch),
            "regularizer": reg,
            "reg_params": merged(self.config["regularizers"][reg], overrides),
            "training": self.training(dataset),
        }

    def arch_options(self, arch: str) -> dict[str, Any]:
        opts = self.config["architectures"][arch]
        options = {"width": opts["width"], "top_bn": opts["top_bn"]}
        # Only when set: configs that leave it out keep their params, so nothing reruns.
        if opts.get("dropout") is not None:
            options["dropout"] = opts["dropout"]
        return options

    def target_layer(self, arch: str) -> str | None:
        return self.config["architectures"][arch]["target_layer"]

    def noise_params(self, dataset: str, noise: str, level: str) -> dict[str, Any]:
        kind, value = self.corruptions[noise][level]
        return {
            "seed": self.seed,
            "dataset": dataset,
            "noise": noise,
            "level": level,
            "severity": value if kind == "severity" else None,
            "value": value if kind == "value" else None,
            "table": self.config["noise"]["table"],
            "batch_size": self.config["noise"]["batch_size"],
        }

    def attack_params(self, dataset: str, model: str, attack: str, level: str) -> dict[str, Any]:
        spec = self.config["noise"]["adversarial"][attack]
        eps = self.attacks[attack][level] / 255
        return {
            "seed": self.seed,
            "dataset": dataset,
            "model": model,
            "attack": attack,
            "level": level,
            "eps": eps,
            "steps": spec["steps"] if attack == "pgd" else 1,
            "step_size": eps * spec["step_fraction"] if attack == "pgd" else eps,
            "random_start": spec["random_start"] if attack == "pgd" else False,
            "batch_size": self.config["noise"]["batch_size"],
        }

    def cam_params(self, model: str) -> dict[str, Any]:
        arch, _ = self.split_model(model)
        cam = self.config["cam"]
        return {
            "methods": cam["methods"],
            "target_policy": cam["target_policy"],
            "batch_size": cam["batch_size"],
            "autocast": None if cam["autocast"] == "none" else cam["autocast"],
            "target_layer": self.target_layer(arch),
        }

    def metrics_params(self) -> dict[str, Any]:
        return {"seed": self.seed, **self.config["metrics"]}

    # ---- files -------------------------------------------------------------------------------
    def noisy_file(self, root: str, dataset: str, model: str, noise: str, level: str) -> str:
        """The noisy image set a CAM job reads (attacks are per model)."""
        if noise == CLEAN:
            return f"{root}/data/{dataset}/eval.npz"
        if noise in self.attacks:
            return f"{root}/noisy/{dataset}/{model}/{noise}/{level}.npz"
        return f"{root}/noisy/{dataset}/{noise}/{level}.npz"

    def cam_files(self, root: str, dataset: str, model: str, noise: str) -> list[str]:
        """The clean CAM file followed by one per level of `noise`."""
        base = f"{root}/cams/{dataset}/{model}"
        return [f"{base}/{CLEAN}/0.npz", *(f"{base}/{noise}/{lv}.npz" for lv in self.levels(noise))]

    def metric_files(self, root: str, suffix: str) -> list[str]:
        return [
            f"{root}/metrics/{d}/{m}/{n}.{suffix}"
            for d in self.datasets
            for m in self.models
            for n in self.noises
        ]
