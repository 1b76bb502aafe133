"""The training stage's params: classifiers, their generative models, and the user's imported
checkpoints (rules train_classifier, train_generative, import_model)."""

from __future__ import annotations

from typing import Any

from camrobust.config import merged
from camrobust.names import split_model
from camrobust.plan.names import Stage
from camrobust.seeding import derive_seed


def training_seed(config_seed: int, seed: int) -> int:
    """The seed a model of training seed `seed` trains from (its initial weights, its batches).

    Seed 0 is the config seed itself, so a config with the one training seed 0 trains the
    networks it trained before there were training seeds."""
    return config_seed if seed == 0 else derive_seed(config_seed, "training seed", seed)


class TrainParams(Stage):
    """The params of the jobs that make the models."""

    def params(self, dataset: str, model: str) -> dict[str, Any]:
        """A classifier of one architecture, regulariser and training seed."""
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

    def generative_params(self, dataset: str, gen: str, seed: int) -> dict[str, Any]:
        """A VAE or Glow of one training seed: seeded like that seed's classifiers, so its
        variation is part of the seed-to-seed variation the regulariser test measures."""
        return {
            "seed": training_seed(self.seed, seed),
            "dataset": dataset,
            "device": self.device,
            **self.config["generative"][gen],
        }

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
        if self.names.evaluate_only(dataset):  # only then: other datasets' params stay as they were
            params["accuracy_on"] = "evaluation subset"
        return params

    def training(self, dataset: str) -> dict[str, Any]:
        """The global training section with the dataset's overrides merged over it (without the
        seeds, which name the models: a new seed must not rerun the others)."""
        section = merged(self.config["training"], self.config["datasets"][dataset].get("training"))
        section.pop("seeds")
        return section

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

    def arch_options(self, dataset: str, arch: str) -> dict[str, Any]:
        """An architecture's options, with the dataset's override (e.g. SVHN's top_bn) over them."""
        override = (self.config["datasets"][dataset].get("architectures") or {}).get(arch)
        opts = merged(self.config["architectures"][arch], override)
        options = {"width": opts["width"], "top_bn": opts["top_bn"]}
        # Only when set: configs that leave it out keep their params, so nothing reruns.
        if opts.get("dropout") is not None:
            options["dropout"] = opts["dropout"]
        return options
