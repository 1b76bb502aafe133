"""No map that stops a run: every CAM the engine returns and the CAM file stores is finite; a
map that cannot be computed comes back zero, flagged, and is counted by the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from camrobust.cam import METHODS, compute_cams, normalize_maps
from camrobust.cam.store import load_cams, save_cams
from camrobust.metrics import MEASURES, aggregate, per_image_table

SIZE = 64
KEYS = {"dataset": "d", "model": "m", "arch": "m", "regularizer": "pretrained", "seed": "0",
        "noise": "n"}  # fmt: skip


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    """Random and corrupted inputs: noise, flat grey, black, and a photograph clean, under
    motion blur and under strong Gaussian noise (ImageNet-C constants)."""
    import skimage.data
    from PIL import Image

    from camrobust.noise import corrupt

    photo = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((SIZE, SIZE)))[None]
    noisy = [
        corrupt(photo, family, severity=level, table="imagenetc", seed=(0, family), progress=False)
        for family, level in (("motion_blur", 3), ("gaussian", 5))
    ]
    pixels = torch.from_numpy(np.concatenate([photo, *noisy])).permute(0, 3, 1, 2) / 255
    generator = torch.Generator().manual_seed(0)
    random = torch.rand(2, 3, SIZE, SIZE, generator=generator)
    flat = torch.stack([torch.full((3, SIZE, SIZE), 0.5), torch.zeros(3, SIZE, SIZE)])
    return torch.cat([random, flat, pixels.float()])


# Random-initialised networks of both sources: CNNs with and without batch norm, depthwise and
# inverted-residual blocks, a ConvNeXt (the issue's), a ViT (tokens) and a Swin (channels-last).
MODELS = [
    ("torchvision", "resnet18", {}),
    ("torchvision", "mobilenet_v3_small", {}),
    ("torchvision", "squeezenet1_1", {}),
    ("torchvision", "shufflenet_v2_x0_5", {}),
    ("torchvision", "convnext_tiny", {}),
    ("torchvision", "regnet_y_400mf", {}),
    ("timm", "convnext_atto", {}),
    ("timm", "resnet10t", {}),
    ("timm", "mobilenetv3_small_050", {}),
    ("timm", "efficientnet_b0", {}),
    ("timm", "vit_tiny_patch16_224", {}),
    ("timm", "swin_tiny_patch4_window7_224", {"window_size": 2}),
]
# ScoreCAM runs the whole network per channel: only where the layer is narrow.
SCORECAM = {"squeezenet1_1", "mobilenetv3_small_050"}
# ShapleyCAM needs second derivatives, which torch lacks for hardsigmoid (MobileNetV3's
# squeeze-excitation): the engine says so in one line instead.
NO_SECOND_DERIVATIVE = {"mobilenet_v3_small"}


@pytest.mark.parametrize(("source", "name", "kwargs"), MODELS, ids=[m[1] for m in MODELS])
def test_every_map_of_random_models_is_finite_and_stored_finite(
    inputs, tmp_path, source, name, kwargs
):
    from camrobust.models.sources import build_model

    torch.manual_seed(0)
    model = build_model(source, name, 5, input_size=SIZE, **kwargs).eval()
    methods = [m for m in METHODS if m != "scorecam" or name in SCORECAM]
    if name in NO_SECOND_DERIVATIVE:
        with pytest.raises(
            ValueError, match="shapleycam needs the second derivative .*hardsigmoid"
        ):
            compute_cams(model, None, inputs, ["shapleycam"], batch_size=len(inputs))
        methods.remove("shapleycam")
    result = compute_cams(model, None, inputs, methods, batch_size=len(inputs), seed=0)
    for method, maps in result.maps.items():
        assert torch.isfinite(maps).all(), method
        assert not result.nonfinite[method].any(), method  # nothing needed replacing here
    save_cams(tmp_path / "c.npz", result.maps, result.logits, result.preds, result.preds,
              nonfinite=result.nonfinite)  # fmt: skip
    stored = load_cams(tmp_path / "c.npz")
    for method, maps in result.maps.items():
        assert np.isfinite(stored["maps"][method]).all(), method
        # float16 with a power-of-two scale per map: 11 significant bits of every map
        scale = maps.abs().flatten(1).amax(1)[:, None, None].clamp(min=1e-30)
        error = (torch.from_numpy(stored["maps"][method]) - maps).abs() / scale
        assert float(error.max()) <= 2**-11, method


def _tiny_target_logit(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Shift the head's bias so image 0's class 0 logit is 1e-6; the targets (all class 0)."""
    with torch.no_grad():
        logit = model(images)[0, 0]
        model.net.head.fc.bias[0] -= logit - 1e-6
    return torch.zeros(len(images), dtype=torch.long)


