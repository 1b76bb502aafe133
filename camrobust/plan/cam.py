"""The CAM stage's params: the maps of each model (rules cam, cam_clean, cam_explanation_attack)."""

from __future__ import annotations

from typing import Any

from camrobust.names import RANDOM_METHODS, TARGET_LAYERS, split_model
from camrobust.plan.names import Stage


class CamParams(Stage):
    """The params of the CAM jobs."""

    def params(self, model: str) -> dict[str, Any]:
        """A model's CAM jobs: the methods, targets and engine settings, and its CAM layer."""
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
        return {**params, **self.layer(model)}

    def layer(self, model: str) -> dict[str, Any]:
        """Where a model's CAMs are taken: its target layer (and a user model's layout)."""
        arch = split_model(model).arch
        if arch in self.config["models"]:
            # A user's model: target layer None means the family's default (camrobust/cam).
            spec = self.config["models"][arch]
            return {
                "target_layer": spec["target_layer"],
                "layout": spec["cam_layout"],
                "prefix_tokens": spec["cam_prefix_tokens"],
            }
        return {
            "target_layer": self.config["architectures"][arch]["target_layer"]
            or TARGET_LAYERS[arch]
        }

    def explanation_params(self, model: str) -> dict[str, Any]:
        """The CAM job of the attacked sets: the cam jobs' settings, the attacked methods and
        those left out (its log says why, `explanation_names.left_out_reason`)."""
        cam = self.params(model)
        attacked = self.names.explanation_methods
        left_out = [m for m in cam["methods"] if m not in attacked]
        if not RANDOM_METHODS & set(attacked):
            cam.pop("seed", None)  # RandomCAM's draws: not among the attacked methods
        return {**cam, "methods": attacked, "left_out": left_out}
