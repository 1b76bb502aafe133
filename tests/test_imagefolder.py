"""Image folders: both layouts, the seeded stratified split, resizing, modes, and every error."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import skimage.transform
from PIL import Image

from camrobust.data.imagefolder import load_image, load_imagefolder
from camrobust.io import load_npz


def _save(path: Path, array: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def _solid(colour, height: int = 10, width: int = 10) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (height, width, 3)).copy()


def _colour(label: int, index: int) -> tuple[int, int, int]:
    """A colour unique to (class, image), so every output image can be traced to its file."""
    return (40 * label + 10, 12 * index + 5, 200)


def _make_flat(
    root: Path, counts: dict[str, int], first: int = 0
) -> dict[tuple[int, int, int], tuple[str, str]]:
    """root/<class>/img_XX.png solid images; returns colour -> (class, file name)."""
    origin = {}
    for label, (name, n) in enumerate(sorted(counts.items()), start=first):
        for i in range(n):
            colour = _colour(label, i)
            # Alternate sizes and aspect ratios: a solid image stays solid whatever the resize.
            shape = [(10, 10), (7, 13), (30, 11)][i % 3]
            _save(root / name / f"img_{i:02d}.png", _solid(colour, *shape))
            origin[colour] = (name, f"img_{i:02d}.png")
    return origin


def _trace(split, origin, size):
    """The (class, file) of every output image, checking each is exactly its solid colour."""
    images, labels = split
    assert images.dtype == np.uint8 and images.shape == (len(labels), size, size, 3)
    assert labels.dtype == np.int64
    traced = []
    for image in images:
        colour = tuple(int(v) for v in image[0, 0])
        assert (image == np.array(colour, np.uint8)).all()
        traced.append(origin[colour])
    return traced


def test_flat_layout_stratified_split(tmp_path):
    counts = {"cat": 4, "ant": 5, "bee": 6}
    origin = _make_flat(tmp_path / "imgs", counts)
    splits, names = load_imagefolder(tmp_path / "imgs", size=6, test_fraction=0.5, seed=3)
    assert names == ["ant", "bee", "cat"]
    assert set(splits) == {"train", "test"}
    traced = {split: _trace(splits[split], origin, 6) for split in ("train", "test")}
    for split in ("train", "test"):
        labels = splits[split][1]
        assert [names[v] for v in labels] == [c for c, _ in traced[split]]
        assert traced[split] == sorted(traced[split])  # by class, then file name
    assert set(traced["train"]).isdisjoint(traced["test"])
    assert sorted(traced["train"] + traced["test"]) == sorted(origin.values())
    # Half of each class, rounded half up: 5 -> 3, 6 -> 3, 4 -> 2.
    test_counts = {name: sum(c == name for c, _ in traced["test"]) for name in names}
    assert test_counts == {"ant": 3, "bee": 3, "cat": 2}


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.01, {"a": 1, "b": 1}), (0.2, {"a": 1, "b": 2}), (0.99, {"a": 2, "b": 7})],
)
def test_every_class_keeps_images_on_both_sides(tmp_path, fraction, expected):
    origin = _make_flat(tmp_path, {"a": 3, "b": 8})
    splits, names = load_imagefolder(tmp_path, size=4, test_fraction=fraction)
    traced = _trace(splits["test"], origin, 4)
    assert {n: sum(c == n for c, _ in traced) for n in names} == expected


def test_split_is_seeded_and_per_class(tmp_path):
    origin = _make_flat(tmp_path / "r", {"a": 10, "b": 10, "c": 10})
    first, _ = load_imagefolder(tmp_path / "r", size=4, seed=7)
    again, _ = load_imagefolder(tmp_path / "r", size=4, seed=7)
    other, _ = load_imagefolder(tmp_path / "r", size=4, seed=8)
    for split in ("train", "test"):
        np.testing.assert_array_equal(first[split][0], again[split][0])
        np.testing.assert_array_equal(first[split][1], again[split][1])
    assert _trace(first["test"], origin, 4) != _trace(other["test"], origin, 4)

    # A new class leaves the split of the others unchanged.
    origin |= _make_flat(tmp_path / "r", {"zz": 10}, first=3)
    grown, names = load_imagefolder(tmp_path / "r", size=4, seed=7)
    assert names == ["a", "b", "c", "zz"]
    before = _trace(first["test"], origin, 4)
    after = [t for t in _trace(grown["test"], origin, 4) if t[0] != "zz"]
    assert before == after


def test_train_test_layout(tmp_path):
    origin = _make_flat(tmp_path / "d" / "train", {"dog": 3, "emu": 2})
    test_origin = {}
    for label, name in enumerate(["dog", "emu"]):
        colour = (label * 40 + 10, 250, 30)
        _save(tmp_path / "d" / "test" / name / "t.jpeg", _solid(colour), quality=100)
        test_origin[name] = colour
    splits, names = load_imagefolder(tmp_path / "d", size=5, test_fraction=0.5)
    assert names == ["dog", "emu"]
    assert _trace(splits["train"], origin, 5) == sorted(origin.values())
    test_images, test_labels = splits["test"]
    assert test_labels.tolist() == [0, 1]
    for image, name in zip(test_images, names, strict=True):  # JPEG: nearly the colour
        diff = np.abs(image.astype(int) - np.array(test_origin[name]))
        assert diff.max() <= 3


def test_centre_crop_keeps_the_middle_square(tmp_path):
    rng = np.random.default_rng(0)
    centre = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    wide = np.concatenate([_solid((255, 0, 0), 20, 10), centre, _solid((0, 0, 255), 20, 10)], 1)
    tall = np.concatenate([_solid((255, 0, 0), 7, 20), centre, _solid((0, 0, 255), 7, 20)], 0)
    np.testing.assert_array_equal(load_image(_save(tmp_path / "w.png", wide), 20), centre)
    np.testing.assert_array_equal(load_image(_save(tmp_path / "t.png", tall), 20), centre)


def test_downscaling_averages(tmp_path):
    ramp = np.repeat(np.repeat((4 * np.arange(64)).astype(np.uint8)[None, :, None], 64, 0), 3, 2)
    out = load_image(_save(tmp_path / "ramp.png", ramp), 32).astype(int)
    # Output column x covers source columns 2x and 2x+1, whose mean is 8x + 2.
    expected = 8 * np.arange(32) + 2
    assert np.abs(out[:, 1:-1, :] - expected[None, 1:-1, None]).max() <= 1
    assert (out == out[:1]).all()  # constant along the other axis


def test_upscaling_matches_bilinear_interpolation(tmp_path):
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out = load_image(_save(tmp_path / "s.png", small), 16).astype(float)
    reference = skimage.transform.resize(
        small.astype(float), (16, 16, 3), order=1, mode="edge", anti_aliasing=False
    )
    assert np.abs(out - reference).max() <= 1.0


def test_colour_modes_become_rgb(tmp_path):
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    out = load_image(_save(tmp_path / "g.png", grey), 4)
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, 2))

    rgba = np.concatenate([_solid((9, 99, 199), 4, 4), np.full((4, 4, 1), 128, np.uint8)], 2)
    np.testing.assert_array_equal(load_image(_save(tmp_path / "a.png", rgba), 4), rgba[..., :3])

    palette = Image.fromarray(_solid((30, 60, 90), 4, 4)).convert("P", palette=Image.ADAPTIVE)
    palette.save(tmp_path / "p.gif")
    np.testing.assert_array_equal(load_image(tmp_path / "p.gif", 2), _solid((30, 60, 90), 2, 2))

    # Per-entry palette alpha (bytes) converts without Pillow's palette-transparency warning.
    two = np.concatenate([_solid((5, 6, 7), 2, 4), _solid((50, 60, 70), 2, 4)])
    Image.fromarray(two).convert("P", palette=Image.ADAPTIVE, colors=2).save(
        tmp_path / "t.png", transparency=b"\x00\x80"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = load_image(tmp_path / "t.png", 4)
    np.testing.assert_array_equal(out, two)


def test_exif_orientation_is_applied(tmp_path):
    stored = np.random.default_rng(3).integers(0, 256, (2, 4, 3), dtype=np.uint8)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise for display
    image.save(tmp_path / "e.png", exif=exif.tobytes())
    displayed = np.rot90(stored, k=-1)  # 4 rows × 2 columns
    # The centred square of the displayed (portrait) image, not of the stored landscape one.
    np.testing.assert_array_equal(load_image(tmp_path / "e.png", 2), displayed[1:3])


def test_ignored_and_nested_files(tmp_path):
    root = tmp_path / "r"
    _save(root / "a" / "one.PNG", _solid((1, 2, 3)))
    _save(root / "a" / "nested" / "two.png", _solid((4, 5, 6)))
    _save(root / "a" / ".hidden" / "three.png", _solid((7, 8, 9)))
    _save(root / "a" / ".four.png", _solid((7, 8, 9)))
    (root / "a" / "notes.txt").write_text("not an image")
    _save(root / "b" / "x.png", _solid((10, 11, 12)))
    _save(root / "b" / "y.png", _solid((13, 14, 15)))
    _save(root / ".git" / "z.png", _solid((0, 0, 0)))
    (root / "README").write_text("stray file at the top")
    splits, names = load_imagefolder(root, size=3, test_fraction=0.5)
    assert names == ["a", "b"]
    colours = sorted(tuple(int(v) for v in img[0, 0]) for s in splits.values() for img in s[0])
    assert colours == [(1, 2, 3), (4, 5, 6), (10, 11, 12), (13, 14, 15)]


def _flat(tmp: Path) -> Path:
    root = tmp / "ok"
    if not root.exists():
        _make_flat(root, {"a": 2, "b": 2})
    return root


def _truncated(path: Path) -> None:
    _save(path, np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-40])


def _missing_root(t: Path) -> Path:
    return t / "absent"


def _root_is_a_file(t: Path) -> Path:
    (t / "file").write_text("x")
    return t / "file"


def _no_class_folders(t: Path) -> Path:
    (t / "r").mkdir()
    (t / "r" / "loose.png").write_bytes(b"")
    return t / "r"


def _empty_class(t: Path) -> Path:
    (_flat(t) / "empty").mkdir()
    return _flat(t)


def _class_without_images(t: Path) -> Path:
    (_flat(t) / "c").mkdir()
    (_flat(t) / "c" / "x.txt").write_text("text")
    return _flat(t)


def _garbage_image(t: Path) -> Path:
    (_flat(t) / "a" / "bad.png").write_bytes(b"not a png")
    return _flat(t)


def _truncated_image(t: Path) -> Path:
    _truncated(_flat(t) / "a" / "cut.png")
    return _flat(t)


def _single_image_class(t: Path) -> Path:
    _save(_flat(t) / "c" / "only.png", _solid((0, 0, 0)))
    return _flat(t)


@pytest.mark.parametrize(
    ("build", "culprit", "message"),
    [
        (_missing_root, "absent", "does not exist"),
        (_root_is_a_file, "file", "is not a folder"),
        (_no_class_folders, "r", "has no class sub-folders"),
        (_empty_class, "ok/empty", "holds no images"),
        (_class_without_images, "ok/c", "holds no images"),
        (_garbage_image, "ok/a/bad.png", "cannot read image"),
        (_truncated_image, "ok/a/cut.png", "cannot read image"),
        (_single_image_class, "ok/c", "holds 1 image; a train/test split needs at least 2"),
    ],
)
def test_errors_name_the_path(tmp_path, build, culprit, message):
    root = build(tmp_path)
    with pytest.raises(ValueError) as info:
        load_imagefolder(root, size=4)
    assert str(tmp_path / culprit) in str(info.value) and message in str(info.value)


def test_train_test_mismatch(tmp_path):
    _make_flat(tmp_path / "d" / "train", {"a": 1, "b": 1})
    _make_flat(tmp_path / "d" / "test", {"a": 1, "c": 1})
    pattern = re.escape(
        f"class folders differ between {tmp_path / 'd' / 'train'} and "
    ) + re.escape(f"{tmp_path / 'd' / 'test'}: only in train: ['b'], only in test: ['c']")
    with pytest.raises(ValueError, match=pattern):
        load_imagefolder(tmp_path / "d", size=4)


def test_train_test_with_extra_folder(tmp_path):
    for part in ("train", "test", "val"):
        _make_flat(tmp_path / "d" / part, {"a": 1})
    with pytest.raises(
        ValueError, match=re.escape(f"{tmp_path / 'd'} has train/ and test/ but also val")
    ):
        load_imagefolder(tmp_path / "d", size=4)


@pytest.mark.parametrize("present", ["train", "test"])
def test_lone_train_or_test_folder(tmp_path, present):
    _make_flat(tmp_path / "d" / present, {"a": 2})
    _make_flat(tmp_path / "d", {"b": 2})
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'd'} has {present}/ but no")):
        load_imagefolder(tmp_path / "d", size=4)


def test_train_test_empty_class(tmp_path):
    _make_flat(tmp_path / "d" / "train", {"a": 1})
    (tmp_path / "d" / "test" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "d" / "test" / "a"))):
        load_imagefolder(tmp_path / "d", size=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "size must be a positive integer, got 0"),
        ({"size": 2.5}, "size must be a positive integer, got 2.5"),
        ({"size": True}, "size must be a positive integer, got True"),
        ({"test_fraction": 0.0}, "test_fraction must be strictly between 0 and 1, got 0.0"),
        ({"test_fraction": 1.0}, "test_fraction must be strictly between 0 and 1, got 1.0"),
        ({"test_fraction": float("nan")}, "test_fraction must be strictly between 0 and 1"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    args = {"root": _flat(tmp_path), "size": 4} | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        load_imagefolder(**args)


# ---- the workflow's preparation: streamed into the canonical files -----------------------------
def _params(root: Path, tmp: Path, trains: bool = True, **dataset) -> dict:
    """Rule prepare_data's params for an image folder, from the plan (as the workflow has them)."""
    from camrobust.config import validate_config
    from camrobust.plan import Plan

    config = {
        "datasets": {"f": {"source": "imagefolder", "path": str(root), "image_size": 8,
                           "n_eval": 10, "test_fraction": 0.5, **dataset}},
        "metrics": {"sensitivity": {"enabled": False}, "faithfulness": {"enabled": False}},
    }  # fmt: skip
    if not trains:  # a user's checkpoint evaluated as it is, nothing trained
        # cut as a run that trains cuts them (not the torchvision model's published transform)
        config["datasets"]["f"].setdefault("preprocess", "square")
        (tmp / "m.pt").write_bytes(b"")
        config["architectures"] = {}
        config["models"] = {"m": {"source": "torchvision", "name": "resnet18",
                                  "checkpoint": str(tmp / "m.pt")}}  # fmt: skip
    return Plan(validate_config(config)).data.params("f")


