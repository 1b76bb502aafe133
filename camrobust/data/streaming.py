"""Image folders written to the canonical .npz files one image at a time, so that the memory a
preparation needs does not grow with the folder (docs/pipeline.md).

The splits, caps and evaluation subset are chosen from the file list and the labels (known
before any image is decoded) exactly as `prepare_dataset` chooses them from loaded arrays, so
both write the same files. Only the files a split keeps are decoded; the train split not at all
when no model trains on the dataset (`decode_train` false). The evaluation images are copied
from the test file just written, not decoded again.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from camrobust.data.imagefolder import Files, check_size, decode_images, list_imagefolder
from camrobust.data.prepare import DatasetSummary, cap_indices, eval_indices
from camrobust.io import NpzWriter, atomic_paths, load_npz, npz_writer

log = logging.getLogger(__name__)

CHUNK_ROWS = 64  # rows per copy from a staging file or the test file: a few MB at 224 pixels


def _labels(files: Files) -> np.ndarray:
    return np.fromiter((label for _, label in files), dtype=np.int64, count=len(files))


def _capped(files: Files, n: int | None, *seed: object) -> tuple[Files, np.ndarray]:
    """The class-stratified cap of `files` (prepare_dataset's), and its indices in `files`."""
    kept = cap_indices(_labels(files), n, *seed)
    return [files[i] for i in kept], kept


def _stream_images(npz: NpzWriter, paths: list[Path], size: int, desc: str) -> None:
    """Every file decoded straight into the `images` member (an unreadable one raises)."""
    with npz.rows("images", (len(paths), size, size, 3), np.uint8) as rows:
        for _, image in decode_images(paths, size, desc=desc):
            rows.write(image[None])


def _staged_images(
    npz: NpzWriter, paths: list[Path], size: int, skipped: list[Path], desc: str, beside: Path
) -> np.ndarray:
    """The readable files decoded to a staging file, then copied into the `images` member (its
    shape, written first, needs their count); returns their positions in `paths`."""
    row_bytes = size * size * 3
    with tempfile.TemporaryFile(dir=beside.parent, prefix=f".{beside.name}.") as staging:
        kept = []
        for i, image in decode_images(paths, size, skipped, desc=desc):
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
) -> np.ndarray:
    """One split's file (images, labels, class names; the unreadable files where skipping is
    allowed); returns the positions in `files` of the images it holds."""
    paths = [p for p, _ in files]
    with npz_writer(path, atomic=False) as npz:
        if skipped is None:
            _stream_images(npz, paths, size, desc)
            kept = np.arange(len(files))
        else:
            before = len(skipped)
            kept = _staged_images(npz, paths, size, skipped, desc, path)
        npz.add("labels", _labels(files)[kept])
        npz.add("class_names", names)
        if skipped is not None:
            relative = [p.relative_to(root).as_posix() for p in skipped[before:]]
            npz.add("unreadable", np.array(relative, dtype=str))
    return kept


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
    if not spec["decode_train"]:
        train = []
    skipped: list[Path] | None = [] if spec["skip_unreadable"] else None
    names = np.array(class_names)
    with atomic_paths(outputs) as tmp:
        kept_train = _write_split(tmp["train"], train, size, names, skipped, root, f"{name} train")
        kept = _write_split(tmp["test"], test, size, names, skipped, root, f"{name} test")
        chosen_eval = eval_indices(_labels(test)[kept], spec["n_eval"], seed, name)
        extra = {"indices": chosen_eval, "source_indices": in_source[kept][chosen_eval]}
        _write_eval(tmp["eval"], tmp["test"], chosen_eval, extra)
    counts = {"train": len(kept_train), "test": len(kept), "eval": len(chosen_eval)}
    unreadable = None if skipped is None else [p.relative_to(root).as_posix() for p in skipped]
    return DatasetSummary(name, counts, len(class_names), unreadable, bool(spec["decode_train"]))
