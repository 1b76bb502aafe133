"""Which output of a classifier each class of a dataset is: the `classes` of a `models` entry.

A checkpoint's outputs and a folder's classes need not be the same list: a 1000-class ImageNet
network is usually studied on a few ImageNet classes (Imagenette's ten, say), in folders named by
WordNet id (`n01440764`) or by class name (`tench`). A `ClassMap` gives, for each dataset label
(the sorted folder names), the index of the model output it is, and a name for every output.
It is resolved in one of three ways:

- `identity`: label i is output i; the model has exactly as many outputs as the dataset classes;
- a mapping file, `{folder name: output index}` as JSON or as CSV rows `folder,index`;
- `auto`: the ImageNet match below for a 1000-output model, identity for a model with as many
  outputs as the dataset has classes, otherwise an error asking for a mapping file.

The ImageNet match reads `imagenet_classes.tsv` (shipped beside this module, written by
`python -m camrobust.class_map` from torchvision's weights metadata and timm's ImageNet info, so
nothing is downloaded): a folder matches a class by its WordNet id, or by torchvision's category
name, compared without case and with `_`/`-` as spaces. Pure Python, no torch: the config checks
read it before any job.
"""

from __future__ import annotations

import csv
import difflib
import functools
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

IMAGENET_TABLE = Path(__file__).with_name("imagenet_classes.tsv")
IMAGENET_OUTPUTS = 1000  # the output count `auto` reads as an ImageNet-1k classifier
KINDS = ("auto", "identity")  # the names `classes` takes besides a mapping file
MAPPING_SUFFIXES = (".json", ".csv")
_SHOWN = 5  # unmatched folder names listed in an error


@dataclass(frozen=True)
class ImageNetClass:
    """One ImageNet-1k class: its output index, WordNet id and torchvision category name."""

    index: int
    wnid: str
    name: str


@dataclass(frozen=True)
class ClassMap:
    """The model output of each dataset label, a name per output, and how it was found."""

    indices: tuple[int, ...]
    output_names: tuple[str, ...]
    how: str  # 'identity', 'auto: WordNet ids', 'file: map.json', ... (the accuracy table's)

    def as_dict(self) -> dict[str, object]:
        """Plain values, saved with the model and in the CAM files."""
        return {
            "indices": list(self.indices),
            "output_names": list(self.output_names),
            "how": self.how,
        }


@functools.cache
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """The 1000 ImageNet-1k classes in output order, from the shipped table."""
    rows = IMAGENET_TABLE.read_text(encoding="utf-8").splitlines()[1:]
    classes = tuple(
        ImageNetClass(int(index), wnid, name)
        for index, wnid, name in (row.split("\t") for row in rows)
    )
    if [c.index for c in classes] != list(range(IMAGENET_OUTPUTS)):
        raise RuntimeError(f"{IMAGENET_TABLE} does not list classes 0-999 in order")
    return classes


def normalised(name: str) -> str:
    """A class name compared without case, with '_' and '-' read as spaces."""
    return " ".join(re.sub(r"[_\-]+", " ", name).lower().split())


def _imagenet_lookup() -> tuple[dict[str, int], dict[str, list[int]]]:
    classes = imagenet_classes()
    by_wnid = {c.wnid: c.index for c in classes}
    by_name: dict[str, list[int]] = {}
    for c in classes:
        by_name.setdefault(normalised(c.name), []).append(c.index)
    return by_wnid, by_name


def _closest(name: str) -> str:
    """The closest WordNet ids and category names to an unmatched folder name."""
    by_wnid, by_name = _imagenet_lookup()
    pool = [*by_wnid, *by_name]
    close = difflib.get_close_matches(normalised(name), pool, n=2, cutoff=0.6)
    return " or ".join(repr(c) for c in close) or "nothing close"


def match_imagenet(folders: Sequence[str]) -> tuple[tuple[int, ...], str]:
    """The ImageNet output of each folder name (WordNet id, else category name) and how they
    matched; ValueError listing the names that match no class, or more than one."""
    by_wnid, by_name = _imagenet_lookup()
    indices, kinds, unmatched, ambiguous = [], set(), [], []
    for folder in folders:
        if folder in by_wnid:
            indices.append(by_wnid[folder])
            kinds.add("WordNet ids")
            continue
        found = by_name.get(normalised(folder), [])
        if len(found) == 1:
            indices.append(found[0])
            kinds.add("category names")
        elif found:
            ambiguous.append(f"{folder!r} (classes {', '.join(map(str, found))})")
        else:
            unmatched.append(f"{folder!r} (closest: {_closest(folder)})")
    if unmatched or ambiguous:
        problems = []
        if unmatched:
            more = f" and {len(unmatched) - _SHOWN} more" if len(unmatched) > _SHOWN else ""
            problems.append(f"no ImageNet class for {', '.join(unmatched[:_SHOWN])}{more}")
        if ambiguous:
            problems.append(f"more than one class for {', '.join(ambiguous)}")
        raise ValueError(
            f"{'; '.join(problems)}: name the folders by WordNet id or torchvision category, or "
            "give a mapping file"
        )
    twice = sorted({i for i in indices if indices.count(i) > 1})
    if twice:
        names = [f for f, i in zip(folders, indices, strict=True) if i == twice[0]]
        raise ValueError(f"folders {', '.join(map(repr, names))} are the same class {twice[0]}")
    return tuple(indices), f"auto: {' and '.join(sorted(kinds))}"