def _outputs(folder: Path) -> dict[str, Path]:
    return {split: folder / f"{split}.npz" for split in ("train", "test", "eval")}


def _in_memory(spec: dict, folder: Path) -> dict[str, Path]:
    """The files as the workflow wrote them before streaming: everything loaded, then saved."""
    from camrobust.data.prepare import prepare_dataset
    from camrobust.io import save_npz

    data = prepare_dataset(spec, folder, spec["seed"])
    names = np.array(data["class_names"])
    out = _outputs(folder)
    save_npz(out["train"], **data["train"].arrays(), class_names=names)
    save_npz(out["test"], **data["test"].arrays(), class_names=names)
    save_npz(out["eval"], **data["eval"].arrays(), indices=data["eval_indices"],
             source_indices=data["eval_source_indices"], class_names=names)  # fmt: skip
    return out


@pytest.mark.parametrize("caps", [{}, {"n_train": 10, "n_test": 14}])
def test_streamed_files_equal_the_in_memory_preparation(tmp_path, caps):
    from camrobust.data.prepare import write_dataset

    _make_flat(tmp_path / "imgs", {"ant": 9, "bee": 12, "cat": 15})
    spec = _params(tmp_path / "imgs", tmp_path, **caps)
    expected = _in_memory(spec, tmp_path / "expected")
    summary = write_dataset(spec, tmp_path, _outputs(tmp_path / "streamed"))
    for split, path in _outputs(tmp_path / "streamed").items():
        assert path.read_bytes() == expected[split].read_bytes(), split
    counts = {"train": 10, "test": 14} if caps else {"train": 17, "test": 19}
    assert summary.counts == {**counts, "eval": 10} and summary.n_classes == 3
    assert summary.lines() == [f"f: {counts['train']} train, {counts['test']} test, 10 eval "
                               "images of 3 classes"]  # fmt: skip


