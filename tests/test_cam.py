"""CAM engine against pytorch-grad-cam (the oracle), plus targets, batching, state and errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import pytorch_grad_cam as pgc
import timm
import torch
import torchvision
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

import camrobust.cam.engine as engine
from camrobust.cam import METHODS, compute_cams, normalize_maps
from camrobust.cam.eigen import principal_projection
from camrobust.cam.methods import (
    BATCH_MAPS,
    CHANNEL_WEIGHTS,
    INPUT_RESOLUTION,
    MAP_FUNCTIONS,
    PLACEBOS,
)
from camrobust.metrics import per_image_table
from camrobust.names import RANDOM_METHODS
from camrobust.seeding import derive_seed, torch_generator

ORACLE = {
    "gradcam": pgc.GradCAM,
    "gradcampp": pgc.GradCAMPlusPlus,
    "xgradcam": pgc.XGradCAM,
    "hirescam": pgc.HiResCAM,
    "gradcamelementwise": pgc.GradCAMElementWise,
    "layercam": pgc.LayerCAM,
    "eigencam": pgc.EigenCAM,
    "eigengradcam": pgc.EigenGradCAM,
    "fem": pgc.FEM,
    "scorecam": pgc.ScoreCAM,
    "ablationcam": pgc.AblationCAM,
    "fullgrad": pgc.FullGrad,
    "kpcacam": pgc.KPCA_CAM,
    "shapleycam": pgc.ShapleyCAM,
}
#: pytorch-grad-cam's FullGrad and ShapleyCAM differentiate w.r.t. the input: no cut at the layer
WHOLE_NETWORK = ("fullgrad", "shapleycam")
# KPCA-CAM is compared in float64 (test_fullgrad_kpca_shapley_match_pytorch_grad_cam)
ONE_PASS = tuple(m for m in METHODS if m in MAP_FUNCTIONS and m != "kpcacam")
EIGEN = ("eigencam", "eigengradcam")
TOL = 1e-4


def _seeded(name: str, build):
    """Build a random-weight model in eval mode from a seed derived from its name."""
    with torch.random.fork_rng():
        torch.manual_seed(derive_seed("test_cam", name))
        return build().eval()


def _resnet18_cifar() -> nn.Module:
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model


def _tiny() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 24, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(24, 10),
    )


BUILDERS = {
    "resnet18": _resnet18_cifar,
    "resnet18_imagenet_stem": lambda: torchvision.models.resnet18(num_classes=10),
    "vgg11_bn": lambda: torchvision.models.vgg11_bn(num_classes=10),
    "densenet121": lambda: torchvision.models.densenet121(num_classes=10),
    "tiny": _tiny,
}


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    cache: dict[str, nn.Module] = {}

    class _Lazy(dict):
        def __missing__(self, name: str) -> nn.Module:
            cache[name] = _seeded(name, BUILDERS[name])
            return cache[name]

    return _Lazy()


def _images(n: int, name: str = "images", size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch_generator("test_cam", name, n))


def _oracle(
    method: str,
    model: nn.Module,
    layer: str,
    x: torch.Tensor,
    targets=None,
    reshape=None,
    ablation_layer=None,
) -> np.ndarray:
    """pytorch-grad-cam's maps. To keep tests fast its backward is confined to the layers after
    the target (parameters frozen, the target output made a grad-requiring copy first); the
    gradient w.r.t. the target output, all it uses, is unchanged (not for `WHOLE_NETWORK`, whose
    gradients reach the input). `reshape` is its reshape_transform, `ablation_layer` its
    AblationCAM layer."""
    target_layer = model.get_submodule(layer)
    cut = method not in WHOLE_NETWORK
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        # Its ShapleyCAM fails where the gradient does not depend on the activations (a linear
        # head) unless it depends on a parameter: parameters stay trainable for it.
        p.requires_grad_(p.requires_grad and method == "shapleycam")
    handle = target_layer.register_forward_hook(
        lambda module, args, out: out.detach().requires_grad_().clone() if cut else out
    )
    if method == "fullgrad":  # it finds its own layers; it would reshape their gradients too
        cam = ORACLE[method](model, [])
    else:
        cam = ORACLE[method](model, [target_layer], reshape_transform=reshape)
    if method == "ablationcam":
        cam.batch_size = 64
        if ablation_layer is not None:
            cam.ablation_layer = ablation_layer
    if method == "scorecam":
        cam.batch_size = 128
    wrapped = None if targets is None else [ClassifierOutputTarget(int(t)) for t in targets]
    try:
        # ShapleyCAM's second backward: attention through the math kernel (as the engine)
        with sdpa_kernel([SDPBackend.MATH]):
            return cam(input_tensor=x, targets=wrapped)
    finally:
        cam.activations_and_grads.release()
        handle.remove()
        for p, flag in flags:
            p.requires_grad_(flag)


def _assert_matches(method: str, ours_raw: torch.Tensor, oracle: np.ndarray) -> None:
    size = tuple(oracle.shape[-2:])
    ours = normalize_maps(ours_raw, size=size).numpy()
    err = np.abs(ours - oracle).max(axis=(1, 2))
    if method in EIGEN:
        # pytorch-grad-cam's eigen sign is arbitrary (its issue #315): compare up to sign.
        flipped = normalize_maps(-ours_raw, size=size).numpy()
        err = np.minimum(err, np.abs(flipped - oracle).max(axis=(1, 2)))
    assert err.max() < TOL, f"{method}: max abs difference {err.max():.2e}"


FEW = ("gradcam", "gradcampp", "hirescam", "eigencam")


@pytest.mark.parametrize(
    ("arch", "layer", "methods"),
    [
        ("resnet18", "layer4", ONE_PASS),
        ("resnet18", "layer3.1", FEW),  # a non-default layer
        ("vgg11_bn", "features.27", ONE_PASS),
        ("densenet121", "features.denseblock3", ("xgradcam", "layercam", "eigengradcam")),
    ],
)
def test_one_pass_methods_match_pytorch_grad_cam(models, arch, layer, methods):
    model, x = models[arch], _images(8, arch)
    res = compute_cams(model, layer, x, methods=methods, batch_size=64)
    assert torch.equal(res.preds, model(x).argmax(1))
    assert torch.equal(res.targets, res.preds)
    assert list(res.maps) == list(methods)
    for method in methods:
        assert res.maps[method].dtype == torch.float32
        assert res.maps[method].shape[0] == 8
        _assert_matches(method, res.maps[method], _oracle(method, model, layer, x))


@pytest.mark.parametrize(
    ("arch", "layer", "n"),
    [("tiny", "7", 12), ("tiny", "8", 12), ("resnet18_imagenet_stem", "layer3", 2)],
)
def test_score_and_ablation_match_pytorch_grad_cam(models, arch, layer, n):
    model, x = models[arch], _images(n, arch)
    res = compute_cams(model, layer, x, methods=("scorecam", "ablationcam"), batch_size=5)
    assert res.ablation_split is True
    for method in ("scorecam", "ablationcam"):
        _assert_matches(method, res.maps[method], _oracle(method, model, layer, x))


def _smooth() -> nn.Module:
    """Smooth activations after the target layer ("2"): a non-zero second derivative, so
    ShapleyCAM's Hessian term is not zero (behind ReLUs it is, and ShapleyCAM is Grad-CAM)."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.SiLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.GELU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


