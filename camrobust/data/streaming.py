"""Image folders written to the canonical .npz files one image at a time, so that the memory a
preparation needs does not grow with the folder (docs/pipeline.md).

The splits, caps and evaluation subset are chosen from the file list and the labels (known
before any image is decoded) exactly as `prepare_dataset` chooses them from loaded arrays, so
both write the same files. Only the files a split keeps are decoded, and the evaluation images
are copied from the test file just written, not decoded again.

When no model trains on the dataset (`evaluate_only`), the run reads the evaluation images
alone: the train file holds none, and only the evaluation images are decoded, into a test file
that holds just them; the eval file is the one a full preparation writes. Where unreadable files
may be skipped, the subset is drawn from the readable test files, as in a full preparation, so
every test file is decoded once first to learn which those are (no image of it kept).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from camrobust.data.imagefolder import (
    EvalTransform,
    Files,
    check_size,
    decode_images,
    list_imagefolder,
)
from camrobust.data.subset import cap_indices, eval_indices
from camrobust.data.summary import DatasetSummary
from camrobust.io import NpzWriter, atomic_paths, load_npz, npz_writer

log = logging.getLogger(__name__)

CHUNK_ROWS = 64  # rows per copy from a staging file or the test file: a few MB at 224 pixels


def _labels(files: Files) -> np.ndarray:
    return np.fromiter((label for _, label in files), dtype=np.int64, count=len(files))


def _capped(files: Files, n: int | None, *seed: object) -> tuple[Files, np.ndarray]:
    """The class-stratified cap of `files` (prepare_dataset's), and its indices in `files`."""
    kept = cap_indices(_labels(files), n, *seed)
    return [files[i] for i in kept], kept


def _stream_images(
    npz: NpzWriter, paths: list[Path], size: int, desc: str, transform: EvalTransform | None
) -> None:
    """Every file decoded straight into the `images` member (an unreadable one raises)."""
    with npz.rows("images", (len(paths), size, size, 3), np.uint8) as rows:
        for _, image in decode_images(paths, size, desc=desc, transform=transform):
            rows.write(image[None])


def _staged_images(
    npz: NpzWriter,
    paths: list[Path],
    size: int,
    skipped: list[Path],
    desc: str,
    beside: Path,
    transform: EvalTransform | None,
) -> np.ndarray:
    """The readable files decoded to a staging file, then copied into the `images` member (its
    shape, written first, needs their count); returns their positions in `paths`."""
    row_bytes = size * size * 3
    with tempfile.TemporaryFile(dir=beside.parent, prefix=f".{beside.name}.") as staging:
        kept = []
        for i, image in decode_images(paths, size, skipped, desc=desc, transform=transform):
            staging.write(image.tobytes())
            kept.append(i)
        staging.seek(0)
        with npz.rows("images", (len(kept), size, size, 3), np.uint8) as rows:
            for start in range(0, len(kept), CHUNK_ROWS):
                n = min(CHUNK_ROWS, len(kept) - start)
                chunk = np.frombuffer(staging.read(n * row_bytes), dtype=np.uint8)
                rows.write(chunk.reshape(n, size, size, 3))
    return np.asarray(kept, dtype=np.int64)


def _write_split(
    path: Path,
    files: Files,
    size: int,
    names: np.ndarray,
    skipped: list[Path] | None,
    root: Path,
    desc: str,
    transform: EvalTransform | None,
) -> np.ndarray:
    """One split's file (images, labels, class names; where skipping is allowed, `unreadable`:
    every file in `skipped`, those it held already and those found here); returns the positions
    in `files` of the images it holds."""
    paths = [p for p, _ in files]
    with npz_writer(path, atomic=False) as npz:
        if skipped is None:
            _stream_images(npz, paths, size, desc, transform)
            kept = np.arange(len(files))
        else:
            kept = _staged_images(npz, paths, size, skipped, desc, path, transform)
        npz.add("labels", _labels(files)[kept])
        npz.add("class_names", names)
        if skipped is not None:
            relative = [p.relative_to(root).as_posix() for p in skipped]
            npz.add("unreadable", np.array(relative, dtype=str))
    return kept


def _readable(
    files: Files, size: int, skipped: list[Path], desc: str, transform: EvalTransform | None
) -> np.ndarray:
    """Positions in `files` of those that decode, each decoded once and dropped (the others
    are added to `skipped`)."""
    decoded = decode_images([p for p, _ in files], size, skipped, desc=desc, transform=transform)
    return np.fromiter((i for i, _ in decoded), dtype=np.int64)


def _write_eval(path: Path, test_path: Path, indices: np.ndarray, extra: dict) -> None:
    """The evaluation subset: rows `indices` of the test file, read through a memory map."""
    test = load_npz(test_path, mmap=True)
    images = test["images"]
    with npz_writer(path, atomic=False) as npz:
        with npz.rows("images", (len(indices), *images.shape[1:]), images.dtype) as rows:
            for start in range(0, len(indices), CHUNK_ROWS):
                rows.write(images[indices[start : start + CHUNK_ROWS]])
        npz.add("labels", np.asarray(test["labels"][indices]))
        for key, array in extra.items():
            npz.add(key, array)
        npz.add("class_names", np.asarray(test["class_names"]))


def _evaluation_files(
    test: Files, spec: dict[str, Any], skipped: list[Path] | None, transform: EvalTransform | None
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate only: the evaluation subset drawn as a full preparation draws it, before any of
    it is decoded: its indices among the readable test files and its positions in `test`."""
    readable = np.arange(len(test))
    if skipped is not None:  # a full preparation draws from the files that decode: find them
        desc = f"{spec['dataset']} test check"
        readable = _readable(test, spec["image_size"], skipped, desc, transform)
    chosen = eval_indices(_labels(test)[readable], spec["n_eval"], spec["seed"], spec["dataset"])
    return chosen, readable[chosen]


def image_transform(spec: dict[str, Any]) -> EvalTransform | None:
    """How an image is cut from its file (the params' `preprocess`): None, the centred square;
    explicit sizes; or the published transform its models agree on (`published_by`)."""
    preprocess = spec.get("preprocess")
    if preprocess is None:
        return None
    if "published_by" in preprocess:
        from camrobust.models.published import agreed_transform  # torch: only here

        key = f"datasets.{spec['dataset']}.preprocess"
        return agreed_transform(preprocess["published_by"], spec["image_size"], key)
    return EvalTransform(**preprocess).at(spec["image_size"])


def write_imagefolder(
    spec: dict[str, Any], outputs: Mapping[str, str | os.PathLike]
) -> DatasetSummary:
    """Prepare the image folder of `spec` (rule prepare_data's params) into `outputs`' train,
    test and eval files, all three or none; an unreadable file stops it with one line naming
    the file unless `skip_unreadable`, which leaves such files out and counts them."""
    name, seed, size = spec["dataset"], spec["seed"], check_size(spec["image_size"])
    root = Path(spec["path"])
    chosen, class_names = list_imagefolder(root, spec["test_fraction"], seed)
    train, _ = _capped(chosen["train"], spec["n_train"], seed, name, "train")
    test, in_source = _capped(chosen["test"], spec["n_test"], seed, name, "test")
    eval_indices(_labels(test), spec["n_eval"], seed, name)  # too few test files: stop now
    evaluate_only = bool(spec["evaluate_only"])
    if evaluate_only:  # nothing reads the train images: the file holds none
        train = []
    skipped = {s: [] if spec["skip_unreadable"] else None for s in ("train", "test")}
    transform = image_transform(spec)
    write = partial(
        _write_split, size=size, names=np.array(class_names), root=root, transform=transform
    )
    with atomic_paths(outputs) as tmp:
        kept_train = write(tmp["train"], train, skipped=skipped["train"], desc=f"{name} train")
        if evaluate_only:  # the test file holds the evaluation images alone, its rows in order
            chosen_eval, in_test = _evaluation_files(test, spec, skipped["test"], transform)
            test, rows = [test[i] for i in in_test], np.arange(len(in_test))
        kept = write(tmp["test"], test, skipped=skipped["test"], desc=f"{name} test")
        if not evaluate_only:
            chosen_eval = eval_indices(_labels(test)[kept], spec["n_eval"], seed, name)
            in_test, rows = kept[chosen_eval], chosen_eval
        extra = {"indices": chosen_eval, "source_indices": in_source[in_test]}
        _write_eval(tmp["eval"], tmp["test"], rows, extra)
    counts = {"train": len(kept_train), "test": len(kept), "eval": len(chosen_eval)}
    unreadable = None
    if spec["skip_unreadable"]:
        unreadable = [p.relative_to(root).as_posix() for s in skipped.values() for p in s]
    how = None if transform is None else transform.describe()
    return DatasetSummary(name, counts, len(class_names), unreadable, evaluate_only, how)
