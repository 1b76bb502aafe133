"""Column names of the per-image table, shared by the metrics stage that writes it and the stats
stage that reads it (a module of its own so that the stats stage does not import torch)."""

from __future__ import annotations

# The level of rows pooled over every level of a stratum (robustness table, stats tables).
POOLED_LEVEL = "all"
# One regulariser comparison of the model-level tests (regularizers.csv), apart from its level.
COMPARISON_KEYS: tuple[str, ...] = (
    "dataset", "arch", "method", "noise", "measure", "group_a", "group_b"
)  # fmt: skip
# The similarity measures that read the image's regions (its Quickshift segments), and the
# paper's own measure among them: the paper's metric is RM = C x R over it (docs/metric.md).
REGION_MEASURES: tuple[str, ...] = ("rbo",)
PAPER_MEASURE = "rbo"
KEY_COLUMNS: tuple[str, ...] = ("dataset", "model", "arch", "regularizer", "seed", "noise")
# Every per-image table has these; the metrics stage adds `degenerate`, measures and mask columns.
PER_IMAGE_COLUMNS: tuple[str, ...] = (
    *KEY_COLUMNS,
    "level",
    "method",
    "image",
    "label",
    "pred_clean",
    "pred_noisy",
    "kept",
)
