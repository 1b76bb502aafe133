"""Sensitivity metrics against Quantus 0.6.0 on the same model, explanations and noise draws."""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from test_faithfulness import _net
from torch import nn

from camrobust.cam import METHODS, compute_cams, normalize_maps
from camrobust.quality.noise import linf_noise
from camrobust.quality.sensitivity import SENSITIVITY_METRICS, copy_scores, sensitivity
from camrobust.seeding import derive_seed, torch_generator

LAYER = "4"  # the second conv block's ReLU: 8×8 maps for 16×16 images
SIZE = 16
N_IMAGES, N_SAMPLES, RADIUS, SEED = 4, 5, 0.1, 3

QUANTUS = {
    "max_sensitivity": quantus.MaxSensitivity,
    "avg_sensitivity": quantus.AvgSensitivity,
    "local_lipschitz": quantus.LocalLipschitzEstimate,
    "relative_input_stability": quantus.RelativeInputStability,
    "relative_output_stability": quantus.RelativeOutputStability,
}


def _model() -> nn.Module:
    with torch.random.fork_rng():
        # A seed under which the noise changes some images' class and not others'.
        torch.manual_seed(derive_seed("test_sensitivity", "model", 0))
        return _net(width=8, pooled=8).eval()  # no pooling before the head: noise matters


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return _model()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(N_IMAGES, 3, SIZE, SIZE, generator=torch_generator("test_sensitivity", "x"))


def _explain(method: str):
    """Quantus' explain_func: the project's normalised maps, one image per engine batch."""

    def explain(model, inputs, targets, **kwargs) -> np.ndarray:
        out = compute_cams(
            model, LAYER, torch.as_tensor(inputs), [method], torch.as_tensor(targets).long(), 1
        )
        return normalize_maps(out.maps[method], size=(SIZE, SIZE)).numpy()

    return explain


def _replay(n_images: int):
    """Quantus' perturb_func: step k adds draw k of every image, exactly as `sensitivity` does."""
    noise = torch.stack(
        [linf_noise(SEED, i, N_SAMPLES, (3, SIZE, SIZE), RADIUS) for i in range(n_images)]
    )
    step = iter(range(N_SAMPLES))

    def perturb(arr: np.ndarray, **kwargs) -> np.ndarray:
        k = next(step)
        return (torch.from_numpy(arr) + noise[:, k].flatten(1)).numpy()

    return perturb


def _quantus(metric: str, method: str, model, images, clean_maps, targets, nan: bool) -> np.ndarray:
    quantus_metric = QUANTUS[metric](
        nr_samples=N_SAMPLES,
        perturb_func=_replay(len(images)),
        return_nan_when_prediction_changes=nan,
        disable_warnings=True,
    )
    scores = quantus_metric(
        model=model,
        x_batch=images.numpy(),
        y_batch=targets,
        a_batch=clean_maps,
        explain_func=_explain(method),
        device="cpu",
        batch_size=len(images),
    )
    return np.asarray(scores, dtype=np.float64)


# RandomCAM draws other weights in every engine call, so Quantus' calls cannot repeat its maps.
COMPARED = tuple(m for m in METHODS if m != "randomcam")


@pytest.mark.parametrize("nan", [False, True])
def test_every_metric_and_method_equals_quantus(model, images, nan):
    ours = sensitivity(
        model, LAYER, images, COMPARED, n_samples=N_SAMPLES, radius=RADIUS, seed=SEED,
        nan_when_prediction_changes=nan, batch_size=1,
    )  # fmt: skip
    # The check is only meaningful if some images keep their class in every copy and some not.
    assert 0 < int((ours.n_changed > 0).sum()) < N_IMAGES
    clean = compute_cams(model, LAYER, images, COMPARED, batch_size=1)
    for method in COMPARED:
        clean_maps = normalize_maps(clean.maps[method], size=(SIZE, SIZE)).numpy()
        for metric in SENSITIVITY_METRICS:
            expected = _quantus(metric, method, model, images, clean_maps, ours.targets, nan)
            got = ours.scores[method][metric]
            assert np.array_equal(np.isnan(got), np.isnan(expected)), (method, metric)
            assert np.isnan(got).all() == (nan and bool((ours.n_changed > 0).all()))
            np.testing.assert_allclose(
                got[~np.isnan(got)],
                expected[~np.isnan(expected)],
                rtol=1e-4,
                err_msg=f"{method} {metric}",
            )


