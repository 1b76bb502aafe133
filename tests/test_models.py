"""Classifier architectures: shapes, gradients, target layers, torchvision oracles, save/load."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from camrobust.models import (
    ARCHITECTURES,
    build_classifier,
    default_target_layer,
    load_classifier,
    save_classifier,
)

# Target-layer output (channels at width 1, spatial size at 32×32 input).
TARGET_SHAPES = {"cnn13": (128, 6), "resnet18": (512, 4), "vgg11_bn": (512, 4)}


def _target_output(model: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    captured = {}
    layer = model.get_submodule(default_target_layer(name))
    handle = layer.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return logits, captured["out"]


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("width", [0.0625, 0.125])
def test_forward_backward_and_target_layer(name: str, width: float) -> None:
    torch.manual_seed(0)
    model = build_classifier(name, num_classes=7, width=width)
    x = torch.rand(3, 3, 32, 32)
    logits, feats = _target_output(model, name, x)
    assert logits.shape == (3, 7)
    channels, size = TARGET_SHAPES[name]
    assert feats.shape == (3, round(channels * width), size, size)
    logits.square().sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_larger_input_and_top_bn(name: str) -> None:
    torch.manual_seed(0)
    model = build_classifier(name, num_classes=5, width=0.0625, top_bn=True).train()
    captured = {}
    head = model.classifier[-1] if name == "vgg11_bn" else model.fc
    handle = head.register_forward_hook(lambda m, i, o: captured.setdefault("fc", o))
    logits = model(torch.rand(6, 3, 48, 40))
    handle.remove()
    assert logits.shape == (6, 5)
    # BN on the logits in train mode: the linear outputs normalised by batch statistics.
    expected = nn.functional.batch_norm(captured["fc"], None, None, training=True)
    torch.testing.assert_close(logits, expected)


def test_width_rounding_keeps_at_least_one_channel() -> None:
    model = build_classifier("resnet18", num_classes=3, width=0.001)
    assert model.conv1.out_channels == 1 and model.fc.in_features == 1
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_classifier("alexnet")
    with pytest.raises(ValueError, match="unknown architecture"):
        default_target_layer("alexnet")
    with pytest.raises(ValueError, match="width"):
        build_classifier("cnn13", width=0)
    with pytest.raises(ValueError, match="num_classes"):
        build_classifier("cnn13", num_classes=1)
    model = build_classifier("cnn13", width=0.0625)
    with pytest.raises(ValueError, match="N×3×H×W"):
        model(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="at least 32"):
        model(torch.rand(2, 3, 16, 16))


def test_standardisation_is_fixed_and_inside_the_model() -> None:
    model = build_classifier("resnet18", width=0.0625)
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(model.normalize(x), (x - 0.5) / 0.25)
    assert not list(model.normalize.parameters()) and not list(model.normalize.buffers())


def test_dropout_masks_replay_with_the_rng_state() -> None:
    model = build_classifier("cnn13", width=0.0625).train()
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 2
    x = torch.rand(4, 3, 32, 32)
    state = torch.get_rng_state()
    a = model(x)
    b = model(x)
    torch.set_rng_state(state)
    c = model(x)
    assert not torch.equal(a, b)
    torch.testing.assert_close(a, c, rtol=0, atol=0)


def test_resnet18_matches_torchvision_with_cifar_stem() -> None:
    torch.manual_seed(0)
    ours = build_classifier("resnet18", num_classes=10, width=1.0).eval()
    ref = torchvision.models.resnet18(num_classes=10)
    ref.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    ref.maxpool = nn.Identity()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    state = {k.replace("shortcut", "downsample"): v for k, v in ours.state_dict().items()}
    ref.load_state_dict(state)
    ref.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref((x - 0.5) / 0.25), rtol=1e-4, atol=1e-4)


def test_vgg11_bn_features_match_torchvision() -> None:
    torch.manual_seed(0)
    ours = build_classifier("vgg11_bn", num_classes=10, width=0.25).eval()
    cfg = [v if v == "M" else v // 4 for v in torchvision.models.vgg.cfgs["A"]]
    del cfg[[i for i, v in enumerate(cfg) if v == "M"][3]]  # ours has no fourth pool
    ref = torchvision.models.vgg.make_layers(cfg, batch_norm=True).eval()
    ref_convs = [m for m in ref if isinstance(m, nn.Conv2d)]
    ref_bns = [m for m in ref if isinstance(m, nn.BatchNorm2d)]
    our_blocks = [m for m in ours.features if isinstance(m, nn.Sequential)]
    assert len(ref_convs) == len(our_blocks) == 8
    with torch.no_grad():
        for block, conv, bn in zip(our_blocks, ref_convs, ref_bns, strict=True):
            conv.weight.copy_(block[0].weight)
            conv.bias.zero_()
            bn.load_state_dict(block[1].state_dict())
        x = torch.rand(2, 3, 32, 32)
        torch.testing.assert_close(ours.features(ours.normalize(x)), ref((x - 0.5) / 0.25))
    hidden = [m for m in ours.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in hidden] == [(128, 128), (128, 128), (128, 10)]


@pytest.mark.parametrize("name", ["cnn13", "vgg11_bn"])
def test_dropout_option_sets_every_dropout_layer(name: str) -> None:
    for p in (0.0, 0.3):
        model = build_classifier(name, num_classes=4, width=0.0625, dropout=p)
        drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
        assert len(drops) == 2 and all(m.p == p for m in drops)
        assert model.build_config["dropout"] == p
    model = build_classifier(name, num_classes=4, width=0.0625, dropout=0.0).train()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():  # no dropout: train mode is deterministic apart from batch norm
        torch.testing.assert_close(model(x), model(x))


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_save_load_round_trip(tmp_path, name: str) -> None:
    torch.manual_seed(0)
    model = build_classifier(name, num_classes=4, width=0.0625, top_bn=True)
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 3, 32, 32))  # moves the BN running statistics off their defaults
    path = tmp_path / "model.pt"
    save_classifier(path, model, {"regularizer": "vat", "eps": 8.0})
    loaded = load_classifier(path, "cpu")
    assert not loaded.training and loaded.hparams == {"regularizer": "vat", "eps": 8.0}
    assert loaded.build_config == model.build_config
    model.eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    torch.save({"format": "other"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a classifier file"):
        load_classifier(tmp_path / "bad.pt", "cpu")
