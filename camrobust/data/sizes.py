"""How many images a dataset's splits will hold and what its classes are, known before any job:
from the config for `shapes`, the published sizes for CIFAR-10 and SVHN, the file list for an
image folder (nothing decoded). The config checks compare `n_eval` and `n_labeled` with these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from camrobust.data.shapes import CLASS_NAMES as SHAPES_CLASSES

# The published split sizes (and CIFAR-10's balanced classes) of the downloaded sources.
SPLIT_SIZES = {"cifar10": {"train": 50000, "test": 10000}, "svhn": {"train": 73257, "test": 26032}}
_CIFAR10_PER_CLASS = 5000
_SHAPES_DEFAULTS = {"train": 5000, "test": 1000}  # prepare.py's sizes where n_train/n_test is null


@dataclass(frozen=True)
class DatasetSizes:
    """Images per split (after the caps), the class names, and the fewest training images of
    any class where that is known (None: not known before the data are prepared)."""

    train: int
    test: int
    classes: tuple[str, ...]
    fewest_train: int | None
    where: str  # what the sizes are of, for error messages


def _capped(n: int, cap: int | None) -> int:
    return n if cap is None else min(n, cap)


def _folder_sizes(spec: dict[str, Any]) -> DatasetSizes:
    from camrobust.data.imagefolder import list_imagefolder  # reads the folder: only for one

    chosen, names = list_imagefolder(spec["path"], spec["test_fraction"], 0)
    per_class = [0] * len(names)
    for _, label in chosen["train"]:
        per_class[label] += 1
    train, test = len(chosen["train"]), len(chosen["test"])
    fewest = min(per_class) if spec["n_train"] is None or spec["n_train"] >= train else None
    return DatasetSizes(
        _capped(train, spec["n_train"]),
        _capped(test, spec["n_test"]),
        tuple(names),
        fewest,
        f"the folder {spec['path']}",
    )


def dataset_sizes(spec: dict[str, Any]) -> DatasetSizes:
    """The sizes of a validated dataset entry; ValueError (naming the folder) for a folder that
    cannot be listed."""
    source = spec["source"]
    if source == "imagefolder":
        return _folder_sizes(spec)
    if source == "shapes":
        train = spec["n_train"] or _SHAPES_DEFAULTS["train"]
        test = spec["n_test"] or _SHAPES_DEFAULTS["test"]
        classes = tuple(SHAPES_CLASSES)
        return DatasetSizes(train, test, classes, train // len(classes), "generated shapes")
    sizes = SPLIT_SIZES[source]
    if source == "cifar10":
        from camrobust.data.cifar10 import CLASSES

        classes = tuple(CLASSES)
        uncapped = spec["n_train"] is None or spec["n_train"] >= sizes["train"]
        fewest = _CIFAR10_PER_CLASS if uncapped else None
    else:
        classes, fewest = tuple(str(d) for d in range(10)), None
    return DatasetSizes(
        _capped(sizes["train"], spec["n_train"]),
        _capped(sizes["test"], spec["n_test"]),
        classes,
        fewest,
        source,
    )