def read_mapping_file(path: str | os.PathLike) -> dict[str, int]:
    """`{folder name: output index}` from a JSON object or CSV rows `folder,index` (a header row
    whose index is not a number is skipped); ValueError naming the file otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read mapping file {path}: {err.strerror}") from None
    if path.suffix.lower() == ".json":
        try:
            pairs = list(json.loads(text).items())
        except (json.JSONDecodeError, AttributeError):
            raise ValueError(f"mapping file {path} is not a JSON object") from None
    else:
        rows = [row for row in csv.reader(text.splitlines()) if any(c.strip() for c in row)]
        if rows and len(rows[0]) == 2 and not rows[0][1].strip().lstrip("-").isdigit():
            rows = rows[1:]  # a header
        if any(len(row) != 2 for row in rows):
            raise ValueError(f"mapping file {path}: every row must be 'folder,index'")
        pairs = [(folder.strip(), index.strip()) for folder, index in rows]
    mapping = {}
    for folder, index in pairs:
        number = int(index) if isinstance(index, str) and index.lstrip("-").isdigit() else index
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"mapping file {path}: {folder!r} maps to {index!r}, not an index ≥ 0")
        mapping[str(folder)] = number
    if not mapping:
        raise ValueError(f"mapping file {path} maps no folder")
    return mapping


def check_mapping(mapping: dict[str, int], folders: Sequence[str], path: object) -> None:
    """Every folder has an entry; ValueError naming the first missing ones and the closest keys."""
    missing = [f for f in folders if f not in mapping]
    if missing:
        close = difflib.get_close_matches(missing[0], list(mapping), n=1, cutoff=0.6)
        hint = f" (closest entry: {close[0]!r})" if close else ""
        raise ValueError(
            f"mapping file {path} has no entry for folder {', '.join(map(repr, missing[:_SHOWN]))}"
            f"{hint}"
        )


def _output_names(outputs: int, named: dict[int, str]) -> tuple[str, ...]:
    if outputs == IMAGENET_OUTPUTS:
        return tuple(c.name for c in imagenet_classes())
    return tuple(named.get(i, f"class {i}") for i in range(outputs))


def resolve_class_map(classes: str, folders: Sequence[str], outputs: int) -> ClassMap:
    """The ClassMap of `classes` (`auto`, `identity` or a mapping file's path) for a model with
    `outputs` outputs on a dataset whose classes are `folders`; ValueError otherwise."""
    folders = [str(f) for f in folders]
    if classes == "auto" and outputs == IMAGENET_OUTPUTS:
        indices, how = match_imagenet(folders)
        return ClassMap(indices, _output_names(outputs, {}), how)
    if classes == "identity" or (classes == "auto" and outputs == len(folders)):
        if outputs != len(folders):
            raise ValueError(
                f"identity needs as many outputs as classes: the model has {outputs}, the "
                f"dataset {len(folders)} classes; give a mapping file"
            )
        return ClassMap(tuple(range(outputs)), tuple(folders), "identity")
    if classes == "auto":
        raise ValueError(
            f"auto: the model has {outputs} outputs, the dataset {len(folders)} classes "
            f"(neither the same nor ImageNet's {IMAGENET_OUTPUTS}); give a mapping file"
        )
    mapping = read_mapping_file(classes)
    check_mapping(mapping, folders, classes)
    indices = tuple(mapping[f] for f in folders)
    beyond = [f"{f!r} -> {i}" for f, i in zip(folders, indices, strict=True) if i >= outputs]
    if beyond:
        raise ValueError(
            f"mapping file {classes}: {beyond[0]} is beyond the model's {outputs} outputs "
            f"(0-{outputs - 1})"
        )
    named = {i: f for f, i in zip(folders, indices, strict=True)}
    return ClassMap(indices, _output_names(outputs, named), f"file: {Path(classes).name}")


def write_imagenet_table(path: str | os.PathLike = IMAGENET_TABLE) -> None:
    """Write the table from the installed torchvision (its weights' `categories` metadata) and
    timm (`ImageNetInfo`, the WordNet ids in output order): how the shipped file was made."""
    from timm.data import ImageNetInfo
    from torchvision.models import ResNet50_Weights

    names = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    info = ImageNetInfo()
    rows = ["index\twnid\tname"]
    rows += [f"{i}\t{info.index_to_label_name(i)}\t{name}" for i, name in enumerate(names)]
    Path(path).write_text("\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_imagenet_table()