BUILDERS["smooth"] = _smooth
PEERS = ("fullgrad", "kpcacam", "shapleycam")


@pytest.mark.parametrize(
    ("arch", "layer", "size"),
    [
        ("resnet18", "layer4", 32),
        ("resnet18", "layer3.1", 32),  # 8×8 maps
        ("vgg11_bn", "features.20", 32),
        ("smooth", "2", 16),  # 256 pixels: scikit-learn's KernelPCA switches to ARPACK
    ],
)
def test_fullgrad_kpca_shapley_match_pytorch_grad_cam(models, arch, layer, size):
    """Both sides in float64: scikit-learn's KernelPCA, which pytorch-grad-cam's KPCA-CAM calls,
    computes in the activations' dtype, and its double-centred sigmoid kernel cancels; in
    float32 it moves normalised maps of vgg11_bn features.27 (2×2) by up to 1.1e-3 against
    itself in float64, which the engine (float64 inside) matches exactly."""
    model, x = copy.deepcopy(models[arch]).double(), _images(5, arch, size=size).double()
    res = compute_cams(model, layer, x, methods=(*PEERS, "gradcam"), batch_size=3)
    assert res.maps["fullgrad"].shape == (5, size, size)
    for method in PEERS:
        assert bool((normalize_maps(res.maps[method]).flatten(1).amax(1) == 1).all()), method
        _assert_matches(method, res.maps[method], _oracle(method, model, layer, x))
    if arch == "smooth":  # the Hessian term changes the map
        shapley, gradcam = (normalize_maps(res.maps[m]) for m in ("shapleycam", "gradcam"))
        assert (shapley - gradcam).abs().max() > 1e-2
    else:  # piecewise linear after the layer: the Hessian term is zero
        assert torch.equal(res.maps["shapleycam"], res.maps["gradcam"])