def test_other_sources_write_the_files_they_wrote_before(tmp_path):
    from camrobust.config import validate_config
    from camrobust.data.prepare import write_dataset
    from camrobust.plan import Plan

    config = {"datasets": {"shapes": {"source": "shapes", "n_train": 20, "n_test": 30,
                                      "n_eval": 16}}}  # fmt: skip
    spec = Plan(validate_config(config)).data.params("shapes")
    assert "skip_unreadable" not in spec and "evaluate_only" not in spec  # params as before
    expected = _in_memory(spec, tmp_path / "expected")
    summary = write_dataset(spec, tmp_path, _outputs(tmp_path / "written"))
    for split, path in _outputs(tmp_path / "written").items():
        assert path.read_bytes() == expected[split].read_bytes(), split
    assert summary.counts == {"train": 20, "test": 30, "eval": 16}


def _counting_loader(monkeypatch) -> list[Path]:
    """Every file the image loader decodes from now on, in order."""
    import camrobust.data.imagefolder as imagefolder

    decoded: list[Path] = []
    real = imagefolder.load_image

    def counting(path, size, transform=None):
        decoded.append(Path(path))
        return real(path, size, transform)

    monkeypatch.setattr(imagefolder, "load_image", counting)
    return decoded


def test_evaluate_only_decodes_the_evaluation_images_alone(tmp_path, monkeypatch):
    """No model trains on the dataset: only the n_eval evaluation files are decoded, the eval
    file is byte for byte that of a run that trains, and the test file holds just its images."""
    from camrobust.data.prepare import write_dataset

    origin = _make_flat(tmp_path / "imgs", {"ant": 9, "bee": 12, "cat": 15})
    trained = _params(tmp_path / "imgs", tmp_path, n_test=12)
    assert trained["evaluate_only"] is False
    write_dataset(trained, tmp_path, _outputs(tmp_path / "trains"))

    decoded = _counting_loader(monkeypatch)
    spec = _params(tmp_path / "imgs", tmp_path, trains=False, n_test=12)
    assert spec["evaluate_only"] is True
    summary = write_dataset(spec, tmp_path, _outputs(tmp_path / "evaluates"))
    evaluates = tmp_path / "evaluates"
    assert (evaluates / "eval.npz").read_bytes() == (tmp_path / "trains/eval.npz").read_bytes()
    full = load_npz(tmp_path / "trains/eval.npz")
    # exactly the evaluation files, each once, in the order of the subset
    assert len(decoded) == len(set(decoded)) == 10
    traced = _trace((full["images"], full["labels"]), origin, 8)
    assert [(p.parent.name, p.name) for p in decoded] == traced
    test = load_npz(evaluates / "test.npz")
    assert list(test) == ["images", "labels", "class_names"]
    np.testing.assert_array_equal(test["images"], full["images"])
    np.testing.assert_array_equal(test["labels"], full["labels"])
    assert list(test["class_names"]) == ["ant", "bee", "cat"]
    train = load_npz(evaluates / "train.npz")
    assert train["images"].shape == (0, 8, 8, 3) and train["labels"].shape == (0,)
    assert list(train["class_names"]) == ["ant", "bee", "cat"]
    assert summary.counts == {"train": 0, "test": 10, "eval": 10}
    assert summary.lines() == [
        "f: 0 train, 10 test, 10 eval images of 3 classes (evaluate only: the train split is "
        "not decoded, the test file holds the evaluation images alone)"
    ]


