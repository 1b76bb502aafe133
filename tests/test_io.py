""".npz archives written member by member and streamed by rows give np.savez's bytes; read
memory-mapped they give np.load's arrays; a failed write leaves nothing behind."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest

from camrobust.io import atomic_paths, load_npz, npz_writer, save_npz


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "images": rng.integers(0, 256, (7, 5, 5, 3), dtype=np.uint8),
        "labels": rng.integers(0, 3, 7).astype(np.int64),
        "masks": rng.integers(0, 2, (7, 5, 5), dtype=np.uint8),
        "empty": np.zeros((0, 5, 5, 3), np.uint8),
        "class_names": np.array(["ant", "bee", "cat"]),
        "scale": np.asfortranarray(rng.random((3, 4))),
    }


def _savez_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_save_npz_writes_the_bytes_of_np_savez(tmp_path):
    arrays = _arrays()
    save_npz(tmp_path / "a.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == _savez_bytes(arrays)


def test_rows_streamed_in_chunks_give_the_same_bytes(tmp_path):
    arrays = _arrays()
    with npz_writer(tmp_path / "s.npz") as npz:
        with npz.rows("images", arrays["images"].shape, np.uint8) as rows:
            for start in (0, 1, 4):  # uneven chunks: 1, 3 and 3 rows
                rows.write(arrays["images"][start : {0: 1, 1: 4, 4: 7}[start]])
        for name in ("labels", "masks", "empty", "class_names", "scale"):
            npz.add(name, arrays[name])
    assert (tmp_path / "s.npz").read_bytes() == _savez_bytes(arrays)


def test_memory_mapped_members_equal_np_load(tmp_path):
    arrays = _arrays()
    save_npz(tmp_path / "a.npz", **arrays)
    mapped = load_npz(tmp_path / "a.npz", mmap=True)
    loaded = load_npz(tmp_path / "a.npz")
    assert list(mapped) == list(loaded) == list(arrays)
    for name, array in arrays.items():
        assert mapped[name].dtype == array.dtype and mapped[name].shape == array.shape, name
        np.testing.assert_array_equal(mapped[name], array)
        np.testing.assert_array_equal(loaded[name], array)
    assert isinstance(mapped["images"], np.memmap) and not mapped["images"].flags.writeable
    assert mapped["scale"].flags.f_contiguous


def test_a_compressed_member_is_refused_by_name(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", images=np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="member images.npy is compressed"):
        load_npz(tmp_path / "c.npz", mmap=True)


@pytest.mark.parametrize(
    ("written", "message"), [(2, "2 rows written, 3 declared"), (4, "more than the declared 3")]
)
def test_a_wrong_row_count_fails_and_leaves_nothing(tmp_path, written, message):
    with (
        pytest.raises(ValueError, match=message),
        npz_writer(tmp_path / "r.npz") as npz,
        npz.rows("images", (3, 2), np.uint8) as rows,
    ):
        rows.write(np.zeros((written, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_rows_of_another_shape_or_dtype_are_refused(tmp_path):
    wrong = r"images: rows of int64 \(2,\), the member holds uint8"
    with (
        pytest.raises(ValueError, match=wrong),
        npz_writer(tmp_path / "r.npz") as npz,
        npz.rows("images", (3, 2), np.uint8) as rows,
    ):
        rows.write(np.zeros((1, 2), np.int64))
    assert list(tmp_path.iterdir()) == []


def test_atomic_paths_renames_all_or_none(tmp_path):
    targets = {k: tmp_path / f"{k}.npz" for k in ("a", "b")}
    with pytest.raises(RuntimeError), atomic_paths(targets) as tmp:
        for path in tmp.values():
            path.write_bytes(b"x")
        raise RuntimeError("second file failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_paths(targets) as tmp:
        for key, path in tmp.items():
            path.write_bytes(key.encode())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]
    assert targets["b"].read_bytes() == b"b"


def test_members_use_zip64_and_stay_mappable(tmp_path):
    """np.savez forces ZIP64 on every member (so a split over 4 GB writes alike); its extra
    field sits in the local header, between the name and the data the map starts at."""
    save_npz(tmp_path / "z.npz", images=np.arange(10, dtype=np.uint8))
    with zipfile.ZipFile(tmp_path / "z.npz") as archive:
        info = archive.getinfo("images.npy")
    assert info.compress_type == zipfile.ZIP_STORED and info.header_offset == 0
    header = struct.unpack(zipfile.structFileHeader, (tmp_path / "z.npz").read_bytes()[:30])
    assert header[-1] == 20  # the ZIP64 extra field: 4 bytes of tag and size, two 8-byte sizes
    np.testing.assert_array_equal(load_npz(tmp_path / "z.npz", mmap=True)["images"], np.arange(10))
