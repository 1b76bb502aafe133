"""The published CIFAR-10-C arrays as a noise source, served from a local HTTP server.

The archives here have the real layout (an uncompressed tar of CIFAR-10-C/<family>.npy, uint8
5n×32×32×3, and labels.npy) with n = 7 test images; nothing touches the network.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from camrobust.data.download import DownloadError
from camrobust.noise.official import CIFAR10C, fetch_cifar10c, official_corruption
from camrobust.noise.severities import PUBLISHED_NAMES

N = 7  # test images per severity in the small archives


def family_array(name: str) -> np.ndarray:
    """A distinct array per family: 5N×32×32×3 random bytes, seeded by its name."""
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).integers(0, 256, (5 * N, 32, 32, 3), dtype=np.uint8)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_archive(path: Path, families: list[str], extra: dict[str, bytes] | None = None) -> str:
    """An uncompressed CIFAR-10-C-style tar at `path`; returns its MD5."""
    members = {f"CIFAR-10-C/{PUBLISHED_NAMES[f]}.npy": npy_bytes(family_array(f)) for f in families}
    members["CIFAR-10-C/labels.npy"] = npy_bytes(np.tile(np.arange(N, dtype=np.uint8), 5))
    members.update(extra or {})
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def served(tmp_path):
    """(folder served at the URL, base URL) of a local HTTP server, stopped afterwards."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_real_archive_facts():
    assert CIFAR10C["filename"] == "CIFAR-10-C.tar"
    assert CIFAR10C["url"].endswith("/records/2535967/files/CIFAR-10-C.tar")
    assert len(PUBLISHED_NAMES) == 19 and len(set(PUBLISHED_NAMES.values())) == 19


@pytest.mark.parametrize("severity", range(1, 6))
def test_rows_are_severity_blocks_of_the_test_set(served, tmp_path, severity):
    folder, url = served
    md5 = write_archive(folder / "CIFAR-10-C.tar", ["gaussian", "jpeg", "frost"])
    archive = fetch_cifar10c(tmp_path / "data", url=f"{url}/CIFAR-10-C.tar", md5=md5)
    indices = [6, 0, 3, 3]
    for noise in ("gaussian", "jpeg", "frost"):
        got = official_corruption(archive, noise, severity, indices)
        expected = family_array(noise)[[(severity - 1) * N + i for i in indices]]
        assert got.dtype == np.uint8 and np.array_equal(got, expected)
    assert official_corruption(archive, "frost", severity, []).shape == (0, 32, 32, 3)


def test_a_wrong_checksum_leaves_nothing_behind(served, tmp_path):
    folder, url = served
    write_archive(folder / "CIFAR-10-C.tar", ["gaussian"])
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="checksum mismatch for CIFAR-10-C.tar"):
        fetch_cifar10c(dest, url=f"{url}/CIFAR-10-C.tar", md5="0" * 32)
    assert not dest.exists() or not any(dest.iterdir())


def test_a_missing_family_is_named(served, tmp_path):
    folder, url = served
    md5 = write_archive(folder / "CIFAR-10-C.tar", ["gaussian"])
    archive = fetch_cifar10c(tmp_path, url=f"{url}/CIFAR-10-C.tar", md5=md5)
    with pytest.raises(DownloadError, match=r"no CIFAR-10-C/snow.npy \(snow\) in the CIFAR-10-C"):
        official_corruption(archive, "snow", 1, [0])


def test_a_corrupt_archive_or_array_fails_with_one_line(tmp_path):
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not a tar archive" * 100)
    with pytest.raises(DownloadError, match="cannot read .*garbage.tar") as err:
        official_corruption(garbage, "gaussian", 1, [0])
    assert "\n" not in str(err.value)
    wrong = tmp_path / "wrong.tar"
    bad = npy_bytes(np.zeros((10, 32, 32), dtype=np.uint8))
    write_archive(wrong, [], {"CIFAR-10-C/fog.npy": bad})
    with pytest.raises(DownloadError, match="fog.npy is uint8 \\(10, 32, 32\\), expected"):
        official_corruption(wrong, "fog", 1, [0])
    odd = tmp_path / "odd.tar"
    write_archive(odd, [], {"CIFAR-10-C/fog.npy": npy_bytes(np.zeros((6, 32, 32, 3), np.uint8))})
    with pytest.raises(DownloadError, match="fog.npy has 6 rows, not 5 × n"):
        official_corruption(odd, "fog", 1, [0])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("rain", 1, [0]), "noise: 'rain' is not a CIFAR-10-C family"),
        (("gaussian", 0, [0]), "severity: the official arrays have severities 1-5"),
        (("gaussian", 6, [0]), "severity: the official arrays have severities 1-5"),
        (("gaussian", 1, [N]), rf"indices: test-image indices must be in \[0, {N}\)"),
        (("gaussian", 1, [-1]), "indices: test-image indices must be in"),
        (("gaussian", 1, [0.5]), "indices: need a list of integer"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(tmp_path, args, match):
    archive = tmp_path / "CIFAR-10-C.tar"
    write_archive(archive, ["gaussian"])
    with pytest.raises(ValueError, match=match):
        official_corruption(archive, *args)
