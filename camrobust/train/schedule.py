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

# The keys of the config's training section that the schedule reads (n_labeled None: all
# labels). Values and defaults come validated from the config (config/schema.yaml; official
# values: docs/training.md).
SCHEDULE_KEYS: tuple[str, ...] = (
    "epochs",
    "iters_per_epoch",
    "batch_labeled",
    "batch_unlabeled",
    "lr",
    "epoch_decay_start",
    "n_labeled",
)


def schedule_params(given: dict[str, Any]) -> dict[str, Any]:
    """`given` as the schedule, which must hold exactly SCHEDULE_KEYS (validated by the config)."""
    unknown = sorted(set(given) - set(SCHEDULE_KEYS))
    if unknown:
        raise ValueError(f"schedule: unknown keys {unknown}; allowed: {list(SCHEDULE_KEYS)}")
    missing = [k for k in SCHEDULE_KEYS if k not in given]
    if missing:
        raise ValueError(f"schedule: missing keys {missing}")
    return dict(given)


def lr_and_beta1(epoch: int, epochs: int, lr: float, epoch_decay_start: int) -> tuple[float, float]:
    """Learning rate and Adam beta1 for 0-based `epoch`."""
    if epoch < epoch_decay_start:
        return float(lr), BETA1
    return float(lr) * (epochs - epoch) / float(epochs - epoch_decay_start), BETA1_DECAY
