"""Models from a source, a name and a local checkpoint; preprocessing inside the model."""

from __future__ import annotations

import sys

import pytest
import timm
import torch
import torchvision
from torch import nn

from camrobust.cam import compute_cams
from camrobust.models import (
    PixelSpaceModel,
    build_classifier,
    build_model,
    load_classifier,
    save_classifier,
)
from camrobust.models.pixel_space import IMAGENET_MEAN, IMAGENET_STD
from camrobust.seeding import torch_generator


def _images(n: int, size: int, name: str = "images") -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch_generator("test_model_sources", name, n))


def _save(tmp_path, name: str, net: nn.Module) -> str:
    path = tmp_path / f"{name}.pt"
    torch.save(net.state_dict(), path)
    return str(path)


def _standardised(x: torch.Tensor, mean, std) -> torch.Tensor:
    return (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


@pytest.fixture(scope="module")
def no_downloads():
    """Any attempt to fetch weights fails the test."""
    patch = pytest.MonkeyPatch()

    def refuse(*args, **kwargs):
        raise AssertionError("tried to download weights")

    patch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    patch.setattr(torch.hub, "download_url_to_file", refuse)
    yield
    patch.undo()


def test_torchvision_resnet18_checkpoint_with_imagenet_preprocessing(tmp_path, no_downloads):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(num_classes=10).eval()
    path = _save(tmp_path, "resnet18", reference)
    model = build_model("torchvision", "resnet18", 10, checkpoint=path, input_size=64).eval()
    assert isinstance(model, PixelSpaceModel)
    prep = model.preprocessing
    assert (prep.mean, prep.std, prep.input_size) == (IMAGENET_MEAN, IMAGENET_STD, 64)
    assert list(model.state_dict()) == [f"net.{k}" for k in reference.state_dict()]
    x = _images(3, 64)
    with torch.no_grad():
        torch.testing.assert_close(
            model(x), reference(_standardised(x, IMAGENET_MEAN, IMAGENET_STD))
        )
    # published crop sizes come from torchvision's metadata, without downloading
    assert build_model("torchvision", "resnet18", 10).preprocessing.input_size == 224
    assert (
        build_model(
            "torchvision", "inception_v3", 10, aux_logits=False, init_weights=False
        ).preprocessing.input_size
        == 299
    )
    # CAM layer names are the network's: the wrapper is seen through
    res = compute_cams(model, None, x, methods=("gradcam", "ablationcam"))
    assert res.layer == "layer4" and res.ablation_split is True
    direct = compute_cams(model, "layer4", x, methods=("gradcam",))
    torch.testing.assert_close(direct.maps["gradcam"], res.maps["gradcam"])


@pytest.mark.parametrize(
    ("name", "layer", "grid"),
    [("vit_b_16", "encoder.layers.encoder_layer_11.ln_1", 2), ("swin_t", "features.7", 1)],
)
def test_torchvision_transformers_from_checkpoints(tmp_path, no_downloads, name, layer, grid):
    torch.manual_seed(2)
    kwargs = {"image_size": 32} if name.startswith("vit") else {}
    reference = torchvision.models.get_model(name, weights=None, num_classes=5, **kwargs).eval()
    path = _save(tmp_path, name, reference)
    model = build_model("torchvision", name, 5, checkpoint=path, input_size=32).eval()
    x = _images(2, 32, name)
    with torch.no_grad():
        torch.testing.assert_close(
            model(x), reference(_standardised(x, IMAGENET_MEAN, IMAGENET_STD))
        )
    res = compute_cams(model, None, x, methods=("gradcam", "eigencam"))
    assert res.layer == layer
    assert res.maps["gradcam"].shape == (2, grid, grid)


TINY = {  # torchvision's transformer classes at a test's size, built from constructor options
    "VisionTransformer": dict(patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64),
    "SwinTransformer": dict(
        patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=[4, 4]
    ),
}


@pytest.mark.parametrize(
    ("name", "layer", "grid"),
    [("VisionTransformer", "encoder.layers.encoder_layer_1.ln_1", 4), ("SwinTransformer", "features.3", 4)],
)  # fmt: skip
def test_tiny_torchvision_transformers_from_constructor_options(
    tmp_path, no_downloads, name, layer, grid
):
    torch.manual_seed(4)
    kwargs = TINY[name]
    size = {"image_size": 32} if name == "VisionTransformer" else {}
    reference = getattr(torchvision.models, name)(num_classes=5, **size, **kwargs).eval()
    assert sum(p.numel() for p in reference.parameters()) < 50_000
    path = _save(tmp_path, name, reference)
    model = build_model("torchvision", name, 5, checkpoint=path, input_size=32, **kwargs).eval()
    x = _images(2, 32, name)
    with torch.no_grad():
        torch.testing.assert_close(
            model(x), reference(_standardised(x, IMAGENET_MEAN, IMAGENET_STD))
        )
    res = compute_cams(model, None, x, methods=("gradcam", "eigencam"))
    assert res.layer == layer and res.maps["gradcam"].shape == (2, grid, grid)
    # saved as the workflow saves it, rebuilt from its stored options
    save_classifier(tmp_path / "model.pt", model, {"arch": name})
    with torch.no_grad():
        torch.testing.assert_close(load_classifier(tmp_path / "model.pt", "cpu")(x), model(x))


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("vit_b_16", {"num_layers": 2}, r"kwargs \['image_size', 'num_layers'\] do not fit "
         r"torchvision vit_b_16: .*multiple values for keyword argument 'num_layers'"),
        ("SwinTransformer", {"patch_size": [4, 4]}, r"kwargs \['patch_size'\] do not fit "
         r"torchvision SwinTransformer: .*missing 4 required positional arguments"),
        ("resnet18", {"depth": 3}, r"do not fit torchvision resnet18: .*'depth'"),
    ],
)  # fmt: skip
def test_constructor_options_that_do_not_fit_are_one_line(name, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        build_model("torchvision", name, 5, input_size=32, **kwargs)
    assert "\n" not in str(info.value)


def test_timm_vit_checkpoint_with_its_published_preprocessing(tmp_path, no_downloads):
    kwargs = dict(patch_size=8, depth=2, embed_dim=32, num_heads=2)
    torch.manual_seed(3)
    reference = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=4, img_size=32, **kwargs
    ).eval()
    path = _save(tmp_path, "timm_vit", reference)
    model = build_model("timm", "vit_tiny_patch16_224", 4, path, input_size=32, **kwargs).eval()
    prep = model.preprocessing
    assert (prep.mean, prep.std, prep.input_size) == ((0.5,) * 3, (0.5,) * 3, 32)
    x = _images(2, 32, "timm")
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference((x - 0.5) / 0.5))
    assert compute_cams(model, None, x, methods=("gradcam",)).layer == "blocks.1.norm1"
    # a timm CNN takes no img_size; the given input size is still the model's
    cnn = build_model("timm", "resnet18", 4, input_size=48)
    assert cnn.preprocessing.input_size == 48 and cnn.preprocessing.mean == IMAGENET_MEAN


