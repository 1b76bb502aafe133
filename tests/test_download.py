"""Downloads, checksums, retries, safe extraction, and the CIFAR-10 / SVHN converters.

A local HTTP server on 127.0.0.1 serves small files built in the real formats; nothing here
touches the network.
"""

from __future__ import annotations

import collections
import hashlib
import http.server
import os
import pickle
import re
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torchvision.datasets
from archive_fixtures import (
    cifar_batch_bytes,
    random_images,
    write_cifar_archive,
    write_link_tar,
    write_svhn_mat,
    write_tar,
)

from camrobust.data import download, svhn
from camrobust.data.cifar10 import CIFAR10, prepare_cifar10, read_batch
from camrobust.data.download import DownloadError, fetch, md5sum, safe_extract
from camrobust.data.svhn import SVHN, prepare_svhn


class _Server:
    """Routes: path -> bytes (200), int (that status), ("short", bytes) (a truncated body),
    "hang" (no answer until the test ends), or a list of those served in turn (the last one
    repeats). `hits` counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] += 1
                route = server.routes.get(self.path, 404)
                if isinstance(route, list):
                    route = route[min(server.hits[self.path], len(route)) - 1]
                if route == "hang":
                    server.release.wait(10)
                    return
                if isinstance(route, int):
                    self.send_error(route)
                    return
                short = isinstance(route, tuple)
                body = route[1] if short else route
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + (100 if short else 0)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture
def sleeps(monkeypatch):
    """Record the back-off waits instead of sleeping."""
    waits: list[float] = []
    monkeypatch.setattr(download.time, "sleep", waits.append)
    return waits


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


PAYLOAD = bytes(range(256)) * 5000  # 1.28 MB: more than one read chunk


# --- fetch -----------------------------------------------------------------------------------


def test_md5sum_matches_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    assert md5sum(path) == _md5(PAYLOAD)
    assert md5sum(path, chunk_size=7) == _md5(PAYLOAD)


def test_fetch_downloads_verifies_and_reuses(server, tmp_path):
    server.routes["/a/file.bin"] = PAYLOAD
    dest = tmp_path / "raw" / "file.bin"
    out = fetch(server.url("/a/file.bin"), dest, _md5(PAYLOAD), backoff=0)
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert _listing(tmp_path / "raw") == ["file.bin"]  # no temporary file left beside it
    assert server.hits["/a/file.bin"] == 1

    fetch(server.url("/a/file.bin"), dest, _md5(PAYLOAD).upper(), backoff=0)
    assert server.hits["/a/file.bin"] == 1  # right checksum on disk: no second download


def test_fetch_replaces_a_dest_with_the_wrong_checksum(server, tmp_path):
    server.routes["/f"] = PAYLOAD
    dest = tmp_path / "f"
    dest.write_bytes(b"stale half download")
    fetch(server.url("/f"), dest, _md5(PAYLOAD), backoff=0)
    assert server.hits["/f"] == 1
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_names_file_and_leaves_nothing(server, tmp_path):
    corrupted = PAYLOAD[:-1] + b"\x00"
    server.routes["/cifar-10-python.tar.gz"] = corrupted
    dest = tmp_path / "cifar-10-python.tar.gz"
    expected = _md5(PAYLOAD)
    with pytest.raises(DownloadError) as info:
        fetch(server.url("/cifar-10-python.tar.gz"), dest, expected, retries=2, backoff=0)
    message = str(info.value)
    assert "\n" not in message
    assert "checksum mismatch for cifar-10-python.tar.gz" in message
    assert expected in message and _md5(corrupted) in message
    assert server.hits["/cifar-10-python.tar.gz"] == 1  # a wrong file is not fetched again
    assert _listing(tmp_path) == []


def test_stale_dest_removed_when_redownload_fails(server, tmp_path):
    dest = tmp_path / "f"
    dest.write_bytes(b"stale")
    with pytest.raises(DownloadError):
        fetch(server.url("/missing"), dest, _md5(PAYLOAD), backoff=0)
    assert _listing(tmp_path) == []


def test_http_404_is_not_retried(server, tmp_path, sleeps):
    url = server.url("/missing.tar.gz")
    with pytest.raises(DownloadError, match=re.escape(url) + ".*HTTP 404") as info:
        fetch(url, tmp_path / "x.tar.gz", _md5(PAYLOAD), retries=3, backoff=0)
    assert "\n" not in str(info.value)
    assert server.hits["/missing.tar.gz"] == 1
    assert sleeps == []
    assert _listing(tmp_path) == []


def test_http_500_is_retried_then_fails(server, tmp_path, sleeps):
    server.routes["/broken"] = 500
    url = server.url("/broken")
    with pytest.raises(DownloadError, match=re.escape(url) + r" failed after 4 attempts: HTTP 500"):
        fetch(url, tmp_path / "x", _md5(PAYLOAD), retries=3, backoff=0.5)
    assert server.hits["/broken"] == 4
    assert sleeps == [0.5, 1.0, 2.0]  # exponential back-off between attempts
    assert _listing(tmp_path) == []


def test_retries_zero_means_one_attempt(server, tmp_path):
    server.routes["/broken"] = 503
    with pytest.raises(DownloadError, match="after 1 attempt: HTTP 503"):
        fetch(server.url("/broken"), tmp_path / "x", _md5(PAYLOAD), retries=0, backoff=0)
    assert server.hits["/broken"] == 1


def test_transient_failures_then_success(server, tmp_path, sleeps):
    server.routes["/flaky"] = [500, ("short", PAYLOAD[:1000]), PAYLOAD]
    dest = fetch(server.url("/flaky"), tmp_path / "f", _md5(PAYLOAD), retries=3, backoff=0.25)
    assert dest.read_bytes() == PAYLOAD
    assert server.hits["/flaky"] == 3
    assert sleeps == [0.25, 0.5]
    assert _listing(tmp_path) == ["f"]


def test_truncated_transfer_fails_after_retries(server, tmp_path, sleeps):
    server.routes["/short"] = ("short", PAYLOAD[:5000])
    with pytest.raises(DownloadError, match=re.escape(server.url("/short")) + ".*2 attempts"):
        fetch(server.url("/short"), tmp_path / "f", _md5(PAYLOAD), retries=1, backoff=0)
    assert server.hits["/short"] == 2
    assert _listing(tmp_path) == []


def test_timeout_is_retried(server, tmp_path, sleeps):
    server.routes["/slow"] = "hang"
    url = server.url("/slow")
    with pytest.raises(DownloadError, match=re.escape(url) + ".*2 attempts: connection failed"):
        fetch(url, tmp_path / "f", _md5(PAYLOAD), retries=1, timeout=0.1, backoff=0)
    assert server.hits["/slow"] == 2
    assert _listing(tmp_path) == []


def test_connection_refused_names_url(tmp_path, sleeps):
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"
    with pytest.raises(DownloadError, match=re.escape(url) + ".*3 attempts: connection failed"):
        fetch(url, tmp_path / "x", _md5(PAYLOAD), retries=2, backoff=0)
    assert len(sleeps) == 2
    assert _listing(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"md5": "xyz"}, "md5 must be 32 hex digits"),
        ({"md5": "0" * 31}, "md5 must be 32 hex digits"),
        ({"md5": None}, "md5 must be 32 hex digits, got None"),
        ({"url": "gopher://host/f"}, "unsupported URL scheme 'gopher'"),
        ({"retries": -1}, "retries must be >= 0"),
        ({"backoff": -1.0}, "backoff must be >= 0"),
    ],
)
def test_fetch_rejects_bad_arguments(tmp_path, kwargs, message):
    args = {"url": "http://127.0.0.1/f", "dest": tmp_path / "f", "md5": "0" * 32} | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        fetch(**args)


# --- safe_extract ----------------------------------------------------------------------------


@pytest.fixture(params=["data filter", "checks alone"])
def tar_filter(request, monkeypatch):
    """Each safe_extract test twice: with tarfile's data filter, and as on a Python before 3.11.4
    (Debian 12's 3.11.2), which has none, so the member checks alone must refuse every case."""
    if request.param == "checks alone":
        monkeypatch.setattr(download, "_DATA_FILTER", {})
        monkeypatch.setattr(download, "_FILTER_ERRORS", ())
    return request.param


def test_safe_extract_extracts_exact_content(tar_filter, tmp_path):
    archive = write_tar(tmp_path / "ok.tar.gz", {"top/a.txt": b"alpha", "top/sub/b.bin": PAYLOAD})
    dest = tmp_path / "out"
    (dest / "old").mkdir(parents=True)  # an earlier extraction is replaced, not merged
    assert safe_extract(archive, dest) == dest
    assert _listing(dest) == ["top", "top/a.txt", "top/sub", "top/sub/b.bin"]
    assert (dest / "top" / "a.txt").read_bytes() == b"alpha"
    assert (dest / "top" / "sub" / "b.bin").read_bytes() == PAYLOAD
    assert _listing(tmp_path) == sorted(["ok.tar.gz", "out"] + [f"out/{p}" for p in _listing(dest)])


def test_safe_extract_keeps_an_internal_symlink(tar_filter, tmp_path):
    archive = write_link_tar(tmp_path / "l.tar", "sub/link", "../ok.txt")
    dest = safe_extract(archive, tmp_path / "out")
    assert (dest / "sub" / "link").read_bytes() == b"ok"


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.txt", "'..' in path"),
        ("top/../../evil.txt", "'..' in path"),
        ("/tmp/camrobust-evil.txt", "absolute path"),
        ("C:/evil.txt", "absolute path"),
    ],
)
def test_safe_extract_refuses_traversal(tar_filter, tmp_path, member, reason):
    archive = write_tar(tmp_path / "evil.tar.gz", {"good.txt": b"good", member: b"evil"})
    dest = tmp_path / "deep" / "out"
    with pytest.raises(DownloadError) as info:
        safe_extract(archive, dest)
    message = str(info.value)
    assert f"unsafe member {member!r} in evil.tar.gz" in message and reason in message
    assert _listing(tmp_path) == ["deep", "evil.tar.gz"]  # nothing extracted, no temp folder
    assert not Path("/tmp/camrobust-evil.txt").exists()


