"""ZCA whitening: the official vat_tf formula (scipy SVD oracle), whitening, inverse, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from cifar_like import cifar_like

from camrobust.data.zca import ZCAWhitening


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return cifar_like(1500, seed=1, size=8)  # 192 dimensions: full rank, quick to fit


def test_fit_is_the_official_formula_and_whitens(images):
    zca = ZCAWhitening.fit(images)
    flat = images.transpose(0, 3, 1, 2).reshape(len(images), -1) / 255.0
    mean = flat.mean(0)
    sigma = (flat - mean).T @ (flat - mean) / len(flat)
    u, s, _ = scipy.linalg.svd(sigma)
    official = (u * (1 / np.sqrt(s) + 1e-6)) @ u.T  # vat_tf dataset_utils.ZCA
    np.testing.assert_allclose(zca.mean.numpy().ravel(), mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(zca.components.numpy(), official, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(zca.inverse.numpy() @ official, np.eye(192), atol=1e-8)

    x = torch.from_numpy(images).permute(0, 3, 1, 2).double() / 255.0
    (z,) = zca.to_latent(x)
    assert z.shape == x.shape and z.dtype == torch.float64
    cov = np.cov(z.flatten(1).numpy(), rowvar=False, bias=True)
    np.testing.assert_allclose(cov, np.eye(192), atol=1e-4)  # whitened: identity covariance
    torch.testing.assert_close(zca.from_latent((z,)), x, rtol=0, atol=1e-10)
    x32 = x[:50].float()
    (z32,) = zca.to_latent(x32)
    assert z32.dtype == torch.float32
    torch.testing.assert_close(zca.from_latent((z32,)), x32, rtol=0, atol=1e-6)


def test_bad_inputs_raise(images):
    with pytest.raises(ValueError, match="uint8"):
        ZCAWhitening.fit(images.astype(np.float32))
    with pytest.raises(ValueError, match="more training images than dimensions: 100 <= 192"):
        ZCAWhitening.fit(images[:100])
    with pytest.raises(ValueError, match="exceed the limit"):
        ZCAWhitening.fit(np.zeros((10, 64, 64, 3), np.uint8))
    flat = np.repeat(images[:, :, :, :1], 3, axis=3)  # grey: rank 64 of 192
    with pytest.raises(ValueError, match="singular"):
        ZCAWhitening.fit(flat)
    zca = ZCAWhitening.fit(images)
    with pytest.raises(ValueError, match="expects N×3×8×8"):
        zca.to_latent(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="one part"):
        zca.from_latent((torch.rand(2, 3, 8, 8),) * 2)