def test_own_architectures_keep_their_standardisation(tmp_path):
    reference = build_classifier("cnn13", 10, width=0.0625, seed=4).eval()
    raw = _save(tmp_path, "cnn13", reference)
    ours = tmp_path / "cnn13_ours.pt"
    save_classifier(ours, reference, {"name": "cnn13"})
    x = _images(2, 32, "own")
    for path in (raw, ours):
        model = build_model("camrobust", "cnn13", 10, path, width=0.0625).eval()
        assert not isinstance(model, PixelSpaceModel)
        assert model.preprocessing.mean == (0.5,) * 3 and model.preprocessing.std == (0.25,) * 3
        with torch.no_grad():
            torch.testing.assert_close(model(x), reference(x))


def test_wrapped_models_round_trip_through_save_classifier(tmp_path):
    torch.manual_seed(5)
    model = build_model("torchvision", "resnet18", 3, input_size=40, mean=(0.4, 0.5, 0.6)).eval()
    path = tmp_path / "saved.pt"
    save_classifier(path, model, {"note": "fine-tuned"})
    loaded = load_classifier(path, "cpu")
    assert isinstance(loaded, PixelSpaceModel) and loaded.hparams == {"note": "fine-tuned"}
    assert loaded.preprocessing == model.preprocessing
    x = _images(2, 40, "round trip")
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_checkpoints_that_do_not_fit_name_file_architecture_and_keys(tmp_path):
    torch.manual_seed(6)
    thousand = _save(tmp_path, "thousand", torchvision.models.resnet18(num_classes=1000))
    with pytest.raises(ValueError) as err:
        build_model("torchvision", "resnet18", 10, checkpoint=thousand)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(
        f"checkpoint {thousand} does not fit torchvision:resnet18 with 10 classes"
    )
    assert "shape mismatches fc.weight (1000, 512) in the file, (10, 512) in the model" in message

    deeper = _save(tmp_path, "resnet34", torchvision.models.resnet34(num_classes=10))
    with pytest.raises(
        ValueError,
        match=r"resnet34.pt does not fit torchvision:resnet18 .*unexpected keys layer1.2.conv1.weight, layer1.2.bn1.weight, layer1.2.bn1.bias \(\+\d+ more\)",
    ):
        build_model("torchvision", "resnet18", 10, checkpoint=deeper)

    state = torchvision.models.resnet18(num_classes=10).state_dict()
    del state["layer4.1.bn2.running_var"]
    partial = tmp_path / "partial.pt"
    torch.save(state, partial)
    with pytest.raises(
        ValueError, match=r"partial.pt does not fit .*: missing keys layer4.1.bn2.running_var$"
    ):
        build_model("torchvision", "resnet18", 10, checkpoint=partial)

    # nested under "state_dict" with DataParallel's "module." prefix is still a state dict
    nested = tmp_path / "nested.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, nested)
    with pytest.raises(ValueError, match="missing keys layer4.1.bn2.running_var$"):
        build_model("torchvision", "resnet18", 10, checkpoint=nested)


