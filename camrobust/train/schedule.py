"""The optimiser schedule of the official VAT/LVAT code, and the schedule config it reads.

Adam(lr, beta1=0.9) for epochs [0, epoch_decay_start); from then on the learning rate of epoch
`ep` is lr * (epochs - ep) / (epochs - epoch_decay_start), a linear decay towards 0 set once per
epoch, and beta1 becomes 0.5 (vat_tf/train_semisup.py: `mom1`, `mom2`).
"""

from __future__ import annotations

from typing import Any

BETA1 = 0.9
BETA1_DECAY = 0.5
BETA2 = 0.999

# Official values (docs/training.md); n_labeled None means supervised (all labels).
DEFAULTS: dict[str, Any] = {
    "epochs": 120,
    "iters_per_epoch": 400,
    "batch_labeled": 32,
    "batch_unlabeled": 128,
    "lr": 1e-3,
    "epoch_decay_start": 80,
    "n_labeled": None,
}


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"schedule: {name} must be an integer >= 1, got {value!r}")
    return value


def schedule_params(given: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by `given`; unknown keys and out-of-range values are errors."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"schedule: unknown keys {unknown}; allowed: {sorted(DEFAULTS)}")
    params = {**DEFAULTS, **given}
    for key in ("epochs", "iters_per_epoch", "batch_labeled", "batch_unlabeled"):
        _positive_int(key, params[key])
    if not float(params["lr"]) > 0:
        raise ValueError(f"schedule: lr must be > 0, got {params['lr']!r}")
    start = params["epoch_decay_start"]
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= params["epochs"]:
        raise ValueError(
            f"schedule: epoch_decay_start must be an integer in [0, epochs={params['epochs']}], "
            f"got {start!r}"
        )
    if params["n_labeled"] is not None:
        _positive_int("n_labeled", params["n_labeled"])
    return params


def lr_and_beta1(epoch: int, epochs: int, lr: float, epoch_decay_start: int) -> tuple[float, float]:
    """Learning rate and Adam beta1 for 0-based `epoch`."""
    if epoch < epoch_decay_start:
        return float(lr), BETA1
    return float(lr) * (epochs - epoch) / float(epochs - epoch_decay_start), BETA1_DECAY