def test_evaluate_only_skipping_unreadable_files_draws_the_subset_a_full_run_draws(
    tmp_path, monkeypatch
):
    """With skip_unreadable the subset is drawn from the test files that decode, as in a full
    preparation: each test file is decoded once to find them, then the evaluation files."""
    from camrobust.data.imagefolder import list_imagefolder
    from camrobust.data.prepare import write_dataset

    _make_flat(tmp_path / "imgs", {"ant": 9, "bee": 12, "cat": 15})
    for i in range(4):
        _not_an_image(tmp_path / "imgs" / "bee" / f"bad{i}.jpg")
    chosen, _ = list_imagefolder(tmp_path / "imgs", 0.5, 0)
    bad_test = sorted(p.name for p, _ in chosen["test"] if p.name.startswith("bad"))
    assert bad_test  # some land in the test split (seeded): they shift a full run's subset
    trained = _params(tmp_path / "imgs", tmp_path, skip_unreadable=True)
    full = write_dataset(trained, tmp_path, _outputs(tmp_path / "trains"))

    decoded = _counting_loader(monkeypatch)
    spec = _params(tmp_path / "imgs", tmp_path, trains=False, skip_unreadable=True)
    summary = write_dataset(spec, tmp_path, _outputs(tmp_path / "evaluates"))
    evaluates = tmp_path / "evaluates"
    assert (evaluates / "eval.npz").read_bytes() == (tmp_path / "trains/eval.npz").read_bytes()
    n_test_files = len(chosen["test"])
    assert len(decoded) == n_test_files + 10 and len(set(decoded)) == n_test_files
    assert summary.unreadable == [f"bee/{name}" for name in bad_test]
    assert [str(v) for v in load_npz(evaluates / "test.npz")["unreadable"]] == summary.unreadable
    assert list(load_npz(evaluates / "train.npz")["unreadable"]) == []
    assert summary.counts == {"train": 0, "test": 10, "eval": 10}
    assert full.counts["test"] == n_test_files - len(bad_test)


