"""The explanation attack: double backward through the CAMs against finite differences, the
softplus surrogate, the attack's guarantees (kept class, budget, stronger than random noise,
reproducible), its rows in the per-image table, its config and its figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from camrobust.cam import compute_cams, normalize_maps
from camrobust.cam.differentiable import (
    DIFFERENTIABLE_METHODS,
    NOT_DIFFERENTIATED,
    READS_GRADIENTS,
    differentiable_cams,
    smooth_relus,
)
from camrobust.cam.methods import MAP_FUNCTIONS, METHODS
from camrobust.cam.state import frozen_eval
from camrobust.cam.store import load_cams, only_methods, save_cams
from camrobust.config import SCHEMA, ConfigError, validate_config
from camrobust.data.shapes import make_shapes
from camrobust.data.tensors import to_model_input
from camrobust.explanation_names import (
    ATTACKED_METHODS,
    EXPLANATION_ATTACK,
    EXPLANATION_OPTIONS,
    LEFT_OUT,
    LINF_RANDOM,
    OBJECTIVES,
)
from camrobust.metrics import per_image_table
from camrobust.metrics.measures import similarity
from camrobust.models import build_classifier
from camrobust.noise.explanation import explanation_attack, random_vertex
from camrobust.noise.settings import ExplanationAttackSettings
from camrobust.plan import Plan
from camrobust.report import explanation_figure

EPS = 8


class Toy(nn.Module):
    """Conv, ReLU module (in place), the target conv, functional ReLU, 1×1 conv, leaky ReLU,
    linear head: every kind of ReLU call the surrogate has to smooth, after the target layer too."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.target = nn.Conv2d(4, 6, 3, padding=1, stride=2)
        self.mix = nn.Conv2d(6, 5, 1)
        self.leaky = nn.LeakyReLU(0.1)
        self.fc = nn.Linear(5 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.target(self.act(self.conv1(x)))
        return self.fc(self.leaky(self.mix(F.relu(h))).flatten(1))


def toy() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    return Toy().double().eval(), torch.rand(2, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 2])


def weighted_map(model, x, method, targets, weights) -> torch.Tensor:
    maps, _ = differentiable_cams(model, "target", x.requires_grad_(True), [method], targets)
    return (maps[method] * weights).sum()


