"""The published CIFAR-10-C arrays as a noise source: download with checksum, read rows in place.

The archive (Hendrycks & Dietterich, Zenodo record 2535967) is one uncompressed tar holding
`CIFAR-10-C/<family>.npy` for the 19 families, each uint8 50000×32×32×3: severity s holds rows
(s - 1)·10000 to s·10000 - 1, row (s - 1)·10000 + i being CIFAR-10 test image i, and
`labels.npy`. Rows are read straight out of the tar (a seek to the member, then to the rows), so
nothing is extracted and a job reads only the rows it needs.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

from camrobust.data.cifar10c import CIFAR10C
from camrobust.data.download import DownloadError, fetch
from camrobust.noise.severities import PUBLISHED_NAMES

__all__ = ["CIFAR10C", "check_labels", "fetch_cifar10c", "official_corruption"]
FOLDER = "CIFAR-10-C"
SEVERITIES = 5


def fetch_cifar10c(
    dest_dir: str | os.PathLike, url: str = CIFAR10C["url"], md5: str = CIFAR10C["md5"]
) -> Path:
    """Download the CIFAR-10-C archive into `dest_dir` and verify its MD5 (reused if it does)."""
    return fetch(url, Path(dest_dir) / CIFAR10C["filename"], md5)


_ROW_BYTES = 32 * 32 * 3
_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _open_array(archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> tuple[IO, int]:
    """The member's file handle positioned after its .npy header, and its number of rows."""
    handle = tar.extractfile(member)
    if handle is None:
        raise DownloadError(f"{archive.name}: {member.name} is not a file")
    try:
        read_header = _HEADERS.get(np.lib.format.read_magic(handle))
        if read_header is None:
            raise ValueError("unsupported .npy version")
        shape, fortran, dtype = read_header(handle)
    except ValueError as err:
        raise DownloadError(f"{archive.name}: {member.name} is not a .npy array: {err}") from err
    if dtype != np.uint8 or fortran or len(shape) != 4 or shape[1:] != (32, 32, 3):
        raise DownloadError(
            f"{archive.name}: {member.name} is {dtype} {shape}, expected uint8 N×32×32×3"
        )
    if shape[0] % SEVERITIES:
        raise DownloadError(f"{archive.name}: {member.name} has {shape[0]} rows, not 5 × n")
    return handle, shape[0]


def _read_rows(archive: Path, name: str, handle: IO, rows: np.ndarray) -> np.ndarray:
    """Rows `rows` of the array whose data starts at the handle's current position."""
    start = handle.tell()
    out = np.empty((len(rows), 32, 32, 3), dtype=np.uint8)
    for k, row in enumerate(rows):
        handle.seek(start + int(row) * _ROW_BYTES)
        data = handle.read(_ROW_BYTES)
        if len(data) != _ROW_BYTES:
            raise DownloadError(f"{archive.name}: {name} is truncated")
        out[k] = np.frombuffer(data, dtype=np.uint8).reshape(32, 32, 3)
    return out


def official_corruption(
    archive: str | os.PathLike, noise: str, severity: int, indices: Sequence[int]
) -> np.ndarray:
    """CIFAR-10-C's published images of test images `indices` under `noise` at `severity`.

    Row (severity - 1)·n + index of the family's array, n = rows / 5 (10000 in the real
    archive). Raises DownloadError (one line, naming the archive and family) when the archive
    is unreadable or lacks the family, ValueError for a bad argument.
    """
    archive = Path(archive)
    if noise not in PUBLISHED_NAMES:
        raise ValueError(f"noise: {noise!r} is not a CIFAR-10-C family")
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 5:
        raise ValueError(f"severity: the official arrays have severities 1-5, got {severity!r}")
    picks = np.asarray(indices)
    if picks.ndim != 1 or (picks.size and not np.issubdtype(picks.dtype, np.integer)):
        raise ValueError("indices: need a list of integer test-image indices")
    name = f"{FOLDER}/{PUBLISHED_NAMES[noise]}.npy"
    try:
        with tarfile.open(archive, "r:") as tar:
            try:
                member = tar.getmember(name)
            except KeyError:
                raise DownloadError(
                    f"{archive.name}: no {name} ({noise}) in the CIFAR-10-C archive"
                ) from None
            handle, rows = _open_array(archive, tar, member)
            per_severity = rows // SEVERITIES
            if picks.size and (picks.min() < 0 or picks.max() >= per_severity):
                raise ValueError(
                    f"indices: test-image indices must be in [0, {per_severity}), "
                    f"got {picks.min()}..{picks.max()}"
                )
            images = _read_rows(archive, name, handle, (severity - 1) * per_severity + picks)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DownloadError(f"cannot read {archive}: {err}") from err
    return images


def check_labels(archive: str | os.PathLike, indices: Sequence[int], labels: Sequence[int]) -> None:
    """Stop unless the archive's labels of test images `indices` are `labels`: a mirror of
    another test set, or a dataset that is not CIFAR-10's test split, would otherwise pair
    each clean image with another image's corruption without any error."""
    archive = Path(archive)
    name = f"{FOLDER}/labels.npy"
    try:
        with tarfile.open(archive, "r:") as tar:
            handle = tar.extractfile(name)
            published = np.load(io.BytesIO(handle.read()), allow_pickle=False)
    except KeyError:
        raise DownloadError(f"{archive.name}: no {name} in the CIFAR-10-C archive") from None
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise DownloadError(f"cannot read {archive}: {name}: {err}") from err
    first = published.reshape(-1)[: published.size // SEVERITIES]
    picks, want = np.asarray(indices, dtype=np.int64), np.asarray(labels)
    if picks.size and (picks.min() < 0 or picks.max() >= first.size):
        raise ValueError(f"indices: test-image indices must be in [0, {first.size})")
    wrong = np.flatnonzero(first[picks] != want)
    if wrong.size:
        k = wrong[0]
        raise DownloadError(
            f"{archive.name}: test image {picks[k]} has label {first[picks[k]]} there, "
            f"{want[k]} in the dataset: the archive is not of this dataset's test set"
        )