def test_constant_maps_have_zero_sensitivity():
    x = torch.rand(2, 3, 8, 8, generator=torch_generator("test_sensitivity", "const"))
    copies = x[:, None] + linf_noise(0, 0, 3, (3, 8, 8), 0.1)
    h = torch.randn(2, 10, generator=torch_generator("test_sensitivity", "h"))
    h_copies = h[:, None] + 0.1
    for value in (0.0, 0.5):
        e = torch.full((2, 8, 8), value)
        scores = copy_scores(x, copies, e, e[:, None].expand(2, 3, 8, 8), h, h_copies)
        for name, per_copy in scores.items():
            assert per_copy.shape == (2, 3)
            assert torch.equal(per_copy, torch.zeros(2, 3, dtype=torch.float64)), name


def test_zero_map_that_changes_has_infinite_sensitivity():
    x = torch.zeros(1, 1, 2, 2)
    e = torch.zeros(1, 2, 2)
    e_copies = torch.ones(1, 1, 2, 2)
    h = torch.zeros(1, 3)
    scores = copy_scores(x, x[:, None] + 0.1, e, e_copies, h, h[:, None])
    assert torch.isinf(scores["sensitivity"]).all()
    # Quantus' RIS: ‖(0 − 1)/1e-6‖ over 4 pixels / ‖(0 − 0.1)/1e-6‖ over 4 pixels = 10.
    assert scores["relative_input_stability"].item() == pytest.approx(10.0)


def test_scores_do_not_depend_on_the_batch_size(model, images):
    kwargs = {"n_samples": N_SAMPLES, "radius": RADIUS, "seed": SEED}
    small = sensitivity(model, LAYER, images, ["gradcam", "scorecam"], batch_size=1, **kwargs)
    large = sensitivity(model, LAYER, images, ["gradcam", "scorecam"], batch_size=64, **kwargs)
    np.testing.assert_array_equal(small.n_changed, large.n_changed)
    for method in ("gradcam", "scorecam"):
        for metric in SENSITIVITY_METRICS:
            np.testing.assert_allclose(
                small.scores[method][metric], large.scores[method][metric], rtol=1e-4
            )


def test_given_clean_cams_are_used_as_computed(model, images):
    kwargs = {"n_samples": N_SAMPLES, "radius": RADIUS, "seed": SEED}
    clean = compute_cams(model, LAYER, images, ["gradcam", "fem"])
    given = sensitivity(model, LAYER, images, ["gradcam", "fem"], clean=clean, **kwargs)
    own = sensitivity(model, LAYER, images, ["gradcam", "fem"], **kwargs)
    for method in ("gradcam", "fem"):
        for metric in SENSITIVITY_METRICS:
            np.testing.assert_array_equal(given.scores[method][metric], own.scores[method][metric])
    with pytest.raises(ValueError, match="clean CAMs"):
        sensitivity(model, LAYER, images, ["gradcam"], clean=clean, **kwargs)


def test_bad_arguments_name_what_is_wrong(model, images):
    with pytest.raises(ValueError, match="n_samples"):
        sensitivity(model, LAYER, images, ["gradcam"], n_samples=0)
    with pytest.raises(ValueError, match="radius"):
        sensitivity(model, LAYER, images, ["gradcam"], radius=0)
    with pytest.raises(ValueError, match="unknown CAM method"):
        sensitivity(model, LAYER, images, ["nocam"])
