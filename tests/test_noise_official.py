"""The published CIFAR-10-C arrays as a noise source, served from a local HTTP server.

The archives here have the real layout (an uncompressed tar of CIFAR-10-C/<family>.npy, uint8
5n×32×32×3, and labels.npy) with n = 7 test images; nothing touches the network.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from archive_fixtures import cifar10c_family, npy_bytes, write_cifar10c_archive, write_tar

from camrobust.data.cifar10c import FAMILIES
from camrobust.data.download import DownloadError
from camrobust.noise.official import CIFAR10C, check_labels, fetch_cifar10c, official_corruption
from camrobust.noise.severities import PUBLISHED_NAMES

N = 7  # test images per severity in the small archives


def family_array(name: str) -> np.ndarray:
    return cifar10c_family(name, N)


def write_archive(path: Path, families: list[str], extra: dict[str, bytes] | None = None) -> str:
    return write_cifar10c_archive(path, families, N, extra)


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
    assert set(FAMILIES) == set(PUBLISHED_NAMES)  # the config's check: every family is in it


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


def official_config(folder: Path, url: str, tmp_path: Path, archive_md5: str | None = None):
    """A fake CIFAR-10 (20 train, 30 test images) and a fake CIFAR-10-C of its test images in
    the served `folder`, and a config file reading both (the archive's own MD5 by default).
    Returns (config path, the CIFAR-10 test images)."""
    from archive_fixtures import random_images, write_cifar_archive

    rng = np.random.default_rng(3)
    splits = {
        "train": (random_images(rng, 20), np.arange(20) % 10),
        "test": (random_images(rng, 30), np.arange(30) % 10),
    }
    cifar = write_cifar_archive(folder / "cifar-10-python.tar.gz", splits)
    cifar_md5 = hashlib.md5(cifar.read_bytes()).hexdigest()
    md5 = write_cifar10c_archive(folder / "CIFAR-10-C.tar", ["gaussian", "frost"], 30)
    noise = {"source": "official", "url": f"{url}/CIFAR-10-C.tar", "md5": archive_md5 or md5}
    config = {
        "datasets": {
            "c": {
                "source": "cifar10", "url": f"{url}/cifar-10-python.tar.gz", "md5": cifar_md5,
                "n_test": 15, "n_eval": 10, "noise": noise,
            }
        },
        "noise": {"corruptions": {"gaussian": {"severities": [1, 3]}, "frost": {"severities": [5]}}},
        # 10 evaluation images: fewer than the quality metrics' default 16 (not needed here)
        "metrics": {"sensitivity": {"enabled": False}, "faithfulness": {"enabled": False}},
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, splits["test"][0]


@pytest.mark.slow
def test_workflow_noisy_sets_are_the_archives_rows_of_the_eval_images(served, tmp_path):
    """`noise.source: official` end to end up to the noisy sets, everything served locally. The
    test split is capped (n_test), so the rows must come from the eval images' indices in the
    source's test split, not from their indices in test.npz."""
    from conftest import snakemake

    folder, url = served
    path, test_images = official_config(folder, url, tmp_path)
    work = tmp_path / "wd"
    levels = [("gaussian", 1), ("gaussian", 3), ("frost", 5)]
    targets = [f"results/noisy/c/{n}/{s}.npz" for n, s in levels]
    snakemake(work, "--cores", "1", *targets, config=path)

    assert (work / "resources/raw/c/CIFAR-10-C.tar").read_bytes() == (
        folder / "CIFAR-10-C.tar"
    ).read_bytes()
    clean = np.load(work / "results/data/c/eval.npz")
    test = np.load(work / "results/data/c/test.npz")
    rows = clean["source_indices"]
    assert len(test["labels"]) == 15 and len(rows) == 10
    # the eval images are those test images of the source, and the indices say which
    assert np.array_equal(test_images[rows], clean["images"])
    assert not np.array_equal(rows, clean["indices"])  # the cap moved them: the test bites
    for noise_name, severity in levels:
        noisy = np.load(work / f"results/noisy/c/{noise_name}/{severity}.npz")["images"]
        expected = cifar10c_family(noise_name, 30)[(severity - 1) * 30 + rows]
        assert noisy.dtype == np.uint8 and noisy.tobytes() == expected.tobytes()
    again = snakemake(work, "-n", "--cores", "1", *targets, config=path)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_workflow_archive_with_the_wrong_checksum_fails_and_leaves_nothing(served, tmp_path):
    from conftest import snakemake

    folder, url = served
    path, _ = official_config(folder, url, tmp_path, archive_md5="0" * 32)
    work = tmp_path / "wd"
    archive = "resources/raw/c/CIFAR-10-C.tar"
    run = snakemake(work, "--cores", "1", archive, config=path, check=False)
    assert run.returncode != 0
    assert "checksum mismatch for CIFAR-10-C.tar" in run.stderr
    assert not [f for f in (work / "resources").rglob("*") if f.is_file()]  # no partial file


def test_labels_of_the_picked_test_images_are_checked(tmp_path):
    """The archive's labels.npy (5 repeats of the test labels) must agree with the dataset's."""
    archive = tmp_path / "CIFAR-10-C.tar"
    write_archive(archive, ["gaussian"])
    labels = np.arange(N) % 10  # what the fixture stores
    check_labels(archive, [6, 0, 3], labels[[6, 0, 3]])  # agrees: no error
    with pytest.raises(DownloadError, match="test image 0 has label 0 there, 5 in the dataset"):
        check_labels(archive, [6, 0, 3], [6, 5, 3])
    nolabels = tmp_path / "nolabels.tar"
    write_tar(nolabels, {"CIFAR-10-C/fog.npy": npy_bytes(family_array("fog"))}, mode="w")
    with pytest.raises(DownloadError, match="no CIFAR-10-C/labels.npy in the CIFAR-10-C archive"):
        check_labels(nolabels, [0], [0])
