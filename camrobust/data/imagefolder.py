"""The user's own images, one folder per class, as square uint8 arrays with a train/test split.

Two layouts are accepted:

- ``root/<class>/<image>``: every class is split into train and test by its own seeded
  shuffle: ``test_fraction`` of its images, rounded half up and kept between 1 and n-1, go to
  test, so the split is stratified and a class's split does not depend on the other classes;
- ``root/train/<class>/<image>`` and ``root/test/<class>/<image>``: the given split, which must
  name the same classes on both sides (a lone ``train/`` or ``test/`` is an error).

Images may sit in sub-folders of a class folder. Files whose suffix is not an image suffix, and
hidden files and folders, are ignored. Every image is converted to RGB (after its EXIF
orientation is applied), then brought to ``size``×``size`` without distorting its aspect ratio:
by default its largest centred square is kept and resized with bilinear filtering (antialiased
when shrinking); with an `EvalTransform` (a network's published evaluation transform) its shorter
side is resized and the centred square cropped, as torchvision's and timm's evaluation
transforms do. Classes are the sorted folder names, label i being the i-th; within a split the
images are ordered by label, then by path.

Every file is decoded in full (Pillow's `LOAD_TRUNCATED_IMAGES` stays off), so a truncated or
unreadable file is an error naming it, or, where the caller collects them, is left out.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps
from tqdm.auto import tqdm

from camrobust.seeding import numpy_rng

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".ppm", ".tif", ".tiff", ".webp")

Split = tuple[np.ndarray, np.ndarray]
Files = list[tuple[Path, int]]  # (image file, label) of one split


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _class_files(folder: Path) -> dict[str, list[Path]]:
    """The image files of each class folder under `folder`, sorted; errors name the path."""
    if not folder.is_dir():
        raise ValueError(f"image folder {folder} does not exist or is not a folder")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"image folder {folder} has no class sub-folders")
    files = {}
    for class_dir in classes:
        images = sorted(
            p
            for p in class_dir.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not _is_hidden(p, class_dir)
        )
        if not images:
            raise ValueError(
                f"class folder {class_dir} holds no images (suffixes {', '.join(IMAGE_SUFFIXES)})"
            )
        files[class_dir.name] = images
    return files


@dataclass(frozen=True)
class EvalTransform:
    """Resize the shorter side to `resize` (the longer one in proportion, truncated), then crop
    the centred `crop`×`crop` square: torchvision's `ImageClassification` and timm's centre-crop
    evaluation transform, on PIL images, with the named Pillow filter (antialiased)."""

    resize: int
    crop: int
    interpolation: str
    #: timm's crop fraction, which sets the resize at any crop size (None: resize/crop scales)
    crop_pct: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.interpolation not in _FILTERS:
            raise ValueError(
                f"interpolation {self.interpolation!r} is not one of {', '.join(_FILTERS)}"
            )
        if not 1 <= self.crop <= self.resize:
            raise ValueError(f"need 1 <= crop <= resize, got crop {self.crop} and {self.resize}")

    def at(self, size: int) -> EvalTransform:
        """The same transform for `size`-pixel crops: timm's floor(size / crop_pct), else the
        resize scaled by size/crop (floored)."""
        if size == self.crop:
            return self
        if self.crop_pct is not None:
            resize = math.floor(size / self.crop_pct)
        else:
            resize = math.floor(size * self.resize / self.crop)
        return EvalTransform(resize, size, self.interpolation, self.crop_pct)

    def describe(self) -> str:
        return f"resize {self.resize}, crop {self.crop}, {self.interpolation}"


_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


def _square(image: Image.Image, size: int) -> Image.Image:
    """The largest centred square, resized bilinearly to size×size."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return image.resize(
        (size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
    )


def _resize_crop(image: Image.Image, transform: EvalTransform) -> Image.Image:
    """The shorter side resized to `transform.resize`, then the centred crop (whole pixels,
    offsets rounded as torchvision's `center_crop` rounds them)."""
    width, height = image.size
    short, long = sorted((width, height))
    new_long = int(transform.resize * long / short)
    new_size = (transform.resize, new_long) if width <= height else (new_long, transform.resize)
    image = image.resize(new_size, _FILTERS[transform.interpolation])
    left = int(round((new_size[0] - transform.crop) / 2.0))
    top = int(round((new_size[1] - transform.crop) / 2.0))
    return image.crop((left, top, left + transform.crop, top + transform.crop))


def load_image(
    path: str | os.PathLike, size: int, transform: EvalTransform | None = None
) -> np.ndarray:
    """One image file as uint8 size×size×3: RGB, then the centred square resized bilinearly, or
    `transform` (its crop must be `size`)."""
    if transform is not None and transform.crop != size:
        raise ValueError(f"the transform crops {transform.crop} pixels, not {size}")
    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()  # the whole file: a truncated one fails here, not later or never
            image = ImageOps.exif_transpose(opened)
            if "transparency" in image.info:
                image = image.convert("RGBA")
            image = image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split())  # one line, whatever the decoder said
        raise ValueError(f"cannot read image {path}: {reason}") from err
    image = _square(image, size) if transform is None else _resize_crop(image, transform)
    return np.asarray(image, dtype=np.uint8)