def _truncated_jpeg(path: Path) -> None:
    _save(path, np.random.default_rng(5).integers(0, 256, (32, 32, 3), dtype=np.uint8), quality=90)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _not_an_image(path: Path) -> None:
    path.write_text("a text file with an image suffix\n")


@pytest.mark.parametrize(
    ("make", "reason"),
    [(_truncated_jpeg, "image file is truncated"), (_not_an_image, "cannot identify image file")],
)
def test_an_unreadable_file_stops_the_preparation_with_one_line(tmp_path, make, reason):
    from camrobust.data.prepare import write_dataset

    _make_flat(tmp_path / "imgs", {"ant": 9, "bee": 12})
    bad = tmp_path / "imgs" / "bee" / "broken.jpg"
    make(bad)
    with pytest.raises(ValueError) as info:
        write_dataset(_params(tmp_path / "imgs", tmp_path), tmp_path, _outputs(tmp_path / "out"))
    message = str(info.value)
    assert message.startswith(f"cannot read image {bad}: ") and reason in message
    assert "\n" not in message
    assert list((tmp_path / "out").iterdir()) == []  # no output, no temporary file


def test_unreadable_files_are_skipped_counted_and_named_when_allowed(tmp_path):
    from camrobust.data.prepare import write_dataset

    origin = _make_flat(tmp_path / "imgs", {"ant": 9, "bee": 12})
    _truncated_jpeg(tmp_path / "imgs" / "bee" / "cut.jpg")
    _not_an_image(tmp_path / "imgs" / "ant" / "text.jpg")
    spec = _params(tmp_path / "imgs", tmp_path, skip_unreadable=True)
    out = _outputs(tmp_path / "out")
    summary = write_dataset(spec, tmp_path, out)
    assert sorted(summary.unreadable) == ["ant/text.jpg", "bee/cut.jpg"]
    assert summary.counts["train"] + summary.counts["test"] == 21  # every readable image
    assert summary.lines()[0].endswith("; 2 unreadable files skipped")
    assert summary.lines()[1].startswith("f: skipped unreadable files: ")
    assert "ant/text.jpg" in summary.lines()[1] and "bee/cut.jpg" in summary.lines()[1]
    files = {split: load_npz(path) for split, path in out.items()}
    recorded = [str(v) for s in ("train", "test") for v in files[s]["unreadable"]]
    assert sorted(recorded) == ["ant/text.jpg", "bee/cut.jpg"]
    traced = []
    for split in ("train", "test"):
        images, labels = files[split]["images"], files[split]["labels"]
        assert len(images) == len(labels) == summary.counts[split]
        found = _trace((images, labels), origin, 8)
        assert [("ant", "bee")[v] for v in labels] == [c for c, _ in found]
        traced += found
    assert sorted(traced) == sorted(origin.values())
    chosen = files["eval"]["indices"]
    np.testing.assert_array_equal(files["eval"]["images"], files["test"]["images"][chosen])
    np.testing.assert_array_equal(files["eval"]["labels"], files["test"]["labels"][chosen])


