"""One entry point per dataset source, returning canonical splits and the evaluation subset,
and `write_dataset`, which writes them as the canonical files (image folders streamed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camrobust.data.subset import cap_indices, eval_indices
from camrobust.data.summary import DatasetSummary
from camrobust.io import atomic_paths, npz_writer
from camrobust.seeding import derive_seed

SOURCES = ("shapes", "cifar10", "svhn", "imagefolder")


@dataclass
class Split:
    """One split in the canonical layout of docs/pipeline.md."""

    images: np.ndarray  # uint8 N×H×W×C
    labels: np.ndarray  # int64 N
    masks: np.ndarray | None = None  # uint8 N×H×W where the dataset has object masks

    def take(self, indices: np.ndarray) -> Split:
        masks = None if self.masks is None else self.masks[indices]
        return Split(self.images[indices], self.labels[indices], masks)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"images": self.images, "labels": self.labels.astype(np.int64)}
        if self.masks is not None:
            out["masks"] = self.masks
        return out


def remote_files(spec: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """{file name: (url, md5)} a download source needs (empty for local sources)."""
    if spec["source"] == "cifar10":
        from camrobust.data.cifar10 import CIFAR10

        return {CIFAR10["filename"]: (spec["url"] or CIFAR10["url"], spec["md5"] or CIFAR10["md5"])}
    if spec["source"] == "svhn":
        from camrobust.data.svhn import SVHN

        base = (spec["url"] or SVHN["url"]).rstrip("/") + "/"
        md5 = {**SVHN["md5"], **(spec["md5"] or {})}
        return {name: (base + name, md5[split]) for split, name in SVHN["files"].items()}
    return {}


def _load_source(spec: dict[str, Any], raw_dir: Path, seed: int) -> tuple[dict[str, Split], list]:
    source = spec["source"]
    if source == "shapes":
        from camrobust.data.shapes import CLASS_NAMES, make_shapes

        n_train, n_test = spec["n_train"] or 5000, spec["n_test"] or 1000
        splits = {
            split: Split(**make_shapes(n, spec["image_size"], derive_seed(seed, "shapes", split)))
            for split, n in (("train", n_train), ("test", n_test))
        }
        return splits, list(CLASS_NAMES)
    if source in ("cifar10", "svhn"):
        from camrobust.data import cifar10, svhn

        if source == "cifar10":
            raw = cifar10.prepare_cifar10(raw_dir, spec["url"], spec["md5"])
            names = list(cifar10.CLASSES)
        else:
            raw = svhn.prepare_svhn(raw_dir, spec["url"], spec["md5"])
            names = [str(d) for d in range(10)]
        return {k: Split(*v) for k, v in raw.items()}, names
    if source == "imagefolder":
        from camrobust.data.imagefolder import load_imagefolder

        raw, names = load_imagefolder(
            Path(spec["path"]), spec["image_size"], spec["test_fraction"], seed
        )
        return {k: Split(*v) for k, v in raw.items()}, names
    raise ValueError(f"unknown dataset source '{source}'; allowed: {', '.join(SOURCES)}")


def _cap(split: Split, n: int | None, *seed: object) -> tuple[Split, np.ndarray]:
    """A class-stratified subset of at most `n` images (None: all), and its indices in `split`."""
    kept = cap_indices(split.labels, n, *seed)
    return (split if len(kept) == len(split.labels) else split.take(kept)), kept


def prepare_dataset(spec: dict[str, Any], raw_dir: str | Path, seed: int) -> dict[str, Any]:
    """Train, test and evaluation splits, class names, and the evaluation images' indices in the
    test split and in the source's own test split (the rows of CIFAR-10-C they correspond to)."""
    splits, class_names = _load_source(spec, Path(raw_dir), seed)
    name = spec.get("dataset", spec["source"])
    in_source = np.arange(len(splits["test"].labels))
    if spec["source"] != "shapes":
        splits["train"], _ = _cap(splits["train"], spec["n_train"], seed, name, "train")
        splits["test"], in_source = _cap(splits["test"], spec["n_test"], seed, name, "test")
    test = splits["test"]
    eval_idx = eval_indices(test.labels, spec["n_eval"], seed, name)
    return {
        "train": splits["train"],
        "test": test,
        "eval": test.take(eval_idx),
        "eval_indices": eval_idx,
        "eval_source_indices": in_source[eval_idx],
        "class_names": class_names,
    }


def write_dataset(
    spec: dict[str, Any], raw_dir: str | Path, outputs: Mapping[str, str | os.PathLike]
) -> DatasetSummary:
    """Write the canonical train, test and eval files of `spec` (rule prepare_data's params) to
    `outputs`: all three or none. An image folder is streamed, one image at a time."""
    if spec["source"] == "imagefolder":
        from camrobust.data.streaming import write_imagefolder

        return write_imagefolder(spec, outputs)
    data = prepare_dataset(spec, raw_dir, spec["seed"])
    names = np.array(data["class_names"])
    extra = {
        "eval": {"indices": data["eval_indices"], "source_indices": data["eval_source_indices"]}
    }
    with atomic_paths(outputs) as tmp:
        for split, path in tmp.items():
            with npz_writer(path, atomic=False) as npz:
                arrays = {**data[split].arrays(), **extra.get(split, {}), "class_names": names}
                for key, array in arrays.items():
                    npz.add(key, array)
    counts = {split: len(data[split].labels) for split in ("train", "test", "eval")}
    return DatasetSummary(spec["dataset"], counts, len(names))
