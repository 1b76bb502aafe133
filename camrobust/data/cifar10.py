"""CIFAR-10: download the official python archive, verify it, and convert it to uint8 arrays."""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from camrobust.data.download import DownloadError, fetch, safe_extract

log = logging.getLogger(__name__)

# The official "python version" archive (facts checked against torchvision's datasets/cifar.py).
CIFAR10: dict[str, str] = {
    "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "filename": "cifar-10-python.tar.gz",
    "md5": "c58f30108f718f92721af3b95e74349a",
}
CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_FOLDER = "cifar-10-batches-py"
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_SIDE = 32

# The only globals a CIFAR batch pickle (Python 2 era numpy arrays) needs, mapped to where
# today's numpy keeps them.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(*target)


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch file as (uint8 N×32×32×3 images, int64 N labels)."""
    path = Path(path)
    # The batches are pickles, the format's own choice; we only read them after the archive's
    # MD5 has been checked, and through an unpickler that allows numpy arrays only.
    try:
        with open(path, "rb") as fh:
            batch = _BatchUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DownloadError(f"cannot read CIFAR batch {path.name}: {err}") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DownloadError(f"CIFAR batch {path.name} lacks the 'data' and 'labels' entries")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * _SIDE * _SIDE:
        raise DownloadError(
            f"CIFAR batch {path.name}: data is {data.dtype} {data.shape}, expected uint8 N×3072"
        )
    if labels.shape != (data.shape[0],):
        raise DownloadError(
            f"CIFAR batch {path.name}: {labels.size} labels for {data.shape[0]} images"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise DownloadError(f"CIFAR batch {path.name}: labels outside 0..{len(CLASSES) - 1}")
    # Each row holds the red plane, then green, then blue, each 32×32 row-major.
    images = data.reshape(-1, 3, _SIDE, _SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def prepare_cifar10(
    raw_dir: str | os.PathLike,
    url: str | None = None,
    md5: str | None = None,
    *,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fetch (or reuse) the verified archive in `raw_dir` and return the train and test splits.

    `url` None means the official archive. A mirror of the same file needs only `url`; a mirror
    holding another archive in the same format gives its own `md5` with it.
    """
    raw_dir = Path(raw_dir)
    archive = fetch(
        url or CIFAR10["url"],
        raw_dir / CIFAR10["filename"],
        md5 or CIFAR10["md5"],
        retries=retries,
        timeout=timeout,
        backoff=backoff,
    )
    raw_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=raw_dir, prefix=".cifar10.") as tmp:
        extracted = safe_extract(archive, Path(tmp) / "x")
        splits = {}
        for split, names in _BATCHES.items():
            parts = []
            for name in names:
                path = extracted / _FOLDER / name
                if not path.is_file():
                    raise DownloadError(f"{archive.name} lacks {_FOLDER}/{name}")
                parts.append(read_batch(path))
            images = np.concatenate([p[0] for p in parts])
            labels = np.concatenate([p[1] for p in parts])
            log.info("CIFAR-10 %s: %d images", split, len(labels))
            splits[split] = (images, labels)
    return splits
