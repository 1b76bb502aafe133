"""The CAM grid figure: a few images, clean and at each noise level, with every method's CAM.

The grid is one RGB mosaic on one axes drawn 1:1 on the canvas: a few hundred axes with two
imshows each made the figure much slower to build and save. Its pixel layout is given for
100 dpi and scaled with the resolution, so a higher `dpi` gives a larger PNG with the same look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from camrobust.seeding import numpy_rng

_BASE_DPI = 100  # the resolution the pixel sizes below are given at
_CELL_PX = 128  # aim for cells about this many pixels wide (integer upscaling of the image)
_GAP_PX = 6  # between cells of one image and between rows
_GROUP_GAP_PX = 16  # between the columns of different images
_PAD_PX = 2  # around the mosaic, so that the cell frames fit
_MARGIN_PX = (24, 36, 4, 4)  # left (row labels), top (two-line titles), right, bottom
_FRAME = 64  # grey level of the 1-pixel frame around each cell
_OVERLAY_ALPHA = 0.5


@dataclass(frozen=True)
class Layout:
    """Pixel sizes of the grid at one resolution."""

    cell: int
    gap: int
    group_gap: int
    pad: int
    margins: tuple[int, int, int, int]  # left, top, right, bottom


def layout(dpi: int) -> Layout:
    """The 100-dpi pixel sizes scaled to `dpi` (at least one pixel each)."""

    def px(value: int) -> int:
        return max(1, round(value * dpi / _BASE_DPI))

    return Layout(
        cell=px(_CELL_PX),
        gap=px(_GAP_PX),
        group_gap=px(_GROUP_GAP_PX),
        pad=px(_PAD_PX),
        margins=tuple(px(m) for m in _MARGIN_PX),
    )


def pick_images(labels: np.ndarray, n: int, *parts: object) -> np.ndarray:
    """Indices of `n` images spread over the classes, drawn reproducibly from seed `parts`.

    The classes present are taken in a seeded random order, one image of each (drawn at random
    within its class), then a second round, and so on; so the grid shows min(n, #classes)
    classes whatever the order of the evaluation set. Error when there are fewer than n images.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) < n:
        raise ValueError(f"cannot pick {n} grid images from {labels.size} labelled images")
    rng = numpy_rng(*parts, "cam_grid")
    classes = rng.permutation(np.unique(labels))
    members = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    rounds = max(len(m) for m in members)
    order = [m[r] for r in range(rounds) for m in members if r < len(m)]
    return np.asarray(order[:n], dtype=np.int64)


def _bilinear_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of bilinear resampling with pixel centres aligned and edges clamped.

    The same sampling as imshow(..., extent=(0, W, H, 0), interpolation="bilinear").
    """
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(weights, (np.arange(n_out), hi), frac)
    return weights


def stretch(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Maps (..., h, w) resampled bilinearly to (..., height, width)."""
    rows = _bilinear_weights(maps.shape[-2], height)
    cols = _bilinear_weights(maps.shape[-1], width)
    return rows @ maps @ cols.T


