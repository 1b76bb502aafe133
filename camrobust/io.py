"""Atomic file writing (a killed job never leaves a half-written output behind), and .npz
archives written member by member, an array row chunk by row chunk, and read memory-mapped."""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; outputs get the permissions a plain open() would give.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


class RowWriter:
    """Rows of one array member, written in order; exactly as many as its shape declares."""

    def __init__(self, handle: Any, shape: tuple[int, ...], dtype: np.dtype, name: str) -> None:
        self._handle, self.shape, self.dtype, self.name = handle, shape, dtype, name
        self.written = 0

    def write(self, rows: np.ndarray) -> None:
        """Append `rows` (k × the member's row shape, its dtype)."""
        rows = np.asarray(rows)
        if rows.dtype != self.dtype or rows.shape[1:] != self.shape[1:]:
            raise ValueError(
                f"{self.name}: rows of {rows.dtype} {rows.shape[1:]}, the member holds "
                f"{self.dtype} {self.shape[1:]}"
            )
        if self.written + len(rows) > self.shape[0]:
            raise ValueError(f"{self.name}: more than the declared {self.shape[0]} rows")
        self._handle.write(np.ascontiguousarray(rows).tobytes())
        self.written += len(rows)


class NpzWriter:
    """An uncompressed .npz written one member after another, each as `np.savez` writes it (so
    the same arrays give the same bytes), a large one streamed by rows with `rows`."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive

    def add(self, name: str, array: np.ndarray) -> None:
        """Write a whole array as member `name`."""
        array = np.asanyarray(array)
        with self._archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array(handle, array, allow_pickle=False)

    @contextlib.contextmanager
    def rows(self, name: str, shape: tuple[int, ...], dtype: Any) -> Iterator[RowWriter]:
        """Member `name` of C-order `shape`, filled by the caller's `write` calls."""
        dtype = np.dtype(dtype)
        shape = tuple(int(n) for n in shape)
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": False,
            "shape": shape,
        }
        with self._archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            writer = RowWriter(handle, shape, dtype, name)
            yield writer
            if writer.written != shape[0]:
                raise ValueError(f"{name}: {writer.written} rows written, {shape[0]} declared")


@contextlib.contextmanager
def npz_writer(path: str | os.PathLike, atomic: bool = True) -> Iterator[NpzWriter]:
    """An NpzWriter on `path`, renamed into place only if the block succeeds (`atomic=False`:
    written in place, for a path that is itself a temporary name)."""
    with contextlib.ExitStack() as stack:
        target = stack.enter_context(atomic_path(path)) if atomic else Path(path)
        handle = stack.enter_context(open(target, "wb"))
        archive = stack.enter_context(
            zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True)
        )
        yield NpzWriter(archive)


@contextlib.contextmanager
def atomic_paths(paths: Mapping[str, str | os.PathLike]) -> Iterator[dict[str, Path]]:
    """`atomic_path` for several files at once: {key: temporary path}, every one renamed into
    place only if the whole block succeeds (a failure leaves none of them behind)."""
    with contextlib.ExitStack() as stack:
        yield {key: stack.enter_context(atomic_path(path)) for key, path in paths.items()}


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed .npz atomically (byte-identical for identical arrays)."""
    with npz_writer(path) as npz:
        for name, array in arrays.items():
            npz.add(name, array)


_LOCAL_HEADER = struct.Struct(zipfile.structFileHeader)


def _mapped_member(path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """A read-only memory map of one stored .npy member, found through its local header."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{path}: member {info.filename} is compressed and cannot be mapped")
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
        name_length, extra_length = fields[-2], fields[-1]
        fh.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
        version = np.lib.format.read_magic(fh)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = read_header(fh)
        offset = fh.tell()
    if dtype.hasobject:
        raise ValueError(f"{path}: member {info.filename} holds Python objects")
    if math.prod(shape) == 0:  # an empty file region cannot be mapped
        return np.empty(shape, dtype)
    order = "F" if fortran_order else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)


def load_npz(path: str | os.PathLike, mmap: bool = False) -> dict[str, np.ndarray]:
    """Every array of an .npz (no pickles): read into memory, or (`mmap`) memory-mapped
    read-only, so a reader of a few rows of a large split reads only those."""
    if mmap:
        path = Path(path)
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if i.filename.endswith(".npy")]
        return {i.filename[: -len(".npy")]: _mapped_member(path, i) for i in members}
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def save_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically with sorted keys, so equal content gives equal bytes."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """torch.save atomically, byte-identical for equal objects."""
    import io

    import torch

    # Saving to a named file records that (random, temporary) name inside the archive.
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