def test_randomcam_is_seeded_reproducible_and_independent_of_batching(models):
    """Map = Σ_c w_c A_c with w uniform in [-1, 1) from the seed, drawn for the whole call."""
    from camrobust.cam.placebo import random_channel_weights

    model, x = models["tiny"], _images(7, "randomcam")
    one = compute_cams(model, "8", x, methods=("randomcam",), seed=11, batch_size=7)
    again = compute_cams(model, "8", x, methods=("randomcam",), seed=11, batch_size=3)
    other = compute_cams(model, "8", x, methods=("randomcam",), seed=12, batch_size=7)
    torch.testing.assert_close(one.maps["randomcam"], again.maps["randomcam"])
    assert (one.maps["randomcam"] - other.maps["randomcam"]).abs().max() > 1e-3
    weights = random_channel_weights(11, 7, 24)
    assert weights.shape == (7, 24) and -1 <= weights.min() < -0.5 and 0.5 < weights.max() < 1
    acts = model[:9](x).double()
    expected = torch.einsum("nc,nchw->nhw", weights, acts).float()
    torch.testing.assert_close(one.maps["randomcam"], expected, rtol=1e-5, atol=1e-6)


def test_sobelcam_equals_scipy_sobel_magnitude_of_the_luma():
    """Class-blind: the same map for any model and target; equals scipy.ndimage.sobel's
    √(gx² + gy²) of the BT.601 gray level (border mode 'reflect')."""
    from scipy import ndimage

    x = _images(3, "sobel", size=20)
    tiny, resnet = _seeded("tiny", _tiny), _seeded("resnet18", _resnet18_cifar)
    maps = compute_cams(tiny, "8", x, methods=("sobelcam",)).maps["sobelcam"]
    targets = torch.tensor([1, 4, 7])
    other = compute_cams(resnet, "layer4", x, methods=("sobelcam",), targets=targets)
    assert torch.equal(maps, other.maps["sobelcam"])
    for image, ours in zip(x.double().numpy(), maps.numpy(), strict=True):
        gray = 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]
        expected = np.hypot(ndimage.sobel(gray, axis=0), ndimage.sobel(gray, axis=1))
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)


def test_registries_cover_every_method_once():
    """METHODS is the report order of the two registries: map functions and channel weights."""
    assert sorted(METHODS) == sorted([*MAP_FUNCTIONS, *CHANNEL_WEIGHTS, *BATCH_MAPS])
    assert not set(MAP_FUNCTIONS) & set(CHANNEL_WEIGHTS)
    assert not (set(MAP_FUNCTIONS) | set(CHANNEL_WEIGHTS)) & set(BATCH_MAPS)
    assert set(ORACLE) == set(METHODS) - PLACEBOS
    assert {"randomcam", "sobelcam"} == PLACEBOS and set(METHODS) >= INPUT_RESOLUTION
    assert {name for name, m in BATCH_MAPS.items() if m.needs_seed} == RANDOM_METHODS
    assert [m for m, w in CHANNEL_WEIGHTS.items() if w.uses_suffix] == ["ablationcam"]


def test_explicit_targets_and_uneven_batches(models):
    model, x = models["resnet18"], _images(8, "targets")
    preds = model(x).argmax(1)
    targets = (preds + 1 + torch.arange(8) % 3) % 10
    assert not torch.equal(targets, preds)
    methods = ("gradcam", "gradcampp", "layercam", "eigengradcam")
    res = compute_cams(model, "layer4", x, methods=methods, targets=targets, batch_size=3)
    assert torch.equal(res.targets, targets)
    assert torch.equal(res.preds, preds)
    for method in methods:
        _assert_matches(method, res.maps[method], _oracle(method, model, "layer4", x, targets))
    whole = compute_cams(model, "layer4", x, methods=methods, targets=targets, batch_size=64)
    for method in methods:
        torch.testing.assert_close(res.maps[method], whole.maps[method], rtol=1e-4, atol=1e-5)


def test_explicit_targets_perturbation_methods(models):
    model, x = models["tiny"], _images(7, "targets")
    targets = (model(x).argmax(1) + 3) % 10
    methods = ("scorecam", "ablationcam")
    res = compute_cams(model, "8", x, methods=methods, targets=targets, batch_size=4)
    assert torch.equal(res.targets, targets)
    for method in methods:
        _assert_matches(method, res.maps[method], _oracle(method, model, "8", x, targets))


def test_same_seed_same_numbers(models):
    model, x = models["tiny"], _images(6, "determinism")
    a = compute_cams(model, "7", x, methods=METHODS, batch_size=4, seed=5)
    b = compute_cams(model, "7", x, methods=METHODS, batch_size=4, seed=5)
    for method in METHODS:
        assert torch.equal(a.maps[method], b.maps[method])
    assert torch.equal(a.logits, b.logits)


