"""Image folders prepared with a network's published evaluation transform: the same pixels as
torchvision's `weights.transforms()` and timm's configured transform, on real photographs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from camrobust.data.imagefolder import EvalTransform, load_image
from camrobust.models.published import agreed_transform, published_transform

# Photographs that ship with scikit-image, portrait and landscape (the shorter side varies).
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list:
    import skimage.data

    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name in PHOTOS:
        path = folder / f"{name}.png"
        Image.fromarray(getattr(skimage.data, name)()).save(path)
        paths.append(path)
    # a portrait crop too: the longer side is the height
    Image.open(paths[1]).transpose(Image.Transpose.ROTATE_90).save(folder / "coffee_tall.png")
    return [*paths, folder / "coffee_tall.png"]


def _unnormalised(preset, path) -> np.ndarray:
    """The preset's float image before its normalisation, as H×W×3 in [0, 1]."""
    tensor = preset(Image.open(path).convert("RGB"))
    normalise = preset if hasattr(preset, "mean") else preset.transforms[-1]
    mean, std = (torch.as_tensor(v).float() for v in (normalise.mean, normalise.std))
    return (tensor * std[:, None, None] + mean[:, None, None]).permute(1, 2, 0).numpy()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resnet50", EvalTransform(232, 224, "bilinear")),  # IMAGENET1K_V2, the DEFAULT
        ("vit_b_16", EvalTransform(256, 224, "bilinear")),
        ("efficientnet_b1", EvalTransform(255, 240, "bilinear")),
        ("inception_v3", EvalTransform(342, 299, "bilinear")),
    ],
)
def test_torchvision_images_equal_weights_transforms(photos, name, expected):
    import torchvision

    found = published_transform("torchvision", name)
    assert found == expected
    preset = torchvision.models.get_model_weights(name).DEFAULT.transforms()
    for path in photos:
        ours = load_image(path, found.crop, found).astype(np.float64) / 255
        theirs = _unnormalised(preset, path)
        assert ours.shape == theirs.shape == (found.crop, found.crop, 3)
        assert np.abs(ours - theirs).max() <= 1 / 255 + 1e-6, path.name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("convnext_atto", EvalTransform(256, 224, "bicubic")),  # crop_pct 0.875
        ("resnet10t", EvalTransform(201, 176, "bicubic")),  # 176 pixels: floor(176 / 0.875)
        ("vit_tiny_patch16_224", EvalTransform(248, 224, "bicubic")),  # crop_pct 0.9
        ("efficientnet_b0", EvalTransform(256, 224, "bicubic")),
    ],
)
def test_timm_images_equal_the_transform_of_the_pretrained_config(photos, name, expected):
    import timm
    from timm.data import create_transform, resolve_data_config

    found = published_transform("timm", name)
    assert found == expected
    model = timm.create_model(name, pretrained=False, num_classes=2)
    preset = create_transform(**resolve_data_config({}, model=model))
    for path in photos:
        ours = load_image(path, found.crop, found).astype(np.float64) / 255
        theirs = _unnormalised(preset, path)
        assert np.abs(ours - theirs).max() <= 1 / 255 + 1e-6, path.name


def test_another_size_scales_the_resize_and_the_square_is_kept_where_asked(photos):
    base = EvalTransform(232, 224, "bilinear")
    assert base.at(224) is base and base.at(64) == EvalTransform(66, 64, "bilinear")
    # timm's rule at any size: floor(size / crop_pct), as its transform factory computes it
    assert published_transform("timm", "resnet10t").at(224) == EvalTransform(256, 224, "bicubic")
    # the centred square (`preprocess: square`, the 32-pixel datasets) is what it was
    square = load_image(photos[0], 64)
    with Image.open(photos[0]) as image:
        side = min(image.size)
        left, top = (image.size[0] - side) / 2, (image.size[1] - side) / 2
        expected = image.convert("RGB").resize(
            (64, 64), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
        )
    np.testing.assert_array_equal(square, np.asarray(expected))
    assert not np.array_equal(square, load_image(photos[0], 64, base.at(64)))
    with pytest.raises(ValueError, match="the transform crops 224 pixels, not 64"):
        load_image(photos[0], 64, base)


def test_models_of_one_folder_must_agree_on_their_transform():
    pair = [("torchvision", "resnet18"), ("camrobust", "resnet18")]
    assert agreed_transform(pair, 224, "k") == EvalTransform(256, 224, "bilinear")
    # compared at the dataset's size: timm's and torchvision's EfficientNet-B0 agree
    both = [("timm", "efficientnet_b0"), ("torchvision", "efficientnet_b0")]
    assert agreed_transform(both, 112, "k") == EvalTransform(128, 112, "bicubic")
    assert agreed_transform([("torchvision", "VisionTransformer")], 224, "k") is None  # no weights
    with pytest.raises(ValueError) as err:
        models = [("torchvision", "resnet50"), ("torchvision", "vit_b_16")]
        agreed_transform(models, 224, "datasets.f.preprocess")
    assert str(err.value).startswith("datasets.f.preprocess: the models' published evaluation")
    assert "torchvision resnet50: resize 232, crop 224, bilinear" in str(err.value)


def test_the_plan_gives_an_image_folder_its_models_or_its_own_preprocessing(tmp_path):
    from camrobust.config import validate_config
    from camrobust.plan import Plan

    (tmp_path / "w.pt").write_bytes(b"")
    model = {"source": "torchvision", "name": "resnet50", "checkpoint": str(tmp_path / "w.pt")}
    config = {"datasets": {"f": {"source": "imagefolder", "path": str(tmp_path), "image_size": 224},
                           "s": {"source": "shapes"}},
              "architectures": {}, "models": {"a": model, "b": model}}  # fmt: skip
    plan = Plan(validate_config(config))
    assert plan.data.params("f")["preprocess"] == {"published_by": [["torchvision", "resnet50"]]}
    assert "preprocess" not in plan.data.params("s")
    config["datasets"]["f"]["preprocess"] = "square"
    assert "preprocess" not in Plan(validate_config(config)).data.params("f")
    explicit = {"resize": 256, "crop": 224, "interpolation": "bicubic"}
    config["datasets"]["f"]["preprocess"] = explicit
    assert Plan(validate_config(config)).data.params("f")["preprocess"] == explicit