@pytest.mark.parametrize(
    ("name", "target", "hard", "reason"),
    [
        ("link", "../outside", False, "link escaping"),
        ("a/b/link", "../../../outside", False, "link escaping"),
        ("link", "/etc/passwd", False, "link to absolute path"),
        ("link", "../outside", True, "link escaping"),
    ],
)
def test_safe_extract_refuses_escaping_links(tar_filter, tmp_path, name, target, hard, reason):
    archive = write_link_tar(tmp_path / "links.tar", name, target, hard=hard)
    dest = tmp_path / "out"
    with pytest.raises(DownloadError, match=re.escape(f"{name!r} in links.tar") + ".*" + reason):
        safe_extract(archive, dest)
    assert _listing(tmp_path) == ["links.tar"]


def test_safe_extract_failure_leaves_existing_dest_untouched(tar_filter, tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_text("previous")
    archive = write_tar(tmp_path / "evil.tar", {"../evil": b"x"}, mode="w")
    with pytest.raises(DownloadError):
        safe_extract(archive, dest)
    assert _listing(dest) == ["keep.txt"]
    assert _listing(tmp_path) == ["evil.tar", "out", "out/keep.txt"]


def test_safe_extract_rejects_special_files(tar_filter, tmp_path):
    path = tmp_path / "dev.tar"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("fifo")
        info.type = tarfile.FIFOTYPE
        archive.addfile(info)
    with pytest.raises(DownloadError, match="'fifo' in dev.tar: special file"):
        safe_extract(path, tmp_path / "out")


def test_safe_extract_rejects_a_non_archive(tar_filter, tmp_path):
    path = tmp_path / "notatar.tar.gz"
    path.write_bytes(b"this is not a tar archive" * 40)
    with pytest.raises(DownloadError, match=re.escape(f"cannot extract {path}")):
        safe_extract(path, tmp_path / "out")
    assert _listing(tmp_path) == ["notatar.tar.gz"]


# --- CIFAR-10 --------------------------------------------------------------------------------


def test_official_constants_match_torchvision():
    tv = torchvision.datasets.CIFAR10
    assert (CIFAR10["url"], CIFAR10["filename"], CIFAR10["md5"]) == (
        tv.url,
        tv.filename,
        tv.tgz_md5,
    )
    for split in ("train", "test"):
        url, filename, md5 = torchvision.datasets.SVHN.split_list[split]
        assert (SVHN["url"] + SVHN["files"][split], SVHN["md5"][split]) == (url, md5)
        assert filename == SVHN["files"][split]


def _cifar_splits(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        "train": (random_images(rng, 12), rng.integers(0, 10, 12).astype(np.int64)),
        "test": (random_images(rng, 3), rng.integers(0, 10, 3).astype(np.int64)),
    }


def test_read_batch_channel_order(tmp_path):
    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    images[1, 4, 7] = (11, 22, 33)
    path = tmp_path / "batch"
    path.write_bytes(cifar_batch_bytes(images, np.array([3, 9])))
    got, labels = read_batch(path)
    assert got.shape == (2, 32, 32, 3) and got.dtype == np.uint8
    assert labels.dtype == np.int64 and labels.tolist() == [3, 9]
    # Row layout of the format: value of channel c at (h, w) sits at c*1024 + h*32 + w.
    raw = pickle.loads(path.read_bytes(), encoding="bytes")[b"data"]
    assert raw[1, 0 * 1024 + 4 * 32 + 7] == 11 and raw[1, 2 * 1024 + 4 * 32 + 7] == 33
    assert tuple(got[1, 4, 7]) == (11, 22, 33)
    assert int(got.sum()) == 66


def test_prepare_cifar10_from_a_mirror(server, tmp_path):
    splits = _cifar_splits()
    archive = write_cifar_archive(tmp_path / "served.tar.gz", splits)
    server.routes["/mirror/cifar-10-python.tar.gz"] = archive.read_bytes()
    raw = tmp_path / "raw"
    url = server.url("/mirror/cifar-10-python.tar.gz")

    got = prepare_cifar10(raw, url=url, md5=md5sum(archive), backoff=0)
    assert set(got) == {"train", "test"}
    for split in ("train", "test"):
        images, labels = got[split]
        assert images.shape == (len(splits[split][1]), 32, 32, 3) and images.dtype == np.uint8
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(images, splits[split][0])
        np.testing.assert_array_equal(labels, splits[split][1])
    assert _listing(raw) == ["cifar-10-python.tar.gz"]  # extraction was temporary

    again = prepare_cifar10(raw, url=url, md5=md5sum(archive), backoff=0)
    assert server.hits["/mirror/cifar-10-python.tar.gz"] == 1
    np.testing.assert_array_equal(again["train"][0], splits["train"][0])


def test_prepare_cifar10_checks_the_official_md5_by_default(server, tmp_path):
    archive = write_cifar_archive(tmp_path / "served.tar.gz", _cifar_splits())
    server.routes["/c.tar.gz"] = archive.read_bytes()
    raw = tmp_path / "raw"
    with pytest.raises(
        DownloadError, match=f"checksum mismatch for cifar-10-python.tar.gz.*{CIFAR10['md5']}"
    ):
        prepare_cifar10(raw, url=server.url("/c.tar.gz"), backoff=0)
    assert _listing(raw) == []


def test_prepare_cifar10_http_error(server, tmp_path, sleeps):
    server.routes["/c.tar.gz"] = 500
    url = server.url("/c.tar.gz")
    with pytest.raises(DownloadError, match=re.escape(url) + ".*3 attempts: HTTP 500"):
        prepare_cifar10(tmp_path / "raw", url=url, md5="0" * 32, retries=2, backoff=0)
    assert server.hits["/c.tar.gz"] == 3
    assert _listing(tmp_path / "raw") == []


def test_prepare_cifar10_refuses_traversal_in_the_archive(server, tmp_path):
    data = write_tar(tmp_path / "evil.tar.gz", {"../../evil": b"x"}).read_bytes()
    server.routes["/c.tar.gz"] = data
    raw = tmp_path / "raw"
    with pytest.raises(DownloadError, match="unsafe member '../../evil' in cifar-10-python.tar.gz"):
        prepare_cifar10(raw, url=server.url("/c.tar.gz"), md5=_md5(data), backoff=0)
    assert _listing(raw) == ["cifar-10-python.tar.gz"]  # the verified archive, nothing extracted
    assert not (tmp_path / "evil").exists()


def test_prepare_cifar10_missing_batch(server, tmp_path):
    archive = write_cifar_archive(tmp_path / "a.tar.gz", _cifar_splits(), skip=("data_batch_4",))
    server.routes["/c.tar.gz"] = archive.read_bytes()
    with pytest.raises(DownloadError, match="lacks cifar-10-batches-py/data_batch_4"):
        prepare_cifar10(tmp_path / "raw", url=server.url("/c.tar.gz"), md5=md5sum(archive))


class _Sneaky:
    def __reduce__(self):
        return (os.getcwd, ())


def test_read_batch_refuses_foreign_globals(tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": _Sneaky(), b"labels": []}, protocol=2))
    with pytest.raises(DownloadError, match="cannot read CIFAR batch batch: global .*getcwd"):
        read_batch(path)


def test_read_batch_rejects_wrong_shapes(tmp_path):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DownloadError, match=r"batch: data is uint8 \(2, 100\)"):
        read_batch(path)
    path.write_bytes(cifar_batch_bytes(np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 10])))
    with pytest.raises(DownloadError, match="labels outside 0..9"):
        read_batch(path)


