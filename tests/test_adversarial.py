"""FGSM/PGD mechanics: the L-inf budget, the attack definitions, the model left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from camrobust.noise import ATTACKS, AttackSettings, attack

SEED = (0, "test", "pgd")
PGD = {"steps": 10, "step_fraction": 0.25, "random_start": True}
OPTIONS = {"fgsm": {}, "pgd": PGD}


def run(model: nn.Module, clean: np.ndarray, name: str, eps: int, **options) -> np.ndarray:
    """`attack` with eps in 1/255 levels and the attack's options (PGD's defaults overridden)."""
    settings = AttackSettings(name, eps, {**OPTIONS[name], **options}, 256, "cpu", SEED)
    return attack(model, clean, settings, progress=False)


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 4),
    )


def images(n: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def as_float(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255


@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("eps_levels", [1, 3, 8])
def test_attacks_stay_within_eps_in_uint8_levels(name, eps_levels):
    clean = images()
    adv = run(small_model(), clean, name, eps_levels)
    assert adv.dtype == np.uint8 and adv.shape == clean.shape
    change = np.abs(adv.astype(int) - clean)
    assert change.max() == eps_levels
    assert np.mean(change > 0) > 0.5


def test_fgsm_is_one_signed_gradient_step_against_the_clean_prediction():
    model, clean, eps = small_model().eval(), images(), 6
    x = as_float(clean).requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, logits.argmax(1).detach())  # mean: same sign as the sum
    (grad,) = torch.autograd.grad(loss, x)
    expected = torch.round(torch.clamp(x + eps / 255 * grad.sign(), 0, 1) * 255).to(torch.uint8)
    adv = run(model, clean, "fgsm", eps)
    assert np.array_equal(adv, expected.permute(0, 2, 3, 1).numpy())


def test_one_pgd_step_of_eps_from_the_clean_image_is_fgsm():
    model, clean, eps = small_model(), images(), 4
    fgsm = run(model, clean, "fgsm", eps)
    pgd = run(model, clean, "pgd", eps, steps=1, step_fraction=1.0, random_start=False)
    assert np.array_equal(fgsm, pgd)


def test_both_attacks_raise_the_loss_of_the_clean_prediction():
    model, clean, eps = small_model().eval(), images(32), 4
    target = model(as_float(clean)).argmax(1)

    def loss(batch: np.ndarray) -> float:
        with torch.no_grad():
            return F.cross_entropy(model(as_float(batch)), target).item()

    fgsm = run(model, clean, "fgsm", eps)
    pgd = run(model, clean, "pgd", eps, steps=10)
    assert loss(fgsm) > loss(clean) + 0.02
    assert loss(pgd) > loss(clean) + 0.02


def test_pgd_is_seeded_and_eps_zero_is_identity():
    model, clean = small_model(), images()
    a = run(model, clean, "pgd", 2)
    b = run(model, clean, "pgd", 2)
    one = {**PGD, "steps": 1}
    c = attack(
        model, clean, AttackSettings("pgd", 2, one, 256, "cpu", (1, "other")), progress=False
    )
    d = run(model, clean, "pgd", 2, steps=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(c, d)
    for name in ATTACKS:
        assert np.array_equal(run(model, clean, name, 0), clean)


def test_model_mode_flags_and_statistics_are_restored():
    model = small_model().train()
    model[0].weight.requires_grad_(False)
    model[1].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attack(
        model,
        images(),
        AttackSettings("pgd", 4, {**PGD, "steps": 2}, 5, "cpu", SEED),
        progress=False,
    )
    assert model.training and not model[1].training and model[4].training
    assert not model[0].weight.requires_grad and model[0].bias.requires_grad
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "cw"}, "noise.adversarial: unknown attack 'cw'"),
        ({"options": {"steps": 3}}, r"noise.adversarial.pgd: reads \['steps'"),
        ({"seed": None}, "noise.adversarial.pgd.random_start needs a seed"),
        ({"eps": -1}, "noise.adversarial.pgd.eps must be a whole number"),
        ({"options": {**PGD, "steps": 0}}, "noise.adversarial.pgd.steps must be > 0"),
        ({"batch_size": 0}, "noise.batch_size must be > 0"),
    ],
)
def test_bad_settings_raise_naming_the_config_key(kwargs, match):
    """A bad value fails when the settings are built, before any image is touched."""
    kwargs = {"name": "pgd", "eps": 4, "options": PGD, "seed": SEED, "batch_size": 8} | kwargs
    with pytest.raises(ValueError, match=match):
        AttackSettings(**kwargs, device="cpu")


def test_images_that_are_not_uint8_raise():
    with pytest.raises(ValueError, match="images: need a uint8"):
        attack(
            small_model(),
            images(2).astype(np.float32),
            AttackSettings("fgsm", 4, {}, 8, "cpu", None),
        )
