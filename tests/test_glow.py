"""Glow: exact invertibility, log-determinant vs a numerical Jacobian, actnorm init, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import norm

from camrobust.data.shapes import make_shapes
from camrobust.models import Glow, quantise
from camrobust.models.glow import PRIOR_LOGS_BOUND, ActNorm, InvConv1x1, squeeze2d, unsqueeze2d
from camrobust.train.generative import load_generative, save_generative, train_glow
from camrobust.train.settings import GlowSettings


def _random_glow(dtype: torch.dtype = torch.float32, spread: float = 0.02, **kwargs) -> Glow:
    """A small Glow on 8×8 images, initialised on data, then every parameter moved off its
    (partly zero) initial value so that no part of the flow is an identity. Larger spreads make
    the flow ill-conditioned in float32."""
    torch.manual_seed(0)
    glow = Glow(**{"scales": 2, "steps_per_scale": 2, "hidden": 8, **kwargs}).to(dtype)
    with torch.no_grad():
        glow.nll_bpd(torch.rand(16, 3, 8, 8, dtype=dtype))
        for p in glow.parameters():
            p.add_(spread * torch.randn_like(p))
    return glow


def test_squeeze_is_pixel_unshuffle_and_inverts() -> None:
    x = torch.randn(2, 3, 8, 6)
    torch.testing.assert_close(squeeze2d(x), F.pixel_unshuffle(x, 2), rtol=0, atol=0)
    torch.testing.assert_close(unsqueeze2d(squeeze2d(x)), x, rtol=0, atol=0)


def test_actnorm_data_init_gives_zero_mean_unit_variance() -> None:
    layer = ActNorm(4)
    x = torch.randn(32, 4, 5, 5) * torch.tensor([0.1, 2.0, 5.0, 1.0]).view(1, 4, 1, 1) + 3.0
    y = layer(x)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        y.var(dim=(0, 2, 3), unbiased=False), torch.ones(4), atol=1e-4, rtol=0
    )
    before = [p.clone() for p in layer.parameters()]
    layer(torch.randn(8, 4, 5, 5))  # later batches do not re-initialise
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))
    assert bool(layer.initialized)
    torch.testing.assert_close(layer.inverse(y), x, rtol=1e-5, atol=1e-5)


def test_invconv_logdet_and_inverse() -> None:
    torch.manual_seed(0)
    layer = InvConv1x1(6)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.2 * torch.randn_like(p))
    lower, upper = layer._factors()
    w = layer.perm @ lower @ upper
    x = torch.randn(2, 6, 3, 5)
    torch.testing.assert_close(layer(x), torch.einsum("oc,nchw->nohw", w, x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.logdet(3, 5), 15 * torch.linalg.slogdet(w)[1])
    torch.testing.assert_close(layer.inverse(layer(x)), x, rtol=1e-5, atol=1e-5)


def test_latent_shapes_match_lvat_at_32x32() -> None:
    torch.manual_seed(0)
    glow = Glow(scales=3, steps_per_scale=1, hidden=4)
    y, z = glow.to_latent(torch.rand(2, 3, 32, 32))
    assert y.shape == (2, 24, 4, 4) and z.shape == (2, 168, 4, 4)


def test_decode_inverts_encode_and_from_latent_requantises() -> None:
    glow = _random_glow()
    x = torch.rand(4, 3, 8, 8)
    x_in = glow.dequantised(x, torch.Generator().manual_seed(1))
    y, z, _ = glow.encode(x_in)
    torch.testing.assert_close(glow.decode(y, z), x_in, rtol=1e-4, atol=1e-5)
    out = glow.from_latent(glow.to_latent(x))
    torch.testing.assert_close(out, quantise(x, 5), rtol=0, atol=0)
    expected = torch.floor(torch.round(x * 255) / 8) * 8 / 255
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-7)


def test_prior_log_scale_is_bounded_so_far_latents_decode_finite() -> None:
    """A kept half far off the data makes the priors' log-scale huge; it stays within the bound,
    the flow stays an exact bijection, and decoding gives finite, saturated pixels."""
    glow = _random_glow()
    with torch.no_grad():
        for prior in glow.priors:
            prior.conv.bias[1::2] = 500.0  # log-scales far past exp()'s float32 range
    keep = torch.randn(2, glow.priors[0].conv.in_channels, 4, 4)
    _, logs = glow._prior(glow.priors[0], keep)
    assert logs.max() <= PRIOR_LOGS_BOUND and logs.max() > 0.99 * PRIOR_LOGS_BOUND
    x_in = glow.dequantised(torch.rand(2, 3, 8, 8))
    y, z, _ = glow.encode(x_in)
    torch.testing.assert_close(glow.decode(y, z), x_in, rtol=1e-4, atol=1e-4)
    out = glow.from_latent((y + 50.0, z + 50.0))
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_from_latent_gradient_is_straight_through() -> None:
    glow = _random_glow()
    y, z = (t.detach().requires_grad_() for t in glow.to_latent(torch.rand(2, 3, 8, 8)))
    weights = torch.randn(2, 3, 8, 8)
    (weights * glow.from_latent((y, z))).sum().backward()
    y2, z2 = y.detach().requires_grad_(), z.detach().requires_grad_()
    (weights * glow.decode(y2, z2) * (32 * 8 / 255)).sum().backward()
    assert y.grad.abs().sum() > 0 and z.grad.abs().sum() > 0
    torch.testing.assert_close(y.grad, y2.grad)
    torch.testing.assert_close(z.grad, z2.grad)


def test_logdet_and_nll_match_numerical_jacobian() -> None:
    glow = _random_glow(torch.float64, spread=0.1)
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    x_in = glow.dequantised(x)

    def flow(flat: torch.Tensor) -> torch.Tensor:
        y, z, _ = glow.encode(flat.view(1, 3, 8, 8))
        return torch.cat([y.flatten(), z.flatten()])

    jac = torch.autograd.functional.jacobian(flow, x_in.flatten())
    assert jac.shape == (192, 192)
    sign, logabsdet = torch.linalg.slogdet(jac)
    y, z, logdet = glow.encode(x_in)
    assert sign != 0
    torch.testing.assert_close(logdet, logabsdet.view(1), rtol=1e-9, atol=1e-8)
    # nll in bits/dim from scipy's normal log-density and the numerical log-determinant
    latent = torch.cat([y.flatten(), z.flatten()]).detach().numpy()
    nll = -(norm.logpdf(latent).sum() + logabsdet.item()) + 192 * math.log(32)
    bpd = glow.nll_bpd(x)
    np.testing.assert_allclose(bpd.item(), nll / (192 * math.log(2)), rtol=1e-10)


def test_bad_inputs_raise() -> None:
    torch.manual_seed(0)
    fresh = Glow(scales=2, steps_per_scale=1, hidden=4)
    with pytest.raises(ValueError, match="not initialised"):
        fresh.decode(torch.zeros(1, 12, 2, 2), torch.zeros(1, 36, 2, 2))
    with pytest.raises(ValueError, match="multiples of 4"):
        fresh.nll_bpd(torch.rand(1, 3, 6, 6))
    glow = _random_glow()
    with pytest.raises(ValueError, match="two parts"):
        glow.from_latent((torch.zeros(1, 12, 2, 2),))
    with pytest.raises(ValueError, match="latents must be"):
        glow.decode(torch.zeros(1, 12, 2, 2), torch.zeros(1, 35, 2, 2))
    with pytest.raises(ValueError, match="bits"):
        Glow(bits=9)


TINY = dict(scales=2, steps_per_scale=2, hidden=8, bits=5, batch_size=16, lr=2e-3)


def test_training_decreases_nll_is_deterministic_and_round_trips(tmp_path) -> None:
    images = make_shapes(48, size=16, seed=0)["images"]
    settings = GlowSettings(**TINY, steps=30, log_every=10, seed=0, device="cpu")
    glow, history = train_glow(images, settings, progress=False)
    losses = [row["loss"] for row in history]
    assert [row["step"] for row in history] == [10, 20, 30]
    assert np.all(np.isfinite(losses)) and losses[2] < losses[0] - 0.2
    again, history_again = train_glow(images, settings, progress=False)
    assert history_again == history
    for (k, a), b in zip(glow.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k

    path = tmp_path / "glow.pt"
    save_generative(path, glow, {"steps": 30}, history)
    loaded = load_generative(path, "cpu")
    assert isinstance(loaded, Glow) and not loaded.training and loaded.initialized
    assert not any(p.requires_grad for p in loaded.parameters())
    x = torch.rand(3, 3, 16, 16)  # new data: a re-initialised actnorm would change the outputs
    with torch.no_grad():
        torch.testing.assert_close(loaded.nll_bpd(x), glow.nll_bpd(x), rtol=0, atol=0)
        y, z = glow.to_latent(x)
        ly, lz = loaded.to_latent(x)
        torch.testing.assert_close((ly, lz), (y, z), rtol=0, atol=0)
        torch.testing.assert_close(loaded.from_latent((y, z)), quantise(x), rtol=0, atol=0)
