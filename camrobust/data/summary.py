"""What a dataset preparation wrote, for its log: shared by the in-memory and the streamed
preparations (camrobust/data/prepare.py, camrobust/data/streaming.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DatasetSummary:
    """What a prepared dataset holds: images per split, classes, and the files left out."""

    dataset: str
    counts: dict[str, int]  # train, test, eval
    n_classes: int
    unreadable: list[str] | None = None  # skipped files (None: skipping was not allowed)
    evaluate_only: bool = False  # no train images; the test file holds the evaluation subset
    preprocess: str | None = None  # how an image folder's images were cut from their files

    def lines(self, shown: int = 10) -> list[str]:
        """The log lines: the counts, then (if any) the unreadable files, the first `shown`."""
        counts = ", ".join(f"{self.counts[s]} {s}" for s in ("train", "test", "eval"))
        line = f"{self.dataset}: {counts} images of {self.n_classes} classes"
        if self.evaluate_only:
            line += " (evaluate only: the train split is not decoded, the test file holds the "
            line += "evaluation images alone)"
        if self.preprocess is not None:
            line += f"; images prepared by {self.preprocess}"
        if self.unreadable is not None:
            line += f"; {len(self.unreadable)} unreadable files skipped"
        lines = [line]
        if self.unreadable:
            more = len(self.unreadable) - shown
            listed = ", ".join(self.unreadable[:shown]) + (f" and {more} more" if more > 0 else "")
            lines.append(f"{self.dataset}: skipped unreadable files: {listed}")
        return lines
