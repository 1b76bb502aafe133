"""Small files in the real CIFAR-10 (pickled batches in a tar.gz), CIFAR-10-C (.npy arrays in an
uncompressed tar) and SVHN (.mat) formats."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import scipy.io

from camrobust.noise.severities import PUBLISHED_NAMES

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_LABEL_NAMES = [
    b"airplane",
    b"automobile",
    b"bird",
    b"cat",
    b"deer",
    b"dog",
    b"frog",
    b"horse",
    b"ship",
    b"truck",
]


def random_images(rng: np.random.Generator, n: int, side: int = 32) -> np.ndarray:
    """Random uint8 N×side×side×3 images."""
    return rng.integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)


def _legacy_pickle(obj: object) -> bytes:
    """Protocol 2 pickle naming numpy's array constructor as the real (numpy 1.x era) files do."""
    data = pickle.dumps(obj, protocol=2)
    return data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_batch_bytes(images: np.ndarray, labels: np.ndarray, name: str = "batch") -> bytes:
    """A CIFAR batch: each row the red, green, then blue 32×32 plane, row-major; labels a list."""
    rows = np.stack(
        [
            np.concatenate([img[:, :, 0].ravel(), img[:, :, 1].ravel(), img[:, :, 2].ravel()])
            for img in images
        ]
    ).astype(np.uint8)
    batch = {
        b"batch_label": name.encode(),
        b"labels": [int(v) for v in labels],
        b"data": rows,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    return _legacy_pickle(batch)


def cifar_meta_bytes() -> bytes:
    """The batches.meta pickle."""
    return _legacy_pickle(
        {b"num_cases_per_batch": 10000, b"label_names": CIFAR_LABEL_NAMES, b"num_vis": 3072}
    )


def write_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    """A tar archive of regular files with the given member names and contents."""
    with tarfile.open(path, mode) as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return path


def write_link_tar(path: Path, name: str, target: str, hard: bool = False) -> Path:
    """A tar holding one regular file `ok.txt` and one (sym or hard) link `name` -> `target`."""
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("ok.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"ok"))
        link = tarfile.TarInfo(name)
        link.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
        link.linkname = target
        archive.addfile(link)
    return path


def write_cifar_archive(
    path: Path,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    skip: tuple[str, ...] = (),
) -> Path:
    """cifar-10-python.tar.gz: `train` spread over data_batch_1..5, `test` in test_batch."""
    train_images, train_labels = splits["train"]
    chunks = np.array_split(np.arange(len(train_labels)), len(CIFAR_TRAIN_BATCHES))
    members = {f"{CIFAR_FOLDER}/batches.meta": cifar_meta_bytes()}
    for name, idx in zip(CIFAR_TRAIN_BATCHES, chunks, strict=True):
        members[f"{CIFAR_FOLDER}/{name}"] = cifar_batch_bytes(
            train_images[idx], train_labels[idx], name
        )
    members[f"{CIFAR_FOLDER}/test_batch"] = cifar_batch_bytes(*splits["test"], "test_batch")
    for name in skip:
        del members[f"{CIFAR_FOLDER}/{name}"]
    return write_tar(path, members)


def write_svhn_mat(path: Path, images: np.ndarray, digits: np.ndarray) -> Path:
    """An SVHN .mat: X is H×W×C×N uint8, y is N×1 with the digit 0 stored as 10."""
    x = np.zeros(images.shape[1:] + (len(images),), dtype=np.uint8)
    for n, img in enumerate(images):
        x[:, :, :, n] = img
    y = np.where(np.asarray(digits) == 0, 10, digits).astype(np.uint8).reshape(-1, 1)
    scipy.io.savemat(path, {"X": x, "y": y})
    return path


def cifar10c_family(name: str, n: int) -> np.ndarray:
    """A distinct CIFAR-10-C-style array per family: 5n×32×32×3 random bytes seeded by its name."""
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).integers(0, 256, (5 * n, 32, 32, 3), dtype=np.uint8)


def npy_bytes(array: np.ndarray) -> bytes:
    """An array as the bytes of its .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_cifar10c_archive(
    path: Path, families: list[str], n: int, extra: dict[str, bytes] | None = None
) -> str:
    """CIFAR-10-C.tar for n test images: CIFAR-10-C/<published name>.npy of `families`,
    labels.npy and any `extra` members, uncompressed like the real one; returns its MD5."""
    members = {
        f"CIFAR-10-C/{PUBLISHED_NAMES[f]}.npy": npy_bytes(cifar10c_family(f, n)) for f in families
    }
    members["CIFAR-10-C/labels.npy"] = npy_bytes(np.tile(np.arange(n, dtype=np.uint8) % 10, 5))
    members.update(extra or {})
    write_tar(path, members, mode="w")
    return hashlib.md5(path.read_bytes()).hexdigest()
