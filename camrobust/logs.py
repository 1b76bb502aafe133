"""Logging set-up for workflow scripts: to the rule's log file and stderr, with one-line errors."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

# Errors that describe bad input, not bugs: shown as one line, without a traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, OSError)


@contextlib.contextmanager
def script_logging(
    log_path: str | None,
    threads: int | None = None,
    expected: tuple[type[BaseException], ...] = (),
) -> Iterator[logging.Logger]:
    """Log to `log_path` and stderr; turn expected errors into one line and exit status 1."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    if threads:
        torch.set_num_threads(threads)
    log = logging.getLogger("camrobust")
    try:
        yield log
    except (*EXPECTED_ERRORS, *expected) as err:
        log.error("%s: %s", type(err).__name__, err)
        sys.exit(1)


def fail_on_first_attempt(enabled: bool, marker: str | os.PathLike) -> None:
    """Testing switch (config `fail_first_attempt`): the first attempt leaves `marker` and fails,
    a retry finds it and goes on, so retries can be tested with any executor."""
    if not enabled or os.path.exists(marker):
        return
    Path(marker).parent.mkdir(parents=True, exist_ok=True)
    Path(marker).touch()
    raise RuntimeError(
        f"failing the first attempt on purpose (config fail_first_attempt): {marker}"
    )