def test_a_map_beyond_float16_is_stored_finite_with_its_shape(inputs, tmp_path):
    """AblationCAM divides by the target logit y: a ConvNeXt with y = 1e-6 gives a map far beyond
    float16's 65504, which the CAM file stored as inf before its per-map scaling."""
    from camrobust.models.sources import build_model

    torch.manual_seed(0)
    model = build_model("timm", "convnext_atto", 5, input_size=SIZE).eval()
    images = inputs[:3]
    targets = _tiny_target_logit(model, images)
    result = compute_cams(model, None, images, ["ablationcam", "gradcam"], targets=targets)
    raw = result.maps["ablationcam"]
    assert float(raw[0].abs().max()) > 65504 and torch.isfinite(raw).all()
    assert not torch.isfinite(raw.half()).all()  # what a plain float16 file held: inf
    save_cams(tmp_path / "c.npz", result.maps, result.logits, result.preds, targets)
    stored = load_cams(tmp_path / "c.npz")["maps"]["ablationcam"]
    assert np.isfinite(stored).all()
    again = normalize_maps(torch.from_numpy(stored), size=(SIZE, SIZE))
    assert torch.allclose(again, normalize_maps(raw, size=(SIZE, SIZE)), atol=2e-3)


class _LogOfChannel(nn.Module):
    """A network whose logit 0 is log(mean of channel 0 + the input's top-left pixel sum):
    ablating channel 0 of an image whose top-left pixel is black gives log(0) = -inf."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Softplus())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3))
        offset = x[:, :, 0, 0].sum(dim=1)
        return torch.stack([torch.log(pooled[:, 0] + offset), pooled[:, 1]], dim=1)


def test_a_map_that_cannot_be_computed_is_zero_flagged_and_counted(tmp_path):
    """One image's AblationCAM map is NaN/inf: the CAM job stores it as zero and flags it; the
    metrics count the pair (nonfinite, degenerate) and carry on with every other pair."""
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(6, 3, 16, 16, generator=generator) * 0.8 + 0.1
    images[0, :, 0, 0] = 0.0  # only image 0 hits log(0)
    noisy = (images + 0.05 * torch.randn(images.shape, generator=generator)).clamp(0, 1)
    noisy[0, :, 0, 0] = 0.0
    model = _LogOfChannel().eval()
    targets = torch.zeros(6, dtype=torch.long)
    files = {}
    for level, x in (("0", images), ("1", noisy)):
        result = compute_cams(model, "features", x, ["ablationcam", "gradcam"], targets=targets)
        assert result.nonfinite["ablationcam"].tolist() == [True] + [False] * 5
        assert not result.nonfinite["gradcam"].any()
        assert float(result.maps["ablationcam"][0].abs().max()) == 0.0
        save_cams(tmp_path / f"{level}.npz", result.maps, result.logits, result.preds, targets,
                  nonfinite=result.nonfinite)  # fmt: skip
        files[level] = load_cams(tmp_path / f"{level}.npz")
    table = per_image_table(files["0"], {"1": files["1"]}, labels=files["0"]["preds"],
                            masks=None, image_size=(16, 16), keys=KEYS)  # fmt: skip
    flagged = table[table["nonfinite"]]
    assert list(zip(flagged["method"], flagged["image"], strict=True)) == [("ablationcam", 0)]
    assert flagged["degenerate"].all()
    robust = aggregate(table, MEASURES, n_boot=20)
    counts = robust[robust["level"] == "1"].groupby("method")[["n_nonfinite", "n_pairs"]].max()
    assert counts.to_dict("index") == {
        "ablationcam": {"n_nonfinite": 1, "n_pairs": 6},
        "gradcam": {"n_nonfinite": 0, "n_pairs": 6},
    }