def decode_images(
    paths: Sequence[Path],
    size: int,
    skipped: list[Path] | None = None,
    progress: bool = True,
    desc: str = "images",
    transform: EvalTransform | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """(position in `paths`, image) for each file, one at a time so that nothing accumulates.

    An unreadable file raises ValueError naming it, or, given a `skipped` list, is appended to
    it, logged, and left out. `transform`: as `load_image`'s.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated files would pass as images"
        )
    for i, path in enumerate(
        tqdm(paths, desc=desc, unit="img", disable=None if progress else True)
    ):
        try:
            image = load_image(path, size, transform)
        except ValueError as err:
            if skipped is None:
                raise
            skipped.append(path)
            log.warning("skipped: %s", err)
            continue
        yield i, image


def _load_split(files: Files, size: int, progress: bool, desc: str) -> Split:
    images = np.empty((len(files), size, size, 3), dtype=np.uint8)
    labels = np.fromiter((label for _, label in files), dtype=np.int64, count=len(files))
    for i, image in decode_images([p for p, _ in files], size, progress=progress, desc=desc):
        images[i] = image
    return images, labels


def _stratified_split(
    root: Path, files: dict[str, list[Path]], test_fraction: float, seed: int
) -> dict[str, Files]:
    """Each class split by its own seeded shuffle, so the split does not depend on other classes."""
    out: dict[str, Files] = {"train": [], "test": []}
    for label, (name, paths) in enumerate(files.items()):
        n = len(paths)
        if n < 2:
            raise ValueError(
                f"class folder {root / name} holds {n} image; a train/test split needs at least 2"
            )
        n_test = min(max(math.floor(n * test_fraction + 0.5), 1), n - 1)
        order = numpy_rng(seed, "imagefolder-split", name).permutation(n)
        test = set(order[:n_test].tolist())
        for i, path in enumerate(paths):
            out["test" if i in test else "train"].append((path, label))
    return out


def list_imagefolder(
    root: str | os.PathLike, test_fraction: float = 0.2, seed: int = 0
) -> tuple[dict[str, Files], list[str]]:
    """{"train"/"test": [(file, label), ...]} of `root` plus the class names, nothing decoded.

    See the module docstring for the layouts; `test_fraction` and `seed` only matter for the
    single-folder layout. Any problem raises ValueError naming the path.
    """
    root = Path(root)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist or is not a folder")

    has_train, has_test = (root / "train").is_dir(), (root / "test").is_dir()
    if has_train != has_test:
        present, missing = ("train", "test") if has_train else ("test", "train")
        raise ValueError(
            f"image folder {root} has {present}/ but no {missing}/; give both, or put the class "
            "folders directly under it"
        )
    if has_train:
        others = sorted(
            p.name
            for p in root.iterdir()
            if p.is_dir() and p.name not in ("train", "test") and not p.name.startswith(".")
        )
        if others:
            raise ValueError(
                f"image folder {root} has train/ and test/ but also {', '.join(others)}; "
                "use either root/train/<class> + root/test/<class> or root/<class> only"
            )
        train, test = _class_files(root / "train"), _class_files(root / "test")
        if list(train) != list(test):
            raise ValueError(
                f"class folders differ between {root / 'train'} and {root / 'test'}: "
                f"only in train: {sorted(set(train) - set(test))}, "
                f"only in test: {sorted(set(test) - set(train))}"
            )
        class_names = list(train)
        chosen = {
            split: [(p, label) for label, paths in enumerate(files.values()) for p in paths]
            for split, files in (("train", train), ("test", test))
        }
        log.info("image folder %s: given train/test split, %d classes", root, len(class_names))
    else:
        files = _class_files(root)
        class_names = list(files)
        chosen = _stratified_split(root, files, test_fraction, seed)
        log.info(
            "image folder %s: %d classes, seeded split with test fraction %g",
            root,
            len(class_names),
            test_fraction,
        )
    for split, items in chosen.items():
        log.info("image folder %s %s: %d images", root, split, len(items))
    return chosen, class_names


def check_size(size: object) -> int:
    """`size` if it is a positive integer, else a ValueError."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return size


def load_imagefolder(
    root: str | os.PathLike,
    size: int,
    test_fraction: float = 0.2,
    seed: int = 0,
    progress: bool = True,
) -> tuple[dict[str, Split], list[str]]:
    """Load `root` into memory as {"train"/"test": (uint8 N×size×size×3, int64 N)} plus the
    class names (a small folder; the workflow streams large ones, camrobust/data/streaming.py).
    """
    check_size(size)
    chosen, class_names = list_imagefolder(root, test_fraction, seed)
    splits = {
        split: _load_split(items, size, progress, f"{Path(root).name} {split}")
        for split, items in chosen.items()
    }
    return splits, class_names