# ---- double backward -----------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(DIFFERENTIABLE_METHODS))
def test_map_gradients_match_central_differences_in_float64(method):
    """d(Σ w·map)/dx by autograd (through the target-layer gradients: double backward) against
    central differences over every input coordinate, on the softplus surrogate of a ReLU net."""
    model, x, targets = toy()
    weights = torch.randn(2, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with frozen_eval(model), smooth_relus(5.0):
        leaf = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(weighted_map(model, leaf, method, targets, weights), leaf)
        step, numeric = 1e-6, torch.empty_like(x)
        for i in range(x.numel()):
            up, down = x.clone().view(-1), x.clone().view(-1)
            up[i] += step
            down[i] -= step
            f_up = weighted_map(model, up.view_as(x), method, targets, weights)
            f_down = weighted_map(model, down.view_as(x), method, targets, weights)
            numeric.view(-1)[i] = (f_up - f_down).detach() / (2 * step)
    error = (grad - numeric).norm() / numeric.norm()
    assert numeric.norm() > 0
    assert error <= 1e-4, f"{method}: relative error {error:.2e}"


def test_relu_networks_have_no_second_derivative_and_the_softplus_surrogate_has_one():
    """The target-layer gradient of a ReLU network is piecewise constant in the input, so a
    gradient-based map's attack sees only first-order terms; softplus_β gives them a slope."""
    model, x, targets = toy()

    def gradient_sum_slope() -> torch.Tensor:
        leaf = x.clone().requires_grad_(True)
        kept = []
        handle = model.target.register_forward_hook(lambda m, a, out: kept.append(out))
        try:
            score = model(leaf).gather(1, targets[:, None]).sum()
        finally:
            handle.remove()
        (g,) = torch.autograd.grad(score, kept[0], create_graph=True)
        return torch.autograd.grad((g * g).sum(), leaf, allow_unused=True)[0]

    with frozen_eval(model):
        plain = gradient_sum_slope()
        with smooth_relus(5.0):
            smooth = gradient_sum_slope()
    assert plain is None or float(plain.abs().max()) == 0.0
    assert float(smooth.abs().max()) > 1e-6


def test_smooth_relus_replaces_every_relu_call_and_leaves_the_model_alone():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    soft = F.softplus(x, beta=4.0)
    with smooth_relus(4.0):
        for out in (F.relu(x), torch.relu(x), x.relu(), nn.ReLU(inplace=True)(x.clone())):
            torch.testing.assert_close(out, soft)
        torch.testing.assert_close(nn.LeakyReLU(0.2)(x), 0.2 * x + 0.8 * soft)
    torch.testing.assert_close(F.relu(x), x.clamp(min=0))  # outside: a ReLU again
    with pytest.raises(ValueError, match="softplus_beta"), smooth_relus(0.0):
        pass


def resnet() -> nn.Module:
    torch.manual_seed(0)
    return build_classifier("resnet18", 10, width=0.125).eval()


def test_differentiable_maps_are_the_engines_and_ablations_surrogate_is_exact_on_resnets():
    """Without smoothing the maps are compute_cams' maps; AblationCAM's first-order stand-in equals
    AblationCAM where the network after the target layer is affine (pooling and a linear head)."""
    model = resnet()
    x = to_model_input(make_shapes(6, size=32, seed=1)["images"], "cpu")
    methods = sorted(DIFFERENTIABLE_METHODS)
    engine = compute_cams(model, "layer4", x, methods)
    with frozen_eval(model):
        maps, logits = differentiable_cams(
            model, "layer4", x.clone().requires_grad_(True), methods, engine.preds
        )
    torch.testing.assert_close(logits.detach(), engine.logits, rtol=1e-5, atol=1e-5)
    for method in methods:
        expected = engine.maps[method].double()
        scale = float(expected.abs().max())
        got = maps[method].detach()
        assert float((got - expected).abs().max()) <= 1e-4 * scale, method


def test_the_method_sets_agree():
    assert frozenset(DIFFERENTIABLE_METHODS) == ATTACKED_METHODS
    assert READS_GRADIENTS <= DIFFERENTIABLE_METHODS
    assert set(MAP_FUNCTIONS) - NOT_DIFFERENTIATED <= ATTACKED_METHODS
    assert set(LEFT_OUT) >= NOT_DIFFERENTIATED
    assert "scorecam" in LEFT_OUT and set(LEFT_OUT) <= set(METHODS) - ATTACKED_METHODS
    schema = yaml.safe_load(SCHEMA.read_text())["$defs"][EXPLANATION_ATTACK]["properties"]
    assert set(schema) == {"eps", *EXPLANATION_OPTIONS}
    assert schema["objective"]["enum"] == list(OBJECTIVES)


# ---- the attack ----------------------------------------------------------------------------------
OPTIONS = {
    "steps": 4,
    "step_fraction": 0.25,
    "objective": "topk",
    "top_k": 20,
    "softplus_beta": 10.0,
}


def attack(model, images, method, **options) -> object:
    settings = ExplanationAttackSettings(
        method, EPS, **{**OPTIONS, **options}, target_layer="layer4", layout=None,
        prefix_tokens=None, batch_size=5, device="cpu",
    )  # fmt: skip
    return explanation_attack(model, images, settings, progress=False)


def real_maps(model, images, method):
    result = compute_cams(model, "layer4", to_model_input(images, "cpu"), [method])
    return normalize_maps(result.maps[method], size=images.shape[1:3]), result.preds


@pytest.fixture(scope="module")
def shapes() -> np.ndarray:
    return make_shapes(10, size=32, seed=0)["images"]


@pytest.mark.parametrize("method", ["gradcam", "gradcampp", "eigencam", "ablationcam"])
def test_the_attack_keeps_the_class_respects_eps_and_beats_random_noise(shapes, method):
    model = resnet()
    result = attack(model, shapes, method)
    change = np.abs(result.images.astype(int) - shapes)
    assert result.images.dtype == np.uint8 and change.max() <= EPS
    clean, pred = real_maps(model, shapes, method)
    attacked, pred_attacked = real_maps(model, result.images, method)
    noisy, _ = real_maps(model, random_vertex(shapes, EPS, seed=(0, "test")), method)
    kept = torch.from_numpy(result.attacked)
    assert int(kept.sum()) >= 8  # the class survives nearly every walk at this budget
    assert torch.equal(pred_attacked[kept], pred[kept])  # on every image reported attacked
    assert not torch.any(pred_attacked[~kept] == pred[~kept])  # the others: the flipped last step
    assert np.isnan(result.score[~result.attacked]).all()
    assert (result.score[result.attacked] <= result.score_clean[result.attacked]).mean() >= 0.8
    iou_attack = similarity(clean, attacked, ["iou_top20"])["iou_top20"][kept].mean()
    iou_random = similarity(clean, noisy, ["iou_top20"])["iou_top20"][kept].mean()
    assert iou_attack < iou_random - 0.2, (float(iou_attack), float(iou_random))


def test_a_similarity_objective_lowers_that_similarity(shapes):
    model = resnet()
    result = attack(model, shapes, "eigencam", objective="pearson")
    clean, _ = real_maps(model, shapes, "eigencam")
    attacked, _ = real_maps(model, result.images, "eigencam")
    kept = torch.from_numpy(result.attacked)
    measured = similarity(clean, attacked, ["pearson"])["pearson"][kept].numpy()
    np.testing.assert_allclose(measured, result.score[result.attacked], atol=1e-4)
    assert measured.mean() < 0.9 and (result.score_clean == 1).all()


def test_the_attack_and_its_random_control_are_reproducible_to_the_byte(shapes):
    first, again = (attack(resnet(), shapes[:5], "gradcam", steps=2) for _ in range(2))
    for field in ("images", "attacked", "score_clean", "score"):
        assert getattr(first, field).tobytes() == getattr(again, field).tobytes(), field
    one, two = random_vertex(shapes, 4, (0, "a")), random_vertex(shapes, 4, (0, "a"))
    assert one.tobytes() == two.tobytes()
    assert one.tobytes() != random_vertex(shapes, 4, (0, "b")).tobytes()
    moved = one.astype(int) - shapes
    inside = (shapes >= 4) & (shapes <= 251)  # no clipping: every pixel at a vertex
    assert set(np.unique(moved[inside])) == {-4, 4}
    assert abs(float((moved[inside] > 0).mean()) - 0.5) < 0.02


def test_bad_options_raise():
    with pytest.raises(ValueError, match="objective: 'ssim'"):
        attack(resnet(), make_shapes(2, 32, 0)["images"], "gradcam", objective="ssim")
    with pytest.raises(ValueError, match="uint8"):
        attack(resnet(), np.zeros((2, 32, 32, 3)), "gradcam")


# ---- the per-image table, the store, the config and the figure ------------------------------
def test_attacked_rows_have_the_tables_schema_and_each_methods_own_predictions(tmp_path):
    rng = np.random.default_rng(0)
    maps = {m: rng.random((4, 2, 2)).astype(np.float32) for m in ("gradcam", "eigencam")}
    clean = {"maps": maps, "preds": np.array([1, 2, 3, 4])}
    own = {"gradcam": np.array([1, 2, 3, 0]), "eigencam": np.array([1, 0, 3, 4])}
    path = tmp_path / "cams.npz"
    save_cams(path, maps, np.zeros((4, 5)), own["gradcam"], own["gradcam"], method_preds=own)
    attacked = load_cams(path)
    assert {m: p.tolist() for m, p in attacked["method_preds"].items()} == {
        m: p.tolist() for m, p in own.items()
    }
    keys = {"dataset": "d", "model": "m", "arch": "a", "regularizer": "r", "seed": "0"}
    args = {"labels": np.zeros(4, int), "masks": None, "image_size": (4, 4)}
    rows = per_image_table(
        clean, {"8": attacked}, keys={**keys, "noise": EXPLANATION_ATTACK}, **args
    )
    plain = per_image_table(clean, {"8": clean}, keys={**keys, "noise": "gaussian"}, **args)
    assert list(rows.columns) == list(plain.columns)
    assert rows.dtypes.equals(plain.dtypes)
    for method, preds in own.items():
        sub = rows[rows["method"] == method]
        assert sub["pred_noisy"].tolist() == preds.tolist()
        assert sub["kept"].tolist() == (preds == clean["preds"]).tolist()
    assert list(only_methods(clean, ["eigencam"])["maps"]) == ["eigencam"]
    broken = {**attacked, "method_preds": {"gradcam": np.zeros(3, int)}}
    with pytest.raises(ValueError, match="predictions of 'gradcam' need one per image"):
        per_image_table(clean, {"8": broken}, keys={**keys, "noise": EXPLANATION_ATTACK}, **args)


def test_the_config_refuses_what_the_attack_cannot_do():
    base = {"noise": {"adversarial": {EXPLANATION_ATTACK: {"eps": [8]}}}}
    with pytest.raises(ConfigError, match="noise.adversarial.explanation_attack: none of"):
        validate_config({**base, "cam": {"methods": ["scorecam"]}})
    with pytest.raises(ConfigError, match="report.grid_noise: the explanation attack"):
        validate_config({**base, "report": {"grid_noise": EXPLANATION_ATTACK}})
    plan = Plan(validate_config({**base, "cam": {"methods": ["scorecam", "gradcam", "fem"]}}))
    assert plan.noises[-2:] == [LINF_RANDOM, EXPLANATION_ATTACK]
    assert plan.levels(LINF_RANDOM) == plan.levels(EXPLANATION_ATTACK) == ["8"]
    assert plan.explanation_methods == ["gradcam", "fem"] and EXPLANATION_ATTACK not in plan.attacks
    assert plan.cam.explanation_params("resnet18-erm-s0")["left_out"] == ["scorecam"]
    assert "explanation_attack" in plan.figures
    assert "explanation_attack" not in Plan(validate_config({})).figures


def test_the_figure_draws_both_noises_per_method_and_marks_placebos(monkeypatch):
    rows = []
    for model, method, noise in [
        (mo, me, no)
        for mo in ("m0", "m1")
        for me in ("gradcam", "eigencam", "scorecam")
        for no in (LINF_RANDOM, EXPLANATION_ATTACK, "gaussian")
        if not (me == "scorecam" and no == EXPLANATION_ATTACK)
    ]:
        c = {LINF_RANDOM: 0.8, EXPLANATION_ATTACK: 0.4, "gaussian": 0.9}[noise]
        c += 0.1 * (model == "m1")
        for level in ("4", "8", "all"):
            rows.append({"dataset": "s", "model": model, "method": method, "noise": noise,
                         "level": level, "measure": "ssim", "consistency": c,
                         "consistency_lo": c - 0.05, "consistency_hi": c + 0.05})  # fmt: skip
    robust = pd.DataFrame(rows)
    means = explanation_figure.consistency_by_method(robust, "ssim")
    assert means.loc[("8", "gradcam", EXPLANATION_ATTACK), "consistency"] == pytest.approx(0.45)
    assert ("8", "scorecam", EXPLANATION_ATTACK) not in means.index
    monkeypatch.setattr(explanation_figure, "PLACEBOS", frozenset({"eigencam"}))
    fig = explanation_figure.build_explanation_attack(robust, "ssim")
    assert [ax.get_title() for ax in fig.axes] == ["eps 4/255", "eps 8/255"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["gradcam", "eigencam (placebo)", "scorecam (not attacked)"]
