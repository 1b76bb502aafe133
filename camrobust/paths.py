"""Every file the workflow writes, named once: the rules' outputs are these functions called
with their wildcard placeholders (the defaults), and input functions call them with values.

`cams()` is the pattern "results/cams/{dataset}/{model}/{noise}/{level}.npz";
`cams("shapes", "resnet18-erm-s0", "gaussian", "3")` one file of it.
"""

from __future__ import annotations

from camrobust.data.cifar10c import CIFAR10C
from camrobust.names import CLEAN, CLEAN_LEVEL

RESULTS = "results"
RAW = "resources/raw"
STATS = f"{RESULTS}/stats"  # the tables of the statistical tests
REPORT_HTML = f"{RESULTS}/report.html"  # `snakemake --report`'s file (Makefile)


def raw_file(dataset: str = "{dataset}", filename: str = "{filename}") -> str:
    """A downloaded file of a dataset."""
    return f"{RAW}/{dataset}/{filename}"


def official_archive(dataset: str = "{dataset}") -> str:
    """The published CIFAR-10-C archive a dataset with `noise.source: official` reads."""
    return raw_file(dataset, CIFAR10C["filename"])


def data_file(split: str, dataset: str = "{dataset}") -> str:
    """A canonical split (train, test, or the evaluation subset eval)."""
    return f"{RESULTS}/data/{dataset}/{split}.npz"


def segments_file(dataset: str = "{dataset}") -> str:
    """The Quickshift regions of the evaluation images (beside eval.npz): `labels` N×H×W and
    `n_regions` N, the regions the paper's metric ranks."""
    return f"{RESULTS}/data/{dataset}/segments.npz"


def generative_file(
    dataset: str = "{dataset}", gen: str = "{gen}", seed: int | str = "{seed}"
) -> str:
    """A trained VAE or Glow, one per training seed (the LVAT models of that seed read it)."""
    return f"{RESULTS}/generative/{dataset}/{gen}-s{seed}.pt"


def model_file(name: str, dataset: str = "{dataset}", model: str = "{model}") -> str:
    """A file of a trained classifier: model.pt, metrics.json or curve.csv."""
    return f"{RESULTS}/models/{dataset}/{model}/{name}"


def noisy_set(dataset: str = "{dataset}", noise: str = "{noise}", level: str = "{level}") -> str:
    """A corrupted copy of the evaluation subset (shared by every model)."""
    return f"{RESULTS}/noisy/{dataset}/{noise}/{level}.npz"


def adversarial_set(
    dataset: str = "{dataset}",
    model: str = "{model}",
    attack: str = "{attack}",
    level: str = "{level}",
) -> str:
    """An attacked copy of the evaluation subset (per model: the attack needs the model)."""
    return f"{RESULTS}/noisy/{dataset}/{model}/{attack}/{level}.npz"


def explanation_attack_set(
    dataset: str = "{dataset}",
    model: str = "{model}",
    level: str = "{level}",
    method: str = "{method}",
) -> str:
    """One CAM method's explanation-attacked copy of the evaluation subset (per model and method:
    the attack moves that method's map), with whether each image kept its class."""
    return f"{RESULTS}/noisy/{dataset}/{model}/explanation_attack/{level}/{method}.npz"


def image_set(dataset: str, model: str, noise: str, level: str, attack: bool) -> str:
    """The image set a CAM job explains: the clean subset, a corrupted or an attacked one."""
    if noise == CLEAN:
        return data_file("eval", dataset)
    if attack:
        return adversarial_set(dataset, model, noise, level)
    return noisy_set(dataset, noise, level)


def cams(
    dataset: str = "{dataset}",
    model: str = "{model}",
    noise: str = "{noise}",
    level: str = "{level}",
) -> str:
    """Every CAM method's maps of one image set."""
    return f"{RESULTS}/cams/{dataset}/{model}/{noise}/{level}.npz"


def cam_series(dataset: str, model: str, noise: str, levels: list[str]) -> list[str]:
    """The clean CAM file followed by one per level of `noise` (what a metrics job compares)."""
    clean = cams(dataset, model, CLEAN, CLEAN_LEVEL)
    return [clean, *(cams(dataset, model, noise, level) for level in levels)]


def metrics_file(
    suffix: str, dataset: str = "{dataset}", model: str = "{model}", noise: str = "{noise}"
) -> str:
    """A metrics job's per-image table (parquet) or aggregates (robustness.csv)."""
    return f"{RESULTS}/metrics/{dataset}/{model}/{noise}.{suffix}"


def table(name: str) -> str:
    """A table of results/tables (robustness.csv, accuracy.csv, per_image.parquet, ...)."""
    return f"{RESULTS}/tables/{name}"


def stats_file(name: str) -> str:
    """One table of the statistical tests."""
    return f"{STATS}/{name}.csv"


def figure(dataset: str = "{dataset}", figure: str = "{figure}") -> str:
    """One report figure of a dataset."""
    return f"{RESULTS}/report/{dataset}/{figure}.png"


def cam_grid(dataset: str = "{dataset}", model: str = "{model}") -> str:
    """The CAM grid of one model."""
    return f"{RESULTS}/report/{dataset}/cam_grid/{model}.png"


def quality_file(dataset: str = "{dataset}", model: str = "{model}") -> str:
    """A classifier's per-image sensitivity and faithfulness table (clean images)."""
    return f"{RESULTS}/quality/{dataset}/{model}.parquet"
