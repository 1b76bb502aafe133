"""The data stage's params: how each dataset's files are made (rule prepare_data)."""

from __future__ import annotations

from typing import Any

from camrobust.plan.names import Stage

# Model sources with a published evaluation transform (camrobust/models/published.py).
PUBLISHING_SOURCES = ("torchvision", "timm")


class DataParams(Stage):
    """The params of the dataset jobs."""

    def params(self, dataset: str) -> dict[str, Any]:
        """The dataset's own keys; for an image folder also whether the run only evaluates it
        (then only its evaluation images are decoded, see `Names.evaluate_only`)."""
        spec = {
            k: v
            for k, v in self.config["datasets"][dataset].items()
            if k not in ("training", "regularizers", "architectures", "noise")
        }
        preprocess = self.image_preprocess(spec.pop("preprocess"))
        if spec["source"] == "imagefolder":
            spec["evaluate_only"] = self.names.evaluate_only(dataset)
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
