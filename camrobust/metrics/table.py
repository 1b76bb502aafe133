"""The per-image table: one row per image × CAM method × noise level (docs/metric.md)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from camrobust.columns import KEY_COLUMNS, PER_IMAGE_COLUMNS
from camrobust.device import resolve_device
from camrobust.metrics.masks import mask_energy, pointing_hit
from camrobust.metrics.measures import MEASURES, REGION_MEASURES, similarity, validate_measures
from camrobust.metrics.rbo import Regions

log = logging.getLogger(__name__)

# `nonfinite`: the pair's clean or noisy map could not be computed (the CAM engine's flag, see
# camrobust/cam/engine.py): it is all zero, so the pair is also `degenerate`.
ROW_COLUMNS: tuple[str, ...] = (*PER_IMAGE_COLUMNS, "degenerate", "nonfinite")
MASK_COLUMNS: tuple[str, ...] = (
    "mask_energy_clean",
    "mask_energy_noisy",
    "pointing_clean",
    "pointing_noisy",
)


def _check_keys(keys: Mapping[str, str]) -> dict[str, str]:
    missing = [k for k in KEY_COLUMNS if k not in keys]
    extra = [k for k in keys if k not in KEY_COLUMNS]
    if missing or extra:
        raise ValueError(
            f"keys: need exactly {list(KEY_COLUMNS)}; missing {missing}, unexpected {extra}"
        )
    return {k: str(keys[k]) for k in KEY_COLUMNS}


def _check_set(name: str, entry: Any, n: int | None, methods: set[str] | None) -> int:
    """Validate one set's {"maps", "preds"}; return its number of images."""
    if not isinstance(entry, Mapping) or "maps" not in entry or "preds" not in entry:
        raise ValueError(f"{name}: needs a dict with 'maps' and 'preds'")
    maps, preds = entry["maps"], np.asarray(entry["preds"])
    if not isinstance(maps, Mapping) or not maps:
        raise ValueError(f"{name}: 'maps' must be a non-empty dict of method -> N×h×w array")
    if preds.ndim != 1 or not np.issubdtype(preds.dtype, np.integer):
        raise ValueError(
            f"{name}: 'preds' must be a 1-D integer array, got {preds.dtype} "
            f"with shape {preds.shape}"
        )
    count = preds.shape[0] if n is None else n
    if preds.shape[0] != count:
        raise ValueError(
            f"{name}: {preds.shape[0]} predictions but the clean set has {count} images"
        )
    if methods is not None and set(maps) != methods:
        raise ValueError(
            f"{name}: CAM methods differ from the clean set: missing "
            f"{sorted(methods - set(maps))}, extra {sorted(set(maps) - methods)}"
        )
    for method, own in entry.get("method_preds", {}).items():
        if method not in maps or np.shape(own) != (count,):
            raise ValueError(f"{name}: predictions of '{method}' need one per image of its maps")
    for method, m in maps.items():
        shape = np.shape(m)
        if len(shape) != 3 or shape[0] != count:
            raise ValueError(
                f"{name}: maps of '{method}' have shape {shape}, expected ({count}, h, w) "
                f"for the clean set's {count} images"
            )
        if shape[1] == 0 or shape[2] == 0:
            raise ValueError(f"{name}: maps of '{method}' are empty")
    return count


def _flags(entry: Mapping[str, Any], method: str, n: int) -> np.ndarray:
    """Which maps of a set's `method` could not be computed: the engine's flags, or NaN/inf."""
    flags = (entry.get("nonfinite") or {}).get(method)
    flags = np.zeros(n, bool) if flags is None else np.asarray(flags, dtype=bool).reshape(n)
    finite = np.isfinite(np.asarray(entry["maps"][method])).reshape(n, -1).all(axis=1)
    return flags | ~finite


