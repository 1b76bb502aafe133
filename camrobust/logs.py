"""Logging set-up for workflow scripts: to the rule's log file and stderr, with one-line errors.

Imports no torch: the stats, table and figure jobs never load it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

# Errors that describe bad input, not bugs: shown as one line, without a traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, OSError)
# Testing switch for the retry tests: the rules named here (comma-separated) fail their first
# attempt. An environment variable, so that it is no config key and no job's param.
FAIL_FIRST_ENV = "CAMROBUST_FAIL_FIRST"


@contextlib.contextmanager
def script_logging(
    log_path: str | None,
    threads: int | None = None,
    expected: tuple[type[BaseException], ...] = (),
    rule: str | None = None,
) -> Iterator[logging.Logger]:
    """Log to `log_path` and stderr; turn expected errors into one line and exit status 1.

    `threads` caps torch's intra-op threads when the script uses torch (has imported it);
    `rule` is the Snakemake rule, for the failure injection of FAIL_FIRST_ENV.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    torch = sys.modules.get("torch")
    if threads and torch is not None:
        torch.set_num_threads(threads)
    log = logging.getLogger("camrobust")
    try:
        if rule and log_path:
            fail_on_first_attempt(rule, f"{log_path}.failed-once")
        yield log
    except (*EXPECTED_ERRORS, *expected) as err:
        log.error("%s: %s", type(err).__name__, err)
        sys.exit(1)


def fail_on_first_attempt(rule: str, marker: str | os.PathLike) -> None:
    """Where FAIL_FIRST_ENV names `rule`, the first attempt leaves `marker` and fails, and a
    retry finds it and goes on, so that retries can be tested with any executor."""
    if rule not in os.environ.get(FAIL_FIRST_ENV, "").split(",") or os.path.exists(marker):
        return
    Path(marker).parent.mkdir(parents=True, exist_ok=True)
    Path(marker).touch()
    raise RuntimeError(f"failing the first attempt on purpose ({FAIL_FIRST_ENV}): {marker}")