def _blend(big: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """float RGB images (..., H, W, 3) with maps (..., h, w) stretched bilinearly over them and
    blended as jet at alpha 0.5, as imshow composited them."""
    height, width = big.shape[-3:-1]
    # imshow(vmin=0, vmax=1) puts values outside [0, 1] at the ends of the colormap.
    stretched = np.clip(stretch(maps, height, width), 0.0, 1.0)
    rgba = colormaps["jet"](stretched, bytes=True)  # NaN -> the transparent "bad" colour
    alpha = (_OVERLAY_ALPHA / 255.0) * rgba[..., 3:].astype(np.float32)
    return big * (1.0 - alpha) + rgba[..., :3].astype(np.float32) * alpha


def overlay(image: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """A CAM over its image as the CAM grid draws it: uint8 H×W×3 of a uint8 H×W×3 (or H×W
    grey) image and a h×w map in [0, 1] of any resolution, stretched bilinearly over the image
    and blended as jet at alpha 0.5 (normalise raw maps first: `camrobust.cam.normalize_maps`)."""
    image, cam = np.asarray(image), np.asarray(cam, dtype=float)
    if image.ndim == 2:
        image = image[..., None]
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"image must be uint8 H×W×3 or H×W, got {image.dtype} {image.shape}")
    if cam.ndim != 2:
        raise ValueError(f"cam must be one h×w map, got shape {cam.shape}")
    rgb = np.repeat(image, 3 // image.shape[-1], axis=-1).astype(np.float32)
    return np.rint(_blend(rgb, cam)).astype(np.uint8)


def _cells(images: np.ndarray, maps: np.ndarray, scale: int) -> np.ndarray:
    """uint8 RGB cells (1 + M, 1 + L, N, H·scale, W·scale, 3): the inputs, then the overlays.

    Images are upscaled by pixel repetition (grey ones shown on a fixed 0-255 scale); maps are
    stretched bilinearly over them and blended as jet at alpha 0.5 (`_blend`).
    """
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    big = np.repeat(np.repeat(images, scale, axis=-3), scale, axis=-2).astype(np.float32)
    cells = np.concatenate([big[None], _blend(big, maps)])
    return np.rint(cells).astype(np.uint8)


def _mosaic(cells: np.ndarray, lay: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells laid out on a white canvas: row r, column i·(1 + L) + v holds cells[r, v, i].

    Returns the mosaic, opaque uint8 RGBA (height, width, 4) as Agg draws it without a copy,
    and the top and left pixel of each row and column.
    """
    n_rows, n_views, n_img, height, width, _ = cells.shape
    cols = np.arange(n_img * n_views)
    lefts = lay.pad + cols * (width + lay.gap) + (cols // n_views) * (lay.group_gap - lay.gap)
    tops = lay.pad + np.arange(n_rows) * (height + lay.gap)
    mosaic = np.full((tops[-1] + height + lay.pad, lefts[-1] + width + lay.pad, 4), 255, np.uint8)
    rgb = mosaic[..., :3]
    for r, top in enumerate(tops):
        for c, left in enumerate(lefts):
            rgb[top - 1 : top + height + 1, left - 1 : left + width + 1] = _FRAME
            rgb[top : top + height, left : left + width] = cells[r, c % n_views, c // n_views]
    return mosaic, tops, lefts


def _check(
    images: np.ndarray,
    maps: np.ndarray,
    preds: np.ndarray,
    n_classes: int,
    n_methods: int,
    n_levels: int,
) -> None:
    """Raise naming the argument whose shape or values do not fit the others."""
    if images.ndim != 5 or images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 (1+L, N, H, W, C), got {images.dtype} {images.shape}"
        )
    n_views, n_img = images.shape[:2]
    if n_views != n_levels + 1:
        raise ValueError(f"images has {n_views} views but 1 + {n_levels} levels expected")
    if maps.shape[:3] != (n_methods, n_views, n_img) or maps.ndim != 5:
        raise ValueError(
            f"maps must be (M={n_methods}, 1+L={n_views}, N={n_img}, h, w), got {maps.shape}"
        )
    if preds.shape != (n_views, n_img):
        raise ValueError(f"preds must be (1+L={n_views}, N={n_img}), got {preds.shape}")
    if preds.min() < 0 or preds.max() >= n_classes:
        raise ValueError(f"preds hold class ids outside 0..{n_classes - 1}")


def _canvas(mosaic: np.ndarray, lay: Layout, dpi: int) -> tuple[Figure, Axes]:
    """A figure at `dpi` with the mosaic drawn 1:1 on one axes, the margins left for texts."""
    left, top, right, bottom = lay.margins
    fig_w, fig_h = left + mosaic.shape[1] + right, top + mosaic.shape[0] + bottom
    fig = Figure(figsize=(fig_w / dpi, fig_h / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    # The axes spans exactly the mosaic's pixels, so the image is drawn 1:1 (no interpolation).
    ax = fig.add_axes(
        (left / fig_w, bottom / fig_h, mosaic.shape[1] / fig_w, mosaic.shape[0] / fig_h)
    )
    ax.imshow(mosaic, interpolation="none", aspect="auto")
    ax.set_axis_off()
    return fig, ax


def _column_titles(
    ax: Axes,
    lefts: np.ndarray,
    cell_w: int,
    lay: Layout,
    titles: Sequence[str],
    class_names: Sequence[str],
    preds: np.ndarray,
) -> None:
    """Above each column its view and predicted class, red where it differs from the clean one."""
    n_views = len(titles)
    for c, x in enumerate(lefts):
        v, i = c % n_views, c // n_views
        ax.text(
            x + cell_w / 2 - 0.5,
            -lay.pad,
            f"{titles[v]}\n{class_names[int(preds[v, i])]}",
            ha="center",
            va="bottom",
            fontsize=8,
            color="tab:red" if preds[v, i] != preds[0, i] else "black",
        )


def _row_labels(
    ax: Axes, tops: np.ndarray, cell_h: int, lay: Layout, dpi: int, labels: Sequence[str]
) -> None:
    """Left of each row its label, rotated."""
    for label, y in zip(labels, tops, strict=True):
        ax.text(
            -lay.pad - 2 * dpi / _BASE_DPI,
            y + cell_h / 2 - 0.5,
            label,
            rotation=90,
            ha="right",
            va="center",
            fontsize=9,
        )


def build_cam_grid(
    images: np.ndarray,
    maps: np.ndarray,
    preds: np.ndarray,
    class_names: Sequence[str],
    methods: Sequence[str],
    levels: Sequence[str],
    *,
    dpi: int,
) -> Figure:
    """Top row the inputs (clean, then each level) per image, then one row of overlays per method.

    images: uint8 (1 + L, N, H, W, C), index 0 clean, C = 1 (grey, 0-255) or 3; maps:
    (M, 1 + L, N, h, w) in [0, 1], any resolution (stretched bilinearly over the image, jet at
    alpha 0.5; NaN shows no overlay); preds: (1 + L, N) predicted classes.
    Titles give the predicted class, red where it differs from the clean prediction.
    The grid is one image on a single axes, drawn 1:1 at `dpi` (images upscaled by a whole
    factor to about 1.28 inch, larger ones kept as they are); its texts are the titles and the
    row labels ("input", then the methods).
    """
    images = np.asarray(images)
    maps = np.asarray(maps, dtype=float)
    preds = np.asarray(preds)
    _check(images, maps, preds, len(class_names), len(methods), len(levels))
    _, _, height, width, _ = images.shape
    lay = layout(dpi)
    scale = max(1, round(lay.cell / max(height, width)))
    mosaic, tops, lefts = _mosaic(_cells(images, maps, scale), lay)
    fig, ax = _canvas(mosaic, lay, dpi)
    # Data coordinates are mosaic pixels (centres at integers, y down), texts sit in the margins.
    titles = ["clean", *(f"level {lv}" for lv in levels)]
    _column_titles(ax, lefts, width * scale, lay, titles, class_names, preds)
    _row_labels(ax, tops, height * scale, lay, dpi, ["input", *methods])
    return fig