def _normalise(
    maps: np.ndarray, nonfinite: np.ndarray, size: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """ReLU, bilinear resize and per-map min-max (the CAM engine's own post-processing); maps
    that could not be computed are zero, as the engine returns them."""
    # Imported here: the CAM package loads its whole engine, which only this step needs.
    from camrobust.cam import normalize_maps

    maps = np.where(nonfinite[:, None, None], 0.0, np.asarray(maps, dtype=np.float32))
    raw = torch.as_tensor(maps.astype(np.float32), device=device)
    # Rounding may land a hair outside [0, 1]; NaN would survive the clamp and be refused later.
    return normalize_maps(raw, size=size).to(torch.float32).clamp(0.0, 1.0)


def _check_regions(regions: Regions | None, names: tuple[str, ...], n: int, pixels: int) -> None:
    """The region measures need the images' regions, one label image per image and pixel."""
    needs = [name for name in names if name in REGION_MEASURES]
    if needs and regions is None:
        raise ValueError(f"measure '{needs[0]}' needs the images' segments (regions)")
    if regions is not None and (len(regions) != n or regions.labels.shape[1] != pixels):
        raise ValueError(
            f"segments: {len(regions)} label images of {regions.labels.shape[1]} pixels do not "
            f"match the {n} images of {pixels} pixels"
        )


def _scores(
    a: torch.Tensor,
    b: torch.Tensor,
    names: tuple[str, ...],
    batch_size: int,
    regions: Regions | None,
) -> dict[str, np.ndarray]:
    """Every measure's similarity of each pair of normalised maps, `batch_size` pairs at once."""
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for start in range(0, a.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        batch = None if regions is None else regions[rows]
        part = similarity(a[rows], b[rows], names, regions=batch)
        for name in names:
            parts[name].append(part[name])
    return {name: torch.cat(parts[name]).cpu().numpy().astype(np.float64) for name in names}


def _feature_shift(values: Any, n: int, level: str) -> np.ndarray:
    """A noisy set's per-image shift of the CAM layer's activations (camrobust.cam.features)."""
    shift = np.asarray(values, dtype=np.float64)
    if shift.shape != (n,):
        raise ValueError(f"level '{level}': feature_shift has shape {shift.shape}, expected ({n},)")
    return shift


def _check_size(image_size: tuple[int, int], batch_size: int) -> tuple[int, int]:
    """(height, width) of the images; both and `batch_size` must be positive."""
    height, width = (int(v) for v in image_size)
    if height < 1 or width < 1:
        raise ValueError(f"image_size must be two positive ints, got {image_size}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return height, width


def _check_sets(
    clean: Mapping[str, Any],
    noisy: Mapping[str, Mapping[str, Any]],
    labels: np.ndarray,
    masks: np.ndarray | None,
    size: tuple[int, int],
) -> tuple[int, list[str], np.ndarray]:
    """The number of images, the sorted CAM methods and the labels, all sets checked."""
    n = _check_set("clean set", clean, None, None)
    methods = sorted(clean["maps"])
    if not noisy:
        raise ValueError("noisy: no levels given")
    for level, entry in noisy.items():
        _check_set(f"level '{level}'", entry, n, set(methods))
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels: expected {n} integers, got {labels.dtype} {labels.shape}")
    if masks is not None and np.shape(masks) != (n, *size):
        raise ValueError(
            f"masks: shape {np.shape(masks)} does not match ({n}, {size[0]}, {size[1]}) "
            "(images × image_size)"
        )
    return n, methods, labels


@dataclass(frozen=True)
class _CleanSide:
    """What every (level, method) frame of one table shares: the keys, the measures, the clean
    set's labels, predictions, normalised maps and flags, and the options."""

    keys: dict[str, str]
    names: tuple[str, ...]
    labels: np.ndarray
    preds: np.ndarray
    maps: dict[str, torch.Tensor]
    nonfinite: dict[str, np.ndarray]
    size: tuple[int, int]
    device: torch.device
    batch_size: int
    regions: Regions | None
    masks: torch.Tensor | None


def _extra_columns(
    clean: _CleanSide, entry: Mapping[str, Any], level: str, a: torch.Tensor, b: torch.Tensor
) -> dict[str, Any]:
    """The optional columns: region counts, the feature shift, and the mask measures of the
    clean (`a`) and noisy (`b`) normalised maps."""
    columns: dict[str, Any] = {}
    if clean.regions is not None:
        columns["n_regions"] = clean.regions.counts.cpu().numpy().astype(np.int64)
    if "feature_shift" in entry:
        columns["feature_shift"] = _feature_shift(entry["feature_shift"], len(clean.labels), level)
    if clean.masks is not None:
        columns["mask_energy_clean"] = mask_energy(a, clean.masks).cpu().numpy()
        columns["mask_energy_noisy"] = mask_energy(b, clean.masks).cpu().numpy()
        columns["pointing_clean"] = pointing_hit(a, clean.masks).cpu().numpy()
        columns["pointing_noisy"] = pointing_hit(b, clean.masks).cpu().numpy()
    return columns


def _log_pairs(level: str, method: str, degenerate: torch.Tensor, nonfinite: np.ndarray) -> None:
    """Say how many pairs of one (level, method) are degenerate or hold an uncomputed map."""
    n_deg = int(degenerate.sum())
    if n_deg:
        log.info("level %s, %s: %d of %d pairs degenerate", level, method, n_deg, len(nonfinite))
    if nonfinite.any():
        log.warning(
            "level %s, %s: %d pairs hold a map the engine could not compute (NaN/inf, "
            "stored as zero): counted as degenerate and nonfinite",
            level,
            method,
            int(nonfinite.sum()),
        )


def _pair_frame(
    clean: _CleanSide, level: str, entry: Mapping[str, Any], method: str
) -> pd.DataFrame:
    """The rows of one (level, method): each image's clean map against its noisy one."""
    n = len(clean.labels)
    own = entry.get("method_preds", {})
    noisy_preds = np.asarray(own.get(method, entry["preds"]), dtype=np.int64)
    a = clean.maps[method]
    noisy_bad = _flags(entry, method, n)
    b = _normalise(entry["maps"][method], noisy_bad, clean.size, clean.device)
    flat_a, flat_b = a.reshape(n, -1), b.reshape(n, -1)
    degenerate = (flat_a.amax(dim=1) <= 0) | (flat_b.amax(dim=1) <= 0)
    nonfinite = clean.nonfinite[method] | noisy_bad
    columns: dict[str, Any] = {k: clean.keys[k] for k in KEY_COLUMNS}
    columns.update(
        level=level,
        method=method,
        image=np.arange(n, dtype=np.int64),
        label=clean.labels.astype(np.int64),
        pred_clean=clean.preds,
        pred_noisy=noisy_preds,
        kept=clean.preds == noisy_preds,
        degenerate=degenerate.cpu().numpy(),
        nonfinite=nonfinite,
    )
    columns.update(_scores(a, b, clean.names, clean.batch_size, clean.regions))
    columns.update(_extra_columns(clean, entry, level, a, b))
    _log_pairs(level, method, degenerate, nonfinite)
    return pd.DataFrame(columns)


def per_image_table(
    clean: Mapping[str, Any],
    noisy: Mapping[str, Mapping[str, Any]],
    labels: np.ndarray,
    masks: np.ndarray | None,
    image_size: tuple[int, int],
    measures: Iterable[str] = MEASURES,
    keys: Mapping[str, str] | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 1024,
    progress: bool | None = None,
    regions: Regions | None = None,
) -> pd.DataFrame:
    """Per-image similarities between clean and noisy CAMs for every method and level.

    `clean` and each `noisy[level]` are ``{"maps": {method: N×h×w}, "preds": N}``, optionally
    with the CAM engine's ``"nonfinite": {method: bool N}``; a noisy set whose methods explain
    image sets of their own (the explanation attack) also has ``"method_preds": {method: N}``,
    each method's own predictions. A pair is ``kept`` when the predictions agree,
    ``degenerate`` when either normalised map is constant (all zero), ``nonfinite`` when either
    map could not be computed (then zero, so also degenerate). With `masks` (N×H×W, nonzero =
    object), adds the energy share inside the mask and the pointing-game hit for the clean and
    the noisy map. The region measures (rbo) read `regions`, the images' segments
    (`make_regions`), and add `n_regions`, each image's count. A level whose entry has a
    "feature_shift" (N) adds it as a column (the CAM layer's relative activation shift).
    """
    names = validate_measures(measures)
    key_values = _check_keys(keys or {})
    size = _check_size(image_size, batch_size)
    n, methods, labels = _check_sets(clean, noisy, labels, masks, size)
    _check_regions(regions, names, n, size[0] * size[1])
    dev = resolve_device(device)
    clean_bad = {m: _flags(clean, m, n) for m in methods}
    side = _CleanSide(
        keys=key_values,
        names=names,
        labels=labels,
        preds=np.asarray(clean["preds"], dtype=np.int64),
        maps={m: _normalise(clean["maps"][m], clean_bad[m], size, dev) for m in methods},
        nonfinite=clean_bad,
        size=size,
        device=dev,
        batch_size=batch_size,
        regions=None if regions is None else regions.to(dev),
        masks=None if masks is None else torch.as_tensor(np.asarray(masks) != 0, device=dev),
    )
    jobs = [(str(level), m) for level in noisy for m in methods]
    levels = {str(level): entry for level, entry in noisy.items()}
    frames = [
        _pair_frame(side, level, levels[level], method)
        for level, method in tqdm(
            jobs, desc="metrics", disable=None if progress is None else not progress
        )
    ]
    table = pd.concat(frames, ignore_index=True)
    for col in (*KEY_COLUMNS, "level", "method"):
        table[col] = table[col].astype(str)
    return table