def test_autocast_bf16_keeps_float32_maps_close_to_fp32(models):
    model, x = models["tiny"], _images(6, "autocast")
    full = compute_cams(model, "8", x, methods=METHODS, seed=0)
    half = compute_cams(model, "8", x, methods=METHODS, autocast="bf16", seed=0)
    for method in METHODS:
        assert half.maps[method].dtype == torch.float32
        a = normalize_maps(full.maps[method], size=(32, 32)).flatten()
        b = normalize_maps(half.maps[method], size=(32, 32)).flatten()
        assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.99, method
    assert half.logits.dtype == torch.float32


def test_ablation_with_skip_connection_split_equals_full_rerun(models, monkeypatch):
    """Cut inside a residual block: the suffix also needs the block input (the skip path)."""
    model, x = models["resnet18_imagenet_stem"], _images(2, "skip")
    layer = "layer3.0.bn1"
    split = compute_cams(model, layer, x, methods=("ablationcam",), ablation_chunk=200)
    assert split.ablation_split is True
    monkeypatch.setattr(engine, "split_at", lambda model, path: None)
    full = compute_cams(model, layer, x, methods=("ablationcam",), ablation_chunk=200)
    assert full.ablation_split is False
    torch.testing.assert_close(split.maps["ablationcam"], full.maps["ablationcam"])


class _Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, so AblationCAM falls back."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _tiny()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() < 0:
            x = -x
        return self.body(x)


def test_untraceable_model_falls_back_and_matches_oracle():
    model = _seeded("untraceable", _Untraceable)
    x = _images(4, "untraceable")
    res = compute_cams(model, "body.8", x, methods=("ablationcam", "gradcam"))
    assert res.ablation_split is False
    for method in ("ablationcam", "gradcam"):
        _assert_matches(method, res.maps[method], _oracle(method, model, "body.8", x))


def test_scorecam_constant_channels_share_one_forward():
    model = _seeded("constant", _tiny)
    with torch.no_grad():
        model[7].weight[:5].zero_()
        model[7].bias[:5].zero_()
    x = _images(4, "constant")
    rows = []
    handle = model.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
    try:
        res = compute_cams(model, "8", x, methods=("scorecam",), score_chunk=1000)
    finally:
        handle.remove()
    acts = model[:9](x)
    live = int((acts.flatten(2).amax(-1) != acts.flatten(2).amin(-1)).sum())
    assert live < 4 * 24
    assert rows == [4, live, 1]  # main pass, live masked inputs, one shared zero image
    _assert_matches("scorecam", res.maps["scorecam"], _oracle("scorecam", model, "8", x))


def test_hooks_and_state_restored_also_on_error(models):
    model = _seeded("state", _tiny)
    model.train()
    model[1].eval()
    model[0].weight.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]

    def untouched() -> None:
        assert [m.training for m in model.modules()] == modes
        assert [p.requires_grad for p in model.parameters()] == flags
        assert all(p.grad is None for p in model.parameters())
        for module in model.modules():
            assert not module._forward_hooks and not module._forward_pre_hooks

    x = _images(5, "state")
    compute_cams(model, "8", x, methods=METHODS, batch_size=2, seed=0)
    untouched()
    with pytest.raises(ValueError, match="targets must lie"):
        compute_cams(model, "8", x, methods=METHODS, targets=torch.full((5,), 99), seed=0)
    untouched()

    def boom(module, args, output):
        raise RuntimeError("boom")

    handle = model[10].register_forward_hook(boom)
    with pytest.raises(RuntimeError, match="boom"):
        compute_cams(model, "8", x, methods=METHODS, seed=0)
    handle.remove()
    untouched()


def test_bad_arguments_name_what_is_wrong(models):
    model, x = models["tiny"], _images(2, "bad")
    with pytest.raises(ValueError, match=r"'gradkam'.*gradcam, gradcampp"):
        compute_cams(model, "8", x, methods=("gradcam", "gradkam"))
    with pytest.raises(ValueError, match=r"'layer4'.*0, 1, 2"):
        compute_cams(model, "layer4", x, methods=METHODS)
    with pytest.raises(ValueError, match=r"'layer9'.*closest: layer4"):
        compute_cams(models["resnet18"], "layer9", x, methods=METHODS)
    with pytest.raises(ValueError, match="targets must have shape"):
        compute_cams(model, "8", x, methods=METHODS, targets=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="float N×C×H×W"):
        compute_cams(model, "8", (x * 255).to(torch.uint8), methods=METHODS)
    with pytest.raises(ValueError, match="autocast"):
        compute_cams(model, "8", x, methods=METHODS, autocast="fp8")
    with pytest.raises(ValueError, match="ran 2 times"):
        compute_cams(models["resnet18"], "layer4.0.relu", x, methods=METHODS, seed=0)
    with pytest.raises(
        ValueError, match="randomcam draws random weights: pass compute_cams a seed"
    ):
        compute_cams(model, "8", x, methods=("gradcam", "randomcam"))
    nested = nn.Sequential(model[:9], nn.AdaptiveAvgPool2d(1), nn.Flatten(), model[11])
    assert compute_cams(nested, "0.8", x, methods="gradcam").maps["gradcam"].shape == (2, 8, 8)


