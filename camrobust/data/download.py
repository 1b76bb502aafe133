"""Checksum-verified downloads with retries, and tar extraction that cannot escape its folder."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm.auto import tqdm

from camrobust.io import atomic_path

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SCHEMES = ("http", "https", "ftp", "file")
# Client errors that a later attempt can cure; every other 4xx is final.
_RETRYABLE_4XX = (408, 425, 429)


class DownloadError(RuntimeError):
    """A download or archive that cannot be used; the message is one line naming the file."""

    def __init__(self, message: str) -> None:
        # Server reasons and OS errors may carry newlines; the workflow log wants one line.
        super().__init__(" ".join(str(message).split()))


class _Retryable(Exception):
    """An attempt failed in a way a later attempt may not (5xx, lost connection, short read)."""


def md5sum(path: str | os.PathLike, chunk_size: int = _CHUNK) -> str:
    """The hex MD5 of a file, read in chunks so large archives need little memory."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def _check_md5_arg(md5: str) -> str:
    if not isinstance(md5, str):
        raise ValueError(f"md5 must be 32 hex digits, got {md5!r}")
    md5 = md5.strip().lower()
    if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
        raise ValueError(f"md5 must be 32 hex digits, got {md5!r}")
    return md5


def _attempt(url: str, tmp: Path, timeout: float, label: str) -> None:
    """Stream `url` into `tmp` once; raise _Retryable or DownloadError on failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with (
                open(tmp, "wb") as fh,
                tqdm(
                    total=total, unit="B", unit_scale=True, desc=label, disable=None, leave=False
                ) as bar,
            ):
                while block := response.read(_CHUNK):
                    fh.write(block)
                    received += len(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code} {err.reason}"
        if err.code >= 500 or err.code in _RETRYABLE_4XX:
            raise _Retryable(reason) from err
        raise DownloadError(f"download of {url} failed: {reason}") from err
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise _Retryable(f"connection failed ({reason})") from err
    if total is not None and received != total:
        raise _Retryable(f"incomplete transfer ({received} of {total} bytes)")


def fetch(
    url: str,
    dest: str | os.PathLike,
    md5: str,
    retries: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
) -> Path:
    """Download `url` to `dest` and verify its MD5; reuse a `dest` that already verifies.

    Server errors (5xx), lost connections and short transfers are tried again up to `retries`
    more times, waiting `backoff * 2**k` seconds before retry k; other HTTP errors (404...) and a
    checksum mismatch fail at once. The file is written under a temporary name and renamed only
    once verified, so on any DownloadError nothing is left at `dest`.
    """
    dest = Path(dest)
    md5 = _check_md5_arg(md5)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if backoff < 0:
        raise ValueError(f"backoff must be >= 0, got {backoff}")
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(f"unsupported URL scheme {scheme!r} in {url!r}; allowed: {_SCHEMES}")

    if dest.is_file():
        found = md5sum(dest)
        if found == md5:
            log.info("%s already present with the right checksum; not downloading", dest)
            return dest
        log.warning("%s has checksum %s, expected %s; downloading again", dest, found, md5)
        dest.unlink()

    attempts = retries + 1
    with atomic_path(dest) as tmp:
        for attempt in range(1, attempts + 1):
            log.info("downloading %s -> %s (attempt %d of %d)", url, dest, attempt, attempts)
            try:
                _attempt(url, tmp, timeout, dest.name)
                break
            except _Retryable as err:
                if attempt == attempts:
                    noun = "attempt" if attempts == 1 else "attempts"
                    raise DownloadError(
                        f"download of {url} failed after {attempts} {noun}: {err}"
                    ) from err
                wait = backoff * 2 ** (attempt - 1)
                log.warning("download of %s failed (%s); retrying in %.1f s", url, err, wait)
                time.sleep(wait)
        found = md5sum(tmp)
        if found != md5:
            raise DownloadError(
                f"checksum mismatch for {dest.name} from {url}: expected {md5}, got {found}"
            )
    log.info("downloaded and verified %s", dest)
    return dest


def _unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why a member could write outside the extraction folder, or None if it cannot."""
    name = member.name
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "'..' in path"
    if member.issym() or member.islnk():
        target = member.linkname.replace("\\", "/")
        if target.startswith("/") or PureWindowsPath(member.linkname).drive:
            return f"link to absolute path {member.linkname!r}"
        # Symlink targets are relative to the member's folder, hard-link targets to the root.
        base = PurePosixPath(name).parent if member.issym() else PurePosixPath()
        depth = 0
        for part in (base / target).parts:
            depth += -1 if part == ".." else (0 if part == "." else 1)
            if depth < 0:
                return f"link escaping the archive to {member.linkname!r}"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "special file (device, fifo...)"
    return None


# tarfile's extraction filters came with Python 3.11.4 (PEP 706; Debian 12 ships 3.11.2): where
# they are missing, the member checks of safe_extract are the only guard.
_DATA_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
_FILTER_ERRORS: tuple[type[Exception], ...] = (
    (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()
)


def safe_extract(tar_path: str | os.PathLike, dest_dir: str | os.PathLike) -> Path:
    """Extract a tar archive into `dest_dir`, refusing any member that could escape it.

    Every member is checked before anything is written ('..', absolute paths, links leading
    outside, device files), then extracted with tarfile's "data" filter as a second guard (where
    the Python has it) into a temporary folder that replaces `dest_dir` only on success: on
    DownloadError `dest_dir` is left as it was (absent if it was absent).
    """
    tar_path, dest_dir = Path(tar_path), Path(dest_dir)
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest_dir.parent, prefix=f".{dest_dir.name}.", suffix=".part"))
    try:
        try:
            with tarfile.open(tar_path) as archive:
                members = archive.getmembers()
                for member in members:
                    reason = _unsafe_reason(member)
                    if reason is not None:
                        raise DownloadError(
                            f"unsafe member {member.name!r} in {tar_path.name}: {reason}"
                        )
                archive.extractall(tmp, members=members, **_DATA_FILTER)
        except _FILTER_ERRORS as err:
            member = getattr(err, "tarinfo", None)
            name = member.name if member is not None else "?"
            raise DownloadError(f"unsafe member {name!r} in {tar_path.name}: {err}") from err
        except (tarfile.TarError, EOFError, OSError) as err:
            raise DownloadError(f"cannot extract {tar_path}: {err}") from err
        if dest_dir.exists():
            shutil.rmtree(dest_dir)
        os.replace(tmp, dest_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    log.info("extracted %d members of %s into %s", len(members), tar_path.name, dest_dir)
    return dest_dir