# --- SVHN ------------------------------------------------------------------------------------


def _svhn_splits(seed: int = 1):
    rng = np.random.default_rng(seed)
    train_digits = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0])
    test_digits = np.array([0, 7, 0])
    return {
        "train": (random_images(rng, len(train_digits)), train_digits),
        "test": (random_images(rng, len(test_digits)), test_digits),
    }


def _serve_svhn(server, tmp_path, splits, prefix="/svhn/"):
    md5 = {}
    for split, (images, digits) in splits.items():
        path = write_svhn_mat(tmp_path / f"{split}_32x32.mat", images, digits)
        server.routes[f"{prefix}{split}_32x32.mat"] = path.read_bytes()
        md5[split] = md5sum(path)
    return md5


def test_svhn_fixture_is_in_the_real_layout(tmp_path):
    images, digits = _svhn_splits()["test"]
    mat = scipy.io.loadmat(write_svhn_mat(tmp_path / "t.mat", images, digits))
    assert mat["X"].shape == (32, 32, 3, 3) and mat["y"].shape == (3, 1)
    assert mat["y"].ravel().tolist() == [10, 7, 10]
    assert mat["X"][5, 6, 2, 1] == images[1, 5, 6, 2]


@pytest.mark.parametrize("base", ["/svhn/", "/svhn"])
def test_prepare_svhn_from_a_mirror(server, tmp_path, base):
    splits = _svhn_splits()
    md5 = _serve_svhn(server, tmp_path, splits)
    raw = tmp_path / "raw"
    got = prepare_svhn(raw, url=server.url(base), md5=md5, backoff=0)
    for split in ("train", "test"):
        images, labels = got[split]
        assert images.shape == (len(splits[split][1]), 32, 32, 3) and images.dtype == np.uint8
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(images, splits[split][0])
        np.testing.assert_array_equal(labels, splits[split][1])  # stored 10 read back as 0
    assert got["test"][1].tolist() == [0, 7, 0]
    assert _listing(raw) == ["test_32x32.mat", "train_32x32.mat"]

    prepare_svhn(raw, url=server.url(base), md5=md5, backoff=0)
    assert server.hits["/svhn/train_32x32.mat"] == 1
    assert server.hits["/svhn/test_32x32.mat"] == 1