def test_normalize_maps_constant_maps_are_zero_and_types_round_trip():
    maps = torch.stack([torch.full((4, 4), 3.0), -torch.rand(4, 4), torch.rand(4, 4)])
    out = normalize_maps(maps, size=(16, 16))
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    assert torch.equal(out[:2], torch.zeros(2, 16, 16))
    assert out[2].min() == 0 and out[2].max() == 1
    as_numpy = normalize_maps(maps.numpy().astype(np.float16))
    assert isinstance(as_numpy, np.ndarray) and as_numpy.dtype == np.float32
    assert as_numpy.shape == (3, 4, 4) and not np.isnan(as_numpy).any()
    with pytest.raises(ValueError, match="NaN"):
        normalize_maps(torch.tensor([[[0.0, float("nan")]]]))
    with pytest.raises(ValueError, match="size"):
        normalize_maps(maps, size=(0, 4))


@pytest.mark.parametrize("shape", [(5, 12, 3, 4), (4, 6, 5, 5)])  # h·w ≤ C and h·w > C
def test_eigen_projection_against_numpy_svd_with_sign_rule(shape):
    n, c, h, w = shape
    feats = torch.randn(*shape, generator=torch_generator("test_cam", "eigen", *shape))
    ours = principal_projection(feats).numpy()
    for i, f in enumerate(feats.numpy()):
        pixels = f.reshape(c, -1).T
        mean = pixels.mean(axis=0)
        _, _, vt = np.linalg.svd(pixels - mean, full_matrices=False)
        v = vt[0] if mean @ vt[0] >= 0 else -vt[0]
        np.testing.assert_allclose(ours[i], ((pixels - mean) @ v).reshape(h, w), atol=1e-5)
        assert (pixels @ v).sum() >= 0
    # The rule makes the map independent of the features' overall sign.
    np.testing.assert_allclose(principal_projection(-feats).numpy(), ours, atol=1e-5)


def _mobilenet_v2_bottleneck() -> nn.Module:
    """Random-init MobileNetV2 with batch norm calibrated on random images (so activations keep
    unit scale instead of vanishing to ~1e-10 logits) and logits scaled to a trained net's spread
    (std ≈ 7): its linear-bottleneck outputs are about half negative."""
    model = torchvision.models.mobilenet_v2(num_classes=10)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # a plain average over the calibration batch
    with torch.no_grad():
        model.train()(_images(32, "mobilenet calibration", size=64))
        model.classifier[1].weight.mul_(30.0)
    return model.eval()


