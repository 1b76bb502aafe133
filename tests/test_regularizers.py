"""VAT / LVAT losses: the checks of docs/training.md against scipy and against the real tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
from torch import nn

from camrobust.config import schema_defaults
from camrobust.data.shapes import make_shapes
from camrobust.models import VAE, Glow, build_classifier
from camrobust.train.regularizers import (
    REGULARIZERS,
    RngState,
    adversarial_direction,
    decoder_of,
    entropy_with_logits,
    frozen_bn_stats,
    get_regularizer,
    identity_decode,
    kl_with_logits,
    latent_parts,
    normalize,
    regularization_loss,
    virtual_adversarial_loss,
)

CPU = torch.device("cpu")

DEFAULTS = schema_defaults("regularizer")  # eps, xi, alpha, entmin


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    data = make_shapes(12, seed=3)["images"]
    return torch.from_numpy(data).permute(0, 3, 1, 2).float() / 255.0


def _classifier() -> nn.Module:
    torch.manual_seed(0)
    return build_classifier("cnn13", 10, width=0.0625)  # has dropout and batch norm


def _frozen(model: nn.Module) -> nn.Module:
    return model.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def vae() -> VAE:
    torch.manual_seed(1)
    return _frozen(VAE(latent_dim=8, channels=(8, 16, 32), image_size=32))


@pytest.fixture(scope="module")
def glow(images) -> Glow:
    torch.manual_seed(2)
    model = Glow(scales=2, steps_per_scale=2, hidden=8)
    with torch.no_grad():
        model.encode(model.dequantised(images))  # actnorm data-dependent initialisation
    return _frozen(model)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _norms(t: torch.Tensor) -> np.ndarray:
    return t.flatten(1).norm(dim=1).detach().double().numpy()


def test_normalize_is_per_sample_unit_direction():
    v = (
        torch.randn(5, 3, 4, 4, generator=_gen(), dtype=torch.float64)
        * torch.logspace(-3, 3, 5)[:, None, None, None].double()
    )
    out = normalize(v).numpy()
    flat = v.flatten(1).numpy()
    expected = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    np.testing.assert_allclose(out.reshape(5, -1), expected, rtol=1e-6, atol=1e-9)
    zero = normalize(torch.zeros(2, 7))
    assert torch.equal(zero, torch.zeros(2, 7))


def test_kl_and_entropy_match_scipy():
    q, p = torch.randn(6, 10, generator=_gen(1)), torch.randn(6, 10, generator=_gen(2))
    pq, pp = scipy.special.softmax(q.numpy(), 1), scipy.special.softmax(p.numpy(), 1)
    expected_kl = scipy.special.rel_entr(pq, pp).sum(1).mean()
    assert kl_with_logits(q, p).item() == pytest.approx(expected_kl, rel=1e-5)
    assert kl_with_logits(q, q).item() == pytest.approx(0.0, abs=1e-6)
    expected_ent = scipy.stats.entropy(pq, axis=1).mean()
    assert entropy_with_logits(q).item() == pytest.approx(expected_ent, rel=1e-5)


def _clean(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, RngState]:
    rng = RngState.capture(CPU)
    with frozen_bn_stats(model), torch.no_grad():
        return model(x), rng


@pytest.mark.parametrize("kind", ["vat", "vae", "glow"])
def test_r_adv_has_norm_eps_per_sample_and_part_and_gradient_is_nonzero(kind, images, vae, glow):
    model = _classifier().train()
    generative = {"vat": None, "vae": vae, "glow": glow}[kind]
    parts = latent_parts(generative, images)
    assert len(parts) == {"vat": 1, "vae": 1, "glow": 2}[kind]
    clean, rng = _clean(model, images)
    eps = {"vat": 2.5, "vae": 1.0, "glow": 1.5}[kind]
    grads = adversarial_direction(model, parts, decoder_of(generative), clean, 1e-6, _gen(), rng)
    for g, p in zip(grads, parts, strict=True):
        assert g.shape == p.shape
        assert (_norms(g) > 0).all()
    loss, r_adv = virtual_adversarial_loss(
        model, parts, decoder_of(generative), clean, eps, 1e-6, _gen(), rng
    )
    assert len(r_adv) == len(parts)
    for r in r_adv:
        np.testing.assert_allclose(_norms(r), eps, rtol=1e-5)
    assert torch.isfinite(loss) and loss.item() > 0


def test_power_iteration_finds_a_more_damaging_direction_than_random(images):
    """In float64 the finite difference with xi=1e-6 is exact enough to see the Hessian."""
    model = _classifier().double().eval()
    with torch.no_grad():
        model.fc.weight.mul_(100.0)  # confident predictions: a KL curvature well above rounding
    x = images.double()
    eps = 0.5
    with torch.no_grad():
        clean = model(x)
    loss, _ = virtual_adversarial_loss(model, (x,), identity_decode, clean, eps, 1e-6, _gen())
    with torch.no_grad():
        random_losses = [
            kl_with_logits(clean, model(x + eps * normalize(torch.randn(x.shape, generator=g))))
            for g in (
                _gen(
                    s,
                )
                for s in range(10, 30)
            )
        ]
    assert loss.item() > max(r.item() for r in random_losses)


def test_kl_target_is_clean_prediction_on_the_original_image(images, vae):
    model = _classifier().eval()  # eval: deterministic, so the oracle can recompute every pass
    with torch.no_grad():
        model.fc.weight.mul_(100.0)  # confident predictions, so the KL values are far from 0
    with torch.no_grad():
        clean = model(images)
    parts = vae.to_latent(images)
    loss, (r,) = virtual_adversarial_loss(model, parts, vae.from_latent, clean, 3.0, 1e-6, _gen())
    with torch.no_grad():
        p = scipy.special.softmax(model(images).double().numpy(), 1)
        q = scipy.special.softmax(model(vae.from_latent((parts[0] + r,))).double().numpy(), 1)
        p_rec = scipy.special.softmax(model(vae.from_latent(parts)).double().numpy(), 1)
    assert loss.item() == pytest.approx(scipy.special.rel_entr(p, q).sum(1).mean(), rel=1e-3)
    against_reconstruction = scipy.special.rel_entr(p_rec, q).sum(1).mean()
    assert abs(loss.item() - against_reconstruction) > 1e-3 * loss.item()


def _bn_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.named_buffers()}


@pytest.mark.parametrize("name", ["vat", "lvat_vae", "lvat_glow"])
def test_unlabeled_passes_leave_bn_stats_and_generative_model_untouched(name, images, vae, glow):
    model = _classifier().train()
    generative = {"vat": None, "lvat_vae": vae, "lvat_glow": glow}[name]
    gen_state = (
        {} if generative is None else {k: v.clone() for k, v in generative.state_dict().items()}
    )
    before = _bn_buffers(model)
    reg = get_regularizer(name)
    params = reg.params({**DEFAULTS, "eps": 1.0, "entmin": True})
    rng = RngState.capture(CPU)
    with frozen_bn_stats(model):
        clean = model(images)
    loss = regularization_loss(reg, params, model, images, clean, generative, _gen(), rng)
    loss.backward()
    for k, v in _bn_buffers(model).items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is not None for p in model.parameters())  # the classifier does learn
    if generative is not None:
        assert all(p.grad is None for p in generative.parameters())
        for k, v in generative.state_dict().items():
            assert torch.equal(v, gen_state[k]), k
    model(images)  # a labeled pass does update the running statistics
    after = _bn_buffers(model)
    assert not torch.equal(
        after["features.conv1.1.running_mean"], before["features.conv1.1.running_mean"]
    )
    assert (
        after["features.conv1.1.num_batches_tracked"]
        == before["features.conv1.1.num_batches_tracked"] + 1
    )


def _record_dropout(model: nn.Module) -> list[torch.Tensor]:
    masks: list[torch.Tensor] = []

    def hook(_module, inputs, output):
        masks.append(((output == 0) & (inputs[0] != 0)).detach().clone())

    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.register_forward_hook(hook)
    return masks


@pytest.mark.parametrize("replay", [True, False])
def test_clean_and_perturbed_passes_share_the_dropout_mask(replay, images):
    model = _classifier().train()
    masks = _record_dropout(model)
    n_dropout = sum(isinstance(m, nn.Dropout) for m in model.modules())
    assert n_dropout == 2
    clean, rng = _clean(model, images)
    reg = get_regularizer("vat")
    regularization_loss(
        reg,
        reg.params({**DEFAULTS, "eps": 2.0}),
        model,
        images,
        clean,
        None,
        _gen(),
        rng if replay else None,
    )
    assert len(masks) == 3 * n_dropout  # clean, power-iteration and adversarial passes
    clean_masks, power_masks, adv_masks = (masks[i : i + 2] for i in range(0, 6, 2))
    assert all(m.sum() > 0 for m in clean_masks)
    pairs = zip(clean_masks + clean_masks, power_masks + adv_masks, strict=True)
    same = [torch.equal(a, b) for a, b in pairs]
    assert all(same) if replay else not any(same)


def test_registry_and_parameter_errors():
    assert REGULARIZERS == ("erm", "vat", "lvat_vae", "lvat_glow")
    with pytest.raises(ValueError, match="unknown regularizer 'mixup'"):
        get_regularizer("mixup")
    with pytest.raises(ValueError, match="unknown reg_params"):
        get_regularizer("vat").params({**DEFAULTS, "epsilon": 1.0})
    with pytest.raises(ValueError, match=r"missing reg_params \['xi', 'alpha', 'entmin'\]"):
        get_regularizer("lvat_vae").params({"eps": 1.0})
    with pytest.raises(ValueError, match="unknown reg_params"):
        get_regularizer("erm").params({"eps": 1.0})
    # No defaults of its own: what the config validated passes through unchanged.
    assert get_regularizer("vat").params({**DEFAULTS, "eps": 2.5}) == {**DEFAULTS, "eps": 2.5}
