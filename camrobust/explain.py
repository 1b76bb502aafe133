"""One image, one command: every CAM method's map of an image, clean and under each noise, with
the similarity of each method's pair on each measure (`camrobust explain`, camrobust/cli.py).

Every step is the workflow's own: the image is prepared as `prepare_data` prepares an image
folder's (the model's published evaluation transform, `load_image`), the model is built as
`import_model` builds a `models` entry (`build_model`, `checkpoint_outputs`), the noise is
`corrupt` or `attack` as the noise jobs call them, the maps come from `compute_cams` and the
similarities from `per_image_table`, the metrics job's table, over every registered measure.
The picture is the report's CAM grid (`build_cam_grid`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from camrobust.class_map import IMAGENET_OUTPUTS, imagenet_classes
from camrobust.config import schema_default, schema_defaults, severity_table
from camrobust.data.imagefolder import EvalTransform, load_image
from camrobust.metrics.table import KEY_COLUMNS, per_image_table

CLEAN_VIEW = "clean"
_DEFAULT_OUTPUTS = {"torchvision": IMAGENET_OUTPUTS, "timm": IMAGENET_OUTPUTS, "camrobust": 10}
_DEFAULT_SIZE = {"torchvision": 224, "timm": 224, "camrobust": 32}


@dataclass
class Explanation:
    """An image's views (clean, then each noise), predictions, normalised maps and similarities."""

    image: str
    views: list[str]
    pixels: np.ndarray  # uint8 (1 + L)×H×W×3
    preds: np.ndarray  # (1 + L,) predicted output
    probs: np.ndarray  # (1 + L,) its softmax probability
    output_names: list[str]
    maps: dict[str, np.ndarray]  # method -> (1 + L)×H×W in [0, 1]
    measures: list[str]
    table: (
        pd.DataFrame | None
    )  # per_image_table's rows: a row per noise and method (no noise: None)


@dataclass
class ExplainedModel:
    """A classifier as `camrobust explain` builds it, with how its images are prepared."""

    model: torch.nn.Module
    label: str  # source:name, and its weights
    size: int
    transform: EvalTransform | None
    output_names: list[str]


def parse_model(text: str) -> tuple[str, str]:
    """'torchvision:resnet50' -> ('torchvision', 'resnet50'); ValueError otherwise."""
    source, _, name = text.partition(":")
    if not name or source not in _DEFAULT_OUTPUTS:
        raise ValueError(
            f"--model {text!r}: give SOURCE:NAME, SOURCE one of torchvision, timm, camrobust"
        )
    return source, name


def parse_noise(text: str) -> tuple[str, int]:
    """'motion_blur:3' -> ('motion_blur', 3); a corruption at severity 1-5 or an attack at an
    L-inf budget in 1/255; ValueError naming the known families otherwise."""
    from camrobust.noise import ATTACKS, CORRUPTIONS

    family, _, level = text.partition(":")
    if family not in (*CORRUPTIONS, *ATTACKS):
        known = ", ".join((*CORRUPTIONS, *ATTACKS))
        raise ValueError(f"--noise {text!r}: unknown family {family!r}; known: {known}")
    top = 5 if family in CORRUPTIONS else 64
    if not level.isdigit() or not 1 <= int(level) <= top:
        what = "a severity 1-5" if family in CORRUPTIONS else "a budget 1-64 (units of 1/255)"
        raise ValueError(f"--noise {text!r}: give FAMILY:LEVEL with {what}")
    return family, int(level)


def build_explained(
    model: str,
    checkpoint: str | None,
    size: int | None,
    square: bool,
    device: torch.device,
    seed: int,
) -> ExplainedModel:
    """The classifier of `model` (SOURCE:NAME) with the checkpoint's outputs (without one,
    random weights drawn from `seed` and the architecture's usual head), and the preparation of
    its images."""
    from camrobust.models.published import published_transform
    from camrobust.models.sources import build_model, checkpoint_outputs

    source, name = parse_model(model)
    entry = {"source": source, "name": name, "checkpoint": checkpoint, "kwargs": {}}
    published = published_transform(source, name)
    size = size or (published.crop if published else _DEFAULT_SIZE[source])
    entry["input_size"] = size
    outputs = checkpoint_outputs(entry) if checkpoint else _DEFAULT_OUTPUTS[source]
    with torch.random.fork_rng(devices=[]):  # the global generator is left as it was
        torch.manual_seed(seed)
        net = build_model(source, name, outputs, checkpoint, input_size=size)
    if outputs == IMAGENET_OUTPUTS:
        names = [c.name for c in imagenet_classes()]
    else:
        names = [f"class {i}" for i in range(outputs)]
    transform = None if square or published is None else published.at(size)
    weights = f"checkpoint {Path(checkpoint).name}" if checkpoint else "random weights"
    return ExplainedModel(net.to(device).eval(), f"{model} ({weights})", size, transform, names)