def test_unsafe_or_unreadable_checkpoints_are_refused(tmp_path):
    whole = tmp_path / "whole.pt"
    torch.save(torchvision.models.resnet18(num_classes=10), whole)
    with pytest.raises(
        ValueError, match=r"whole.pt holds pickled Python objects, not a state dict"
    ):
        build_model("torchvision", "resnet18", 10, checkpoint=whole)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"notes.pt is not a readable torch file"):
        build_model("torchvision", "resnet18", 10, checkpoint=text)
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(ValueError, match=r"tensor.pt is not a state dict"):
        build_model("torchvision", "resnet18", 10, checkpoint=tensor)
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        build_model("torchvision", "resnet18", 10, checkpoint=tmp_path / "missing.pt")


def test_bad_names_sources_and_inputs(monkeypatch):
    with pytest.raises(
        ValueError, match=r"torchvision has no classification model 'resnet19'; closest: resnet18"
    ):
        build_model("torchvision", "resnet19", 10)
    with pytest.raises(ValueError, match="no classification model 'fasterrcnn_resnet50_fpn'"):
        build_model("torchvision", "fasterrcnn_resnet50_fpn", 10)
    with pytest.raises(
        ValueError,
        match=r"timm has no classification model 'vit_tiny_patch16'; closest: vit_tiny_patch16_",
    ):
        build_model("timm", "vit_tiny_patch16", 10)
    with pytest.raises(
        ValueError, match=r"camrobust has no classification model 'resnet50'; closest: resnet18"
    ):
        build_model("camrobust", "resnet50", 10)
    with pytest.raises(
        ValueError, match=r"unknown model source 'hub'; known: torchvision, timm, camrobust"
    ):
        build_model("hub", "resnet18", 10)
    with pytest.raises(ValueError, match="num_classes must be an integer ≥ 2"):
        build_model("torchvision", "resnet18", 1)
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(
        ImportError,
        match=r"^models from source 'timm' need the optional dependency: pip install 'camrobust\[timm\]'$",
    ):
        build_model("timm", "resnet18", 10)
    model = build_model("torchvision", "resnet18", 10, input_size=32)
    with pytest.raises(
        ValueError, match=r"this model takes 32×32 images \(its input_size\), got \(64, 64\)"
    ):
        model(_images(1, 64))
    with pytest.raises(ValueError, match="expected a float N×3×32×32 batch"):
        model(_images(1, 32)[:, :1])
