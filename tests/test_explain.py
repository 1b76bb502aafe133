"""`camrobust explain`: one photograph, every method's overlay clean and under noise, the
prediction and each pair's similarity on every measure; its one-line errors; `overlay`."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from camrobust.cli import main
from camrobust.metrics import MEASURES
from camrobust.report.cam_grid import _cells, layout, overlay

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("gradcam", "layercam", "ablationcam")


def camrobust(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m camrobust ...` with this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "camrobust", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def photo_and_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """scikit-image's photograph of Chelsea the cat, and a random 1000-class ResNet-18."""
    import skimage.data
    import torchvision

    folder = tmp_path_factory.mktemp("explain")
    Image.fromarray(skimage.data.chelsea()).save(folder / "chelsea.png")
    torch.manual_seed(3)
    torch.save(torchvision.models.resnet18(num_classes=1000).state_dict(), folder / "r18.pt")
    return folder / "chelsea.png", folder / "r18.pt"


@pytest.fixture(scope="module")
def explained(photo_and_checkpoint, tmp_path_factory):
    photo, checkpoint = photo_and_checkpoint
    out = tmp_path_factory.mktemp("grids")
    done = camrobust(
        "explain", str(photo), "--model", "torchvision:resnet18", "--checkpoint", str(checkpoint),
        "--methods", *METHODS, "--noise", "gaussian:3", "motion_blur:2", "--out", str(out),
        cwd=out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, out


def test_the_prediction_is_the_models_on_the_published_transform(photo_and_checkpoint, explained):
    """The same preprocessing as torchvision's weights.transforms(): the same predicted class."""
    import torchvision

    from camrobust.class_map import imagenet_classes

    photo, checkpoint = photo_and_checkpoint
    net = torchvision.models.resnet18(num_classes=1000)
    net.load_state_dict(torch.load(checkpoint, weights_only=True))
    preset = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    with torch.no_grad():
        logits = net.eval()(preset(Image.open(photo).convert("RGB"))[None])
    name = imagenet_classes()[int(logits.argmax())].name
    stdout, _ = explained
    assert re.search(
        rf"chelsea\.png: torchvision:resnet18 \(checkpoint r18\.pt\) predicts '{re.escape(name)}' \(p ",
        stdout,
    )


def test_one_row_per_noise_method_and_measure_and_the_grid(explained):
    stdout, out = explained
    rows = re.findall(
        r"^\s+(gaussian:3|motion_blur:2)\s+(\w+)\s+(\w+)\s+([0-9.]+)\s+(kept|flipped)", stdout, re.M
    )
    assert len(rows) == 2 * len(METHODS) * len(MEASURES)
    assert {(noise, method, measure) for noise, method, measure, *_ in rows} == {
        (n, m, s) for n in ("gaussian:3", "motion_blur:2") for m in METHODS for s in MEASURES
    }
    assert all(0 <= float(value) <= 1 for *_, value, _ in rows)
    for noise in ("gaussian:3", "motion_blur:2"):
        flag = re.search(rf"^\s+{re.escape(noise)}: predicts .*: (kept|flipped)$", stdout, re.M)
        assert flag and {r[4] for r in rows if r[0] == noise} == {flag[1]}
    grid = np.asarray(Image.open(out / "chelsea_cams.png"))
    # the report's CAM grid at 120 dpi: 3 views of the 224-pixel image, a row per method + input
    lay = layout(120)
    rows_px = lay.margins[1] + 2 * lay.pad + 4 * 224 + 3 * lay.gap + lay.margins[3]
    cols_px = lay.margins[0] + 2 * lay.pad + 3 * 224 + 2 * lay.gap + lay.margins[2]
    assert grid.shape[:2] == (rows_px, cols_px)


def test_errors_are_one_line_and_write_nothing(
    photo_and_checkpoint, tmp_path, monkeypatch, capfd, caplog
):
    photo, checkpoint = photo_and_checkpoint
    cases = {
        "missing image": ([str(tmp_path / "nope.jpg"), "--model", "torchvision:resnet18"],
                          f"camrobust explain: {tmp_path / 'nope.jpg'}: no such image file"),
        "unknown model": ([str(photo), "--model", "torchvision:resnet5O"],
                          "camrobust explain: torchvision has no classification model 'resnet5O'; "
                          "closest: resnet50"),
        "checkpoint": ([str(photo), "--model", "torchvision:resnet34", "--checkpoint",
                        str(checkpoint)],
                       f"camrobust explain: checkpoint {checkpoint} does not fit torchvision:"
                       "resnet34 with 1000 classes: missing keys layer1.2.conv1.weight"),
        "noise": ([str(photo), "--model", "torchvision:resnet18", "--noise", "blur:3"],
                  "camrobust explain: --noise 'blur:3': unknown family 'blur'; known: gaussian"),
    }  # fmt: skip
    # The command's main in this process (the fixture above runs it as `python -m camrobust`):
    # its exit status, and on the file descriptors everything else a child's stderr would hold,
    # warnings and log records included.
    monkeypatch.chdir(tmp_path)
    for case, (args, line) in cases.items():
        with warnings.catch_warnings(record=True) as warned, caplog.at_level(logging.WARNING):
            warnings.simplefilter("always")
            status = main(["explain", *args, "--out", str(tmp_path / "out")])
        stderr = capfd.readouterr().err
        errors = stderr.strip().splitlines()
        assert status == 2 and len(errors) == 1, (case, stderr[-2000:])
        assert not warned and not caplog.records, (case, warned, caplog.records)
        assert errors[0].startswith(line), (case, errors[0])
        assert not (tmp_path / "out").exists(), case


def test_overlay_is_the_grids_cell():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    cam = rng.random((5, 7))
    drawn = overlay(image, cam)
    cell = _cells(image[None, None], cam[None, None, None], scale=1)[1, 0, 0]
    np.testing.assert_array_equal(drawn, cell)
    assert drawn.dtype == np.uint8 and drawn.shape == (20, 30, 3)
    # zero weight where the map is 0 (jet's dark blue at alpha 0.5) and the image elsewhere
    grey = overlay(image[..., 0], np.zeros((2, 2)))
    np.testing.assert_array_equal(grey, overlay(np.repeat(image[..., :1], 3, -1), np.zeros((2, 2))))
    with pytest.raises(ValueError, match="cam must be one h×w map"):
        overlay(image, cam[None])
    with pytest.raises(ValueError, match="image must be uint8"):
        overlay(image.astype(float), cam)