def _noisy(
    clean: np.ndarray, noise: tuple[str, int], explained: ExplainedModel, seed: int, device: Any
) -> np.ndarray:
    """The image under one noise, as the workflow's noisy_set or adversarial_set job makes it."""
    from camrobust.noise import ATTACKS, AttackSettings, attack, corrupt

    family, level = noise
    parts = (seed, "explain", family, str(level))
    if family in ATTACKS:
        options = {k: v for k, v in schema_defaults(family).items() if k != "eps"}
        settings = AttackSettings(family, level, options, batch_size=1, device=device, seed=parts)
        return attack(explained.model, clean, settings, progress=False)
    table = severity_table("auto", explained.size)
    return corrupt(clean, family, severity=level, table=table, seed=parts, progress=False)


def _table_inputs(pixels: np.ndarray) -> dict[str, Any]:
    """The hook for measures that read more than the two maps (the paper's RBO compares
    rankings of the clean image's Quickshift segments): what `per_image_table` needs of the
    clean image goes here; the registered measures need nothing."""
    return {}


def explain_image(
    image: str | Path,
    explained: ExplainedModel,
    *,
    methods: Sequence[str],
    noises: Sequence[tuple[str, int]],
    measures: Sequence[str],
    target_layer: str | None,
    seed: int,
) -> Explanation:
    """Every method's map of `image` clean and under each noise, and each pair's similarities."""
    from camrobust.cam import compute_cams, normalize_maps
    from camrobust.data.tensors import to_model_input

    path = Path(image)
    if not path.is_file():
        raise ValueError(f"{image}: no such image file")
    device = next(explained.model.parameters()).device
    clean = np.array(load_image(path, explained.size, explained.transform))[None]
    pixels = np.concatenate([clean, *(_noisy(clean, n, explained, seed, device) for n in noises)])
    result = compute_cams(
        explained.model, target_layer, to_model_input(pixels, device), list(methods)
    )
    probs = torch.softmax(result.logits, dim=1).gather(1, result.preds[:, None])[:, 0]
    views = [CLEAN_VIEW, *(f"{family}:{level}" for family, level in noises)]
    sets = {
        view: {
            "maps": {m: result.maps[m][i : i + 1].cpu().numpy() for m in result.maps},
            "nonfinite": {m: result.nonfinite[m][i : i + 1].cpu().numpy() for m in result.maps},
            "preds": result.preds[i : i + 1].cpu().numpy(),
        }
        for i, view in enumerate(views)
    }
    clean_set = sets.pop(CLEAN_VIEW)
    table = None
    if sets:
        table = per_image_table(
            clean_set, sets, labels=clean_set["preds"], masks=None,
            image_size=pixels.shape[1:3], measures=list(measures),
            keys=dict.fromkeys(KEY_COLUMNS, "-"), progress=False, **_table_inputs(pixels),
        )  # fmt: skip
    size = tuple(pixels.shape[1:3])
    maps = {m: normalize_maps(v.float(), size=size).cpu().numpy() for m, v in result.maps.items()}
    return Explanation(
        str(image), views, pixels, result.preds.cpu().numpy(), probs.cpu().numpy(),
        explained.output_names, maps, list(measures), table,
    )  # fmt: skip


def draw(explanation: Explanation, path: str | Path, dpi: int) -> None:
    """The report's CAM grid of the image: the views side by side, a row per method."""
    from camrobust.report.cam_grid import build_cam_grid
    from camrobust.report.png import save_png

    methods = list(explanation.maps)
    fig = build_cam_grid(
        explanation.pixels[:, None],
        np.stack([explanation.maps[m][:, None] for m in methods]),
        explanation.preds[:, None],
        explanation.output_names,
        methods,
        explanation.views[1:],
        dpi=dpi,
    )
    save_png(fig, path, dpi)


def summary_lines(explanation: Explanation, model: str) -> list[str]:
    """The prediction of every view, kept or flipped, and a row per noise, method and measure."""
    names, preds, probs = explanation.output_names, explanation.preds, explanation.probs
    lines = [f"{explanation.image}: {model} predicts {names[preds[0]]!r} (p {probs[0]:.3f})"]
    for i, view in enumerate(explanation.views[1:], start=1):
        flag = "kept" if preds[i] == preds[0] else "flipped"
        lines.append(f"  {view}: predicts {names[preds[i]]!r} (p {probs[i]:.3f}): {flag}")
    table = explanation.table
    if table is None:
        return lines
    lines.append(f"  {'noise':<20} {'method':<20} {'measure':<12} similarity  pair")
    for row in table.itertuples(index=False):
        flags = [name for name in ("degenerate", "nonfinite") if getattr(row, name)]
        note = ("kept" if row.kept else "flipped") + "".join(f", {f}" for f in flags)
        for measure in explanation.measures:
            value = getattr(row, measure)
            lines.append(f"  {row.level:<20} {row.method:<20} {measure:<12} {value:10.4f}  {note}")
    return lines


def default_methods() -> list[str]:
    """The CAM methods a run computes when its config names none (the schema's default)."""
    return list(schema_default("cam", "methods"))