def test_the_default_mode_records_no_unreadable_files(tmp_path):
    from camrobust.data.prepare import write_dataset

    _make_flat(tmp_path / "imgs", {"ant": 9, "bee": 12})
    summary = write_dataset(
        _params(tmp_path / "imgs", tmp_path), tmp_path, _outputs(tmp_path / "out")
    )
    assert summary.unreadable is None and "unreadable" not in summary.lines()[0]
    assert "unreadable" not in load_npz(tmp_path / "out" / "test.npz")


def test_too_few_readable_test_images_for_n_eval_is_an_error_naming_the_key(tmp_path):
    from camrobust.data.prepare import write_dataset

    _make_flat(tmp_path / "imgs", {"ant": 9, "bee": 12})
    for i in range(3):
        _not_an_image(tmp_path / "imgs" / "ant" / f"zz{i}.jpg")
    spec = _params(tmp_path / "imgs", tmp_path, skip_unreadable=True, test_fraction=0.4)
    with pytest.raises(
        ValueError, match=r"datasets\.f\.n_eval: 10 is more than the \d test images"
    ):
        write_dataset(spec, tmp_path, _outputs(tmp_path / "out"))
    assert list((tmp_path / "out").iterdir()) == []


def test_truncated_images_are_never_accepted_silently(tmp_path, monkeypatch):
    from PIL import ImageFile

    from camrobust.data.imagefolder import decode_images

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    _truncated_jpeg(tmp_path / "cut.jpg")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES is on"):
        list(decode_images([tmp_path / "cut.jpg"], 4))


def test_the_folder_benchmark_runs_small_and_prints_the_rss_line(capsys):
    """benchmarks/imagefolder_prepare.py at 50 images: it prepares them and reports the peak
    (no threshold on its figures here, only that they are printed and plausible)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "imagefolder_prepare.py"
    spec = importlib.util.spec_from_file_location("imagefolder_prepare", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # A large parent (as a pytest worker after workflow tests is): the child's own peak is
    # reported, not the parent's memory that ru_maxrss would carry over exec.
    ballast = np.ones(80_000_000)  # 610 MiB
    bench.main(["--n-images", "50"])
    del ballast
    out = capsys.readouterr().out
    assert "prepared at image_size 224: 40 train, 10 test, 10 eval images" in out
    peak = re.search(r"^peak RSS of the preparing process: (\d+) MiB$", out, re.M)
    assert peak and 0 < int(peak.group(1)) < 600
    assert re.search(r"^peak RSS <= 2 GB: yes$", out, re.M)
    assert re.search(r" (\d+) images/s$", out, re.M)