def test_prepare_svhn_checks_official_md5s_by_default(server, tmp_path):
    _serve_svhn(server, tmp_path, _svhn_splits())
    with pytest.raises(
        DownloadError, match="checksum mismatch for train_32x32.mat.*" + SVHN["md5"]["train"]
    ):
        prepare_svhn(tmp_path / "raw", url=server.url("/svhn/"), backoff=0)
    assert _listing(tmp_path / "raw") == []


def test_prepare_svhn_404_on_test_file(server, tmp_path):
    md5 = _serve_svhn(server, tmp_path, _svhn_splits())
    del server.routes["/svhn/test_32x32.mat"]
    url = server.url("/svhn/test_32x32.mat")
    with pytest.raises(DownloadError, match=re.escape(url) + ".*HTTP 404"):
        prepare_svhn(tmp_path / "raw", url=server.url("/svhn"), md5=md5, backoff=0)
    assert server.hits["/svhn/test_32x32.mat"] == 1
    assert _listing(tmp_path / "raw") == ["train_32x32.mat"]  # verified, reused next time


def test_prepare_svhn_rejects_unknown_md5_keys(tmp_path):
    with pytest.raises(ValueError, match=r"md5 keys must be among \['test', 'train'\]"):
        prepare_svhn(tmp_path, url="http://127.0.0.1/", md5={"extra": "0" * 32})


def test_svhn_read_mat_rejects_bad_content(tmp_path):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [11]])})
    with pytest.raises(DownloadError, match="bad.mat: labels outside 1..10"):
        svhn.read_mat(path)
    scipy.io.savemat(path, {"X": np.zeros((28, 28, 2), np.uint8), "y": np.array([[1], [2]])})
    with pytest.raises(DownloadError, match=r"bad.mat: X is uint8 \(28, 28, 2\)"):
        svhn.read_mat(path)
    path.write_bytes(b"garbage")
    with pytest.raises(DownloadError, match="cannot read SVHN file bad.mat"):
        svhn.read_mat(path)