def _reference_map(method: str, acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """The published formula of `method` in numpy, in the dtype of `acts` and `grads`."""
    spatial = (2, 3)
    pos = np.maximum(grads, 0)
    if method == "gradcam":
        return np.einsum("nc,nchw->nhw", grads.mean(axis=spatial), acts)
    if method == "gradcampp":
        g2 = grads**2
        denom = 2 * g2 + acts.sum(axis=spatial, keepdims=True) * g2 * grads + 1e-6
        alpha = np.where(grads != 0, g2 / denom, 0)
        return np.einsum("nc,nchw->nhw", (pos * alpha).sum(axis=spatial), acts)
    if method == "xgradcam":
        share = acts / (acts.sum(axis=spatial, keepdims=True) + 1e-7)
        return np.einsum("nc,nchw->nhw", (grads * share).sum(axis=spatial), acts)
    if method == "hirescam":
        return (grads * acts).sum(axis=1)
    if method == "gradcamelementwise":
        return np.maximum(grads * acts, 0).sum(axis=1)
    assert method == "layercam"
    return (pos * acts).sum(axis=1)


def test_map_formulas_in_float64_on_negative_activations():
    """On a linear bottleneck (activations of both signs) GradCAM++'s 2g² + ΣA·g³ and XGrad-CAM's
    ΣA nearly cancel. Measured on this layer and batch: the same formulas in float32 move single
    normalised maps by up to 1.2e-3 (GradCAM++) and 7.7e-6 (XGrad-CAM) against float64,
    pytorch-grad-cam by 1.0e-3 and 9.0e-6, the engine computing in float32 (before) by 5.0e-4 and
    3.8e-6; in float64 it differs by 0."""
    model = _seeded("mobilenet_v2", _mobilenet_v2_bottleneck)
    layer, x = "features.3.conv.3", _images(16, "mobilenet", size=64)
    store: list[torch.Tensor] = []
    handle = model.get_submodule(layer).register_forward_hook(lambda m, a, out: store.append(out))
    logits = model(x)
    handle.remove()
    (grads,) = torch.autograd.grad(logits.gather(1, logits.argmax(1)[:, None]).sum(), store[0])
    acts, grads = store[0].detach().double().numpy(), grads.double().numpy()
    assert 0.3 < (acts < 0).mean() < 0.7

    methods = ("gradcam", "gradcampp", "xgradcam", "hirescam", "gradcamelementwise", "layercam")
    res = compute_cams(model, layer, x, methods=methods)
    float32_error = {}
    for method in methods:
        reference = normalize_maps(_reference_map(method, acts, grads))
        ours = normalize_maps(res.maps[method].numpy())
        assert np.abs(ours - reference).max() < 1e-5, method
        single = _reference_map(method, acts.astype(np.float32), grads.astype(np.float32))
        float32_error[method] = np.abs(normalize_maps(single) - reference).max()
    # The layer is ill-conditioned enough that float32 fails the same bound.
    assert float32_error["gradcampp"] > 1e-4


def test_maps_flat_up_to_rounding_are_degenerate():
    """A spread after the ReLU within 1e-6 of the map's magnitude is float rounding, not a
    saliency pattern: the map comes out all zero, and the metrics flag the pair degenerate."""
    base = torch.rand(4, 4, generator=torch_generator("test_cam", "flat"))
    ulps = torch.arange(16.0).reshape(4, 4) % 3
    maps = torch.stack(
        [
            1.0 + ulps * 1.2e-7,  # constant up to two float32 ulps: spread 2.4e-7
            torch.where(base > 0.5, 2e-7 * base, -1.0 - base),  # positive part 2e-7 of 2
            1e-13 * base,  # tiny but a real pattern (the rule is scale-free)
            base - 0.5,
        ]
    )
    assert maps.dtype == torch.float32 and len(set(maps[0].flatten().tolist())) == 3
    out = normalize_maps(maps, size=(8, 8))
    assert torch.equal(out[:2], torch.zeros(2, 8, 8))
    for k in (2, 3):
        assert out[k].min() == 0 and out[k].max() == 1

    preds = np.zeros(4, dtype=np.int64)
    clean = {"maps": {"gradcam": (base - 0.5).expand(4, 4, 4).numpy().copy()}, "preds": preds}
    noisy = {"1": {"maps": {"gradcam": maps.numpy()}, "preds": preds}}
    keys = {"dataset": "d", "model": "m", "arch": "a", "regularizer": "r", "seed": 0, "noise": "n"}
    table = per_image_table(clean, noisy, preds, None, (8, 8), keys=keys)
    assert table["degenerate"].tolist() == [True, True, False, False]


# --- transformers: token (ViT, DeiT, registers) and channels-last (Swin) layer outputs ---


def _tv_vit() -> nn.Module:
    return torchvision.models.VisionTransformer(
        image_size=32,
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        mlp_dim=64,
        num_classes=10,
    )


def _tv_swin() -> nn.Module:
    return torchvision.models.SwinTransformer(
        patch_size=[4, 4],
        embed_dim=16,
        depths=[1, 1],
        num_heads=[1, 2],
        window_size=[2, 2],
        num_classes=10,
    )


#: a two-block, 32-wide ViT on 32-pixel images with 8-pixel patches (a 4×4 grid)
_TINY_TIMM_VIT = dict(img_size=32, patch_size=8, depth=2, embed_dim=32, num_heads=2)


def _timm(name: str, **kwargs):
    """A builder of a random-init timm model with 10 classes."""
    return lambda: timm.create_model(name, pretrained=False, num_classes=10, **kwargs)


# A ViT with two register tokens besides the class token (3 prefix tokens), a DeiT with class
# and distillation tokens (2), a two-stage Swin.
_timm_vit = _timm("vit_tiny_patch16_224", reg_tokens=2, **_TINY_TIMM_VIT)
_timm_deit_distilled = _timm("deit_tiny_distilled_patch16_224", **_TINY_TIMM_VIT)
_timm_swin = _timm(
    "swin_tiny_patch4_window7_224",
    img_size=32,
    window_size=2,
    embed_dim=16,
    depths=(1, 1),
    num_heads=(1, 2),
)


def _lively(build):
    """A builder whose model has the spread of a trained one: at initialisation LayerNorms are
    the identity affine (their outputs then average to zero over channels, so near-uniform
    channel weights cancel to rounding noise) and torchvision's ViT head is all zero."""

    def built() -> nn.Module:
        model = build()
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_(0.0, 0.5)
                elif isinstance(module, nn.Linear) and not module.weight.any():
                    module.weight.normal_(0.0, 3.0 / module.in_features**0.5)
        return model

    return built


def _tokens_to_grid(prefix: int):
    """pytorch-grad-cam's reshape_transform for ViTs (its tutorial's, with `prefix` tokens)."""

    def reshape(t: torch.Tensor) -> torch.Tensor:
        side = int(round((t.shape[1] - prefix) ** 0.5))
        return t[:, prefix:, :].reshape(t.shape[0], side, side, t.shape[2]).permute(0, 3, 1, 2)

    return reshape


def _nhwc_to_grid(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 3, 1, 2)


class _ZeroingAblationVit:
    """pytorch-grad-cam's ViT ablation layer, made to zero the channel on the patches only.

    Its own AblationLayerVit writes min − 1e7 where activations go negative (all transformer
    layers) and also ablates the class token; we zero the feature map's channel (docs/cams.md).
    """

    def __new__(cls, prefix: int):
        from pytorch_grad_cam.ablation_layer import AblationLayerVit

        class Zeroing(AblationLayerVit):
            def __call__(self, x):
                out = self.activations
                for i in range(out.size(0)):
                    if out.ndim == 3:
                        out[i, prefix:, self.indices[i]] = 0
                    else:
                        out[i, :, :, self.indices[i]] = 0
                return out

        return Zeroing()


TRANSFORMERS = {
    # name: (builder, default layer, pytorch-grad-cam reshape_transform, prefix tokens)
    "tv_vit": (_tv_vit, "encoder.layers.encoder_layer_1.ln_1", _tokens_to_grid(1), 1),
    "tv_swin": (_tv_swin, "features.3", _nhwc_to_grid, 0),
    "timm_vit": (_timm_vit, "blocks.1.norm1", _tokens_to_grid(3), 3),
    "timm_deit": (_timm_deit_distilled, "blocks.1.norm1", _tokens_to_grid(2), 2),
    "timm_swin": (_timm_swin, "layers.1", _nhwc_to_grid, 0),
}


@pytest.mark.parametrize("arch", list(TRANSFORMERS))
def test_transformers_match_pytorch_grad_cam_with_its_reshape_transform(arch):
    """Every method, at the family's default layer, against pytorch-grad-cam given the layout
    as its reshape_transform (AblationCAM: its ViT ablation layer, zeroing; see the class).
    Both run the model in float64: transformer layers have activations of both signs, and in
    float32 the two disagree by up to 3.6e-4 (HiResCAM, timm Swin; 1e-4 elsewhere)."""
    build, layer, reshape, prefix = TRANSFORMERS[arch]
    model, x = _seeded(arch, _lively(build)).double(), _images(4, arch).double()
    targets = torch.tensor([0, 3, 6, 9])  # several classes: one class's maps may all be < 0
    res = compute_cams(model, None, x, methods=METHODS, targets=targets, batch_size=3, seed=0)
    assert res.layer == layer
    assert torch.equal(res.preds, model(x).argmax(1))
    for method in METHODS:
        side = 32 if method in INPUT_RESOLUTION else 4
        assert res.maps[method].shape == (4, side, side), method
        # a pattern in some map (degenerate, all-zero maps would match each other trivially)
        assert bool((normalize_maps(res.maps[method]).flatten(1).amax(1) == 1).any()), method
        if method in PLACEBOS:
            continue
        if method == "shapleycam":
            oracle = _shapley_reference(model, layer, x, targets, reshape)
        else:
            zeroing = _ZeroingAblationVit(prefix)
            oracle = _oracle(method, model, layer, x, targets, reshape, ablation_layer=zeroing)
        _assert_matches(method, res.maps[method], oracle)
    # LayerNorm, GELU and attention are curved: ShapleyCAM's Hessian term moves the map (by
    # 6e-4 on these Swins, 1e-2 or more on the ViTs; float64 rounding is 1e-15)
    shapley, gradcam = (normalize_maps(res.maps[m]) for m in ("shapleycam", "gradcam"))
    assert (shapley - gradcam).abs().max() > 1e-4


def _shapley_reference(model, layer, x, targets, reshape) -> np.ndarray:
    """ShapleyCAM's formula with torch.autograd.functional's Hessian-vector product, normalised
    at the image size. pytorch-grad-cam 1.5.7's ShapleyCAM cannot serve here: it weights the
    activations before its reshape_transform, so it fails on token and channels-last layers."""
    module = model.get_submodule(layer)
    store: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda m, args, out: store.append(out))
    model(x)
    handle.remove()
    acts = store[0].detach()

    def score(replacement: torch.Tensor) -> torch.Tensor:
        swap = module.register_forward_hook(lambda m, args, out: replacement)
        try:
            return model(x).gather(1, targets[:, None]).sum()
        finally:
            swap.remove()

    with sdpa_kernel([SDPBackend.MATH]):
        _, hvp = torch.autograd.functional.hvp(score, acts, v=acts)
        grads = torch.autograd.functional.jacobian(score, acts)
    a, g, h = (reshape(t) for t in (acts, grads, hvp))
    weights = (g - 0.5 * h).mean(dim=(2, 3))
    cam = torch.einsum("nc,nchw->nhw", weights, a)
    return normalize_maps(cam, size=tuple(x.shape[-2:])).numpy()


