"""SVHN (cropped digits): download the official .mat files, verify them, convert to uint8 arrays."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from camrobust.data.download import DownloadError, fetch

log = logging.getLogger(__name__)

# Official location and checksums (facts checked against torchvision's datasets/svhn.py).
SVHN: dict[str, Any] = {
    "url": "http://ufldl.stanford.edu/housenumbers/",
    "files": {"train": "train_32x32.mat", "test": "test_32x32.mat"},
    "md5": {
        "train": "e26dedcc434d2e4c54c9b2d4a06d8373",
        "test": "eb5a983be6a315427106f1b164d9cef3",
    },
}
_SIDE = 32


def read_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One SVHN .mat file as (uint8 N×32×32×3 images, int64 N labels with digit 0 as 0)."""
    path = Path(path)
    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    except (MatReadError, ValueError, TypeError, OSError, NotImplementedError) as err:
        raise DownloadError(f"cannot read SVHN file {path.name}: {err}") from err
    if "X" not in mat or "y" not in mat:
        raise DownloadError(f"SVHN file {path.name} lacks the 'X' and 'y' variables")
    x, y = mat["X"], mat["y"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (_SIDE, _SIDE, 3):
        raise DownloadError(
            f"SVHN file {path.name}: X is {x.dtype} {x.shape}, expected uint8 32×32×3×N"
        )
    labels = np.asarray(y, dtype=np.int64).reshape(-1)
    if labels.size != x.shape[3]:
        raise DownloadError(f"SVHN file {path.name}: {labels.size} labels for {x.shape[3]} images")
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise DownloadError(f"SVHN file {path.name}: labels outside 1..10")
    # SVHN stores the digit 0 as class 10.
    labels[labels == 10] = 0
    images = np.ascontiguousarray(x.transpose(3, 0, 1, 2))
    return images, labels


def prepare_svhn(
    raw_dir: str | os.PathLike,
    url: str | None = None,
    md5: dict[str, str] | None = None,
    *,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fetch (or reuse) the verified train and test files in `raw_dir` and convert them.

    `url` is the base URL of a folder holding train_32x32.mat and test_32x32.mat (None: the
    official one); `md5` maps "train"/"test" to a mirror's own checksums (None: the official).
    """
    raw_dir = Path(raw_dir)
    base = (url or SVHN["url"]).rstrip("/") + "/"
    checksums = dict(SVHN["md5"])
    if md5 is not None:
        unknown = set(md5) - set(checksums)
        if unknown:
            raise ValueError(f"md5 keys must be among {sorted(checksums)}, got {sorted(unknown)}")
        checksums.update(md5)
    splits = {}
    for split, filename in SVHN["files"].items():
        path = fetch(
            base + filename,
            raw_dir / filename,
            checksums[split],
            retries=retries,
            timeout=timeout,
            backoff=backoff,
        )
        splits[split] = read_mat(path)
        log.info("SVHN %s: %d images", split, len(splits[split][1]))
    return splits