def test_layout_override_equals_family_default_and_inverts_for_ablation(monkeypatch):
    """layout='tokens' + prefix_tokens on a wrapped ViT gives the family's maps; AblationCAM
    through the traced split equals full forwards with the re-tokenised ablated maps."""
    model, x = _seeded("tv_vit", _tv_vit), _images(2, "override")
    layer = "encoder.layers.encoder_layer_1.ln_1"
    auto = compute_cams(model, layer, x, methods=("gradcam", "ablationcam"))
    manual = compute_cams(
        model, layer, x, methods=("gradcam", "ablationcam"), layout="tokens", prefix_tokens=1
    )
    assert auto.ablation_split is True
    for method in ("gradcam", "ablationcam"):
        torch.testing.assert_close(auto.maps[method], manual.maps[method])
    monkeypatch.setattr(engine, "split_at", lambda model, path: None)
    full = compute_cams(model, layer, x, methods=("ablationcam",))
    assert full.ablation_split is False
    torch.testing.assert_close(full.maps["ablationcam"], auto.maps["ablationcam"])


def test_unrecognised_layouts_are_errors_naming_layer_and_shape(models):
    x = _images(2, "layouts")
    swin = _seeded("tv_swin", _tv_swin)
    # Swin's stage output is 2×4×4×32: read as N×C×H×W (what the engine did before families)
    # it gives 4×32 maps; the override that says so is honoured, the family default is right.
    wrong = compute_cams(swin, "features.3", x, methods=("gradcam",), layout="nchw")
    assert wrong.maps["gradcam"].shape == (2, 4, 32)
    assert compute_cams(swin, "features.3", x, methods=("gradcam",)).maps["gradcam"].shape == (
        2,
        4,
        4,
    )
    vit = _seeded("tv_vit", _tv_vit)
    with pytest.raises(
        ValueError, match=r"'encoder.ln' outputs shape \(2, 17, 32\), not the N×C×H×W"
    ):
        compute_cams(vit, "encoder.ln", x, methods=("gradcam",), layout="nchw")
    with pytest.raises(
        ValueError, match=r"'encoder.ln' outputs shape \(2, 17, 32\): 15 tokens after 2"
    ):
        compute_cams(vit, "encoder.ln", x, methods=("gradcam",), layout="tokens", prefix_tokens=2)
    with pytest.raises(ValueError, match=r"'heads' outputs shape \(2, 10\), not the N×C×H×W"):
        compute_cams(vit, "heads", x, methods=("gradcam",))
    with pytest.raises(ValueError, match=r"'fc' outputs shape \(2, 10\)"):
        compute_cams(models["resnet18"], "fc", x, methods=("gradcam",))
    with pytest.raises(ValueError, match="layout must be one of nchw, nhwc, tokens"):
        compute_cams(vit, None, x, methods=METHODS, layout="NHWC")
    with pytest.raises(ValueError, match="prefix_tokens needs layout='tokens'"):
        compute_cams(vit, None, x, methods=METHODS, prefix_tokens=1)
    with pytest.raises(ValueError, match="prefix_tokens must be an integer ≥ 0, got -1"):
        compute_cams(vit, None, x, methods=METHODS, layout="tokens", prefix_tokens=-1)


@pytest.mark.parametrize(
    ("arch", "layer"),
    [
        ("resnet18", "layer4"),
        ("resnet18_imagenet_stem", "layer4"),
        ("vgg11_bn", "features"),
        ("densenet121", "features"),
        ("tiny", "8"),
    ],
)
def test_default_target_layer_of_cnns_is_the_last_conv_stage(models, arch, layer):
    res = compute_cams(models[arch], None, _images(1, "default", size=64), methods=("gradcam",))
    assert res.layer == layer


def test_layer_names_take_negative_indices_and_misses_list_closest_names():
    vit = _seeded("timm_vit", _timm_vit)
    x = _images(2, "names")
    by_index = compute_cams(vit, "blocks.-1.norm1", x, methods=("gradcam",))
    assert by_index.layer == "blocks.1.norm1"
    torch.testing.assert_close(
        by_index.maps["gradcam"], compute_cams(vit, None, x, methods=("gradcam",)).maps["gradcam"]
    )
    with pytest.raises(
        ValueError,
        match=r"'blocks.1.norm' is not a module.*closest: blocks.1.norm2, blocks.1.norm1",
    ):
        compute_cams(vit, "blocks.1.norm", x, methods=METHODS)
