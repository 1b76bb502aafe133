"""ERM, VAT and latent-space VAT (LVAT) losses, ported from the official VAT and LVAT code.

VAT perturbs the input; LVAT perturbs the latent code of a frozen generative model and decodes
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Parts = tuple[torch.Tensor, ...]


def normalize(v: torch.Tensor) -> torch.Tensor:
    """Per-sample unit direction as the official code computes it (max-abs, then L2, with eps)."""
    dims = tuple(range(1, v.dim()))
    v = v / (1e-12 + v.abs().amax(dim=dims, keepdim=True))
    return v / torch.sqrt(1e-6 + v.pow(2).sum(dim=dims, keepdim=True))


def kl_with_logits(q_logits: torch.Tensor, p_logits: torch.Tensor) -> torch.Tensor:
    """Batch mean of KL(softmax(q) || softmax(p)), as `kl_divergence_with_logit` in vat_tf."""
    q_log = F.log_softmax(q_logits, dim=1)
    return (q_log.exp() * (q_log - F.log_softmax(p_logits, dim=1))).sum(dim=1).mean()


def entropy_with_logits(logits: torch.Tensor) -> torch.Tensor:
    """Batch mean of the entropy of softmax(logits) (the EntMin term of VAT+EntMin)."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()


@contextlib.contextmanager
def frozen_bn_stats(model: nn.Module) -> Iterator[None]:
    """Batch norm uses batch statistics but leaves running averages and counters untouched."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [bn.track_running_stats for bn in bns]
    try:
        for bn in bns:
            # In train mode, a BN layer that does not track stats normalises with the batch
            # statistics and is handed no running buffers to update.
            bn.track_running_stats = False
        yield
    finally:
        for bn, flag in zip(bns, saved, strict=True):
            bn.track_running_stats = flag


@dataclass(frozen=True)
class RngState:
    """The global torch RNG state (CPU, and CUDA when used) at one instant, for replaying."""

    cpu: torch.Tensor
    cuda: torch.Tensor | None = None
    cuda_index: int | None = None

    @classmethod
    def capture(cls, device: torch.device) -> RngState:
        """Snapshot the generators that dropout on `device` draws from."""
        if device.type == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            return cls(torch.get_rng_state(), torch.cuda.get_rng_state(index), index)
        return cls(torch.get_rng_state())

    def restore(self) -> None:
        """Rewind the global generators, so the next forward pass draws the same dropout mask."""
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.cuda_index)


def _classify(
    model: nn.Module, decode: Callable[[Parts], torch.Tensor], parts: Parts, rng: RngState | None
) -> torch.Tensor:
    """Logits of the decoded parts: batch statistics, no running-average update, replayed mask."""
    x = decode(parts)
    if rng is not None:
        rng.restore()
    with frozen_bn_stats(model):
        return model(x)


def identity_decode(parts: Parts) -> torch.Tensor:
    """VAT's decoder: the single part is the input image itself."""
    (x,) = parts
    return x


@contextlib.contextmanager
def full_fp32_precision() -> Iterator[None]:
    """TF32 off for CUDA convolutions and matmuls (restored afterwards): with its 10-bit mantissa
    a finite-difference step of relative size 1e-4 would be rounded away."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def finite_difference_step(part: torch.Tensor, xi: float) -> torch.Tensor:
    """Absolute step of the power iteration for one part: `xi` times the root-mean-square over the
    batch of the per-sample L2 norms (1 for an all-zero batch), so it stays above the rounding of
    float32 whatever the part's scale; one scalar, like the official absolute xi."""
    norms = part.detach().flatten(1).norm(dim=1)
    rms = norms.square().mean().sqrt()
    return xi * torch.where(rms > 0, rms, torch.ones_like(rms))


def adversarial_direction(
    model: nn.Module,
    parts: Parts,
    decode: Callable[[Parts], torch.Tensor],
    clean_logits: torch.Tensor,
    xi: float,
    generator: torch.Generator,
    rng: RngState | None = None,
) -> Parts:
    """One power iteration: g = grad_d KL(p(.|x) || p(.|Dec(parts + s*normalize(d)))), d~N(0,I),
    with s = `finite_difference_step(part, xi)` and TF32 off for this pass."""
    target = clean_logits.detach()
    # d is drawn in float32 whatever the parts' dtype, so a float64 check sees the same d.
    ds = tuple(
        (
            finite_difference_step(p, xi)
            * normalize(torch.randn(p.shape, generator=generator, device=p.device).to(p.dtype))
        ).requires_grad_()
        for p in parts
    )
    with full_fp32_precision():
        logits = _classify(model, decode, tuple(p + d for p, d in zip(parts, ds, strict=True)), rng)
        # Only the gradients to d are asked for: weight gradients of this pass are never computed.
        return torch.autograd.grad(kl_with_logits(target, logits), ds)


def virtual_adversarial_loss(
    model: nn.Module,
    parts: Parts,
    decode: Callable[[Parts], torch.Tensor],
    clean_logits: torch.Tensor,
    eps: float,
    xi: float,
    generator: torch.Generator,
    rng: RngState | None = None,
) -> tuple[torch.Tensor, Parts]:
    """(KL(p(.|x) || p(.|Dec(parts + r_adv))), r_adv) with r_adv = eps*normalize(g) per part."""
    parts = tuple(p.detach() for p in parts)
    grads = adversarial_direction(model, parts, decode, clean_logits, xi, generator, rng)
    r_adv = tuple(eps * normalize(g) for g in grads)
    with torch.no_grad():
        # r_adv is a constant, so the decoded adversarial input needs no graph of its own.
        x_adv = decode(tuple(p + r for p, r in zip(parts, r_adv, strict=True)))
    logits = _classify(model, identity_decode, (x_adv,), rng)
    return kl_with_logits(clean_logits.detach(), logits), r_adv


@dataclass(frozen=True)
class Regularizer:
    """One regulariser: the hyper-parameters it reads and whether it needs a generative model."""

    name: str
    keys: tuple[str, ...] = ()
    needs_generative: bool = False

    @property
    def adversarial(self) -> bool:
        """True for the (latent) virtual adversarial regularisers."""
        return "eps" in self.keys

    def params(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """`given` (validated by the config, defaults from config/schema.yaml), exactly `keys`."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.keys))
        missing = [k for k in self.keys if k not in given]
        if unknown or missing:
            what = f"unknown reg_params {unknown}" if unknown else f"missing reg_params {missing}"
            raise ValueError(
                f"regularizer '{self.name}': {what}; it reads {list(self.keys) or 'none'}"
            )
        return given


# xi is relative to the parts' scale (finite_difference_step); whiten: VAT in ZCA coordinates.
_ADVERSARIAL = ("eps", "xi", "alpha", "entmin")

REGISTRY: dict[str, Regularizer] = {
    "erm": Regularizer("erm"),
    "vat": Regularizer("vat", (*_ADVERSARIAL, "whiten")),
    "lvat_vae": Regularizer("lvat_vae", _ADVERSARIAL, needs_generative=True),
    "lvat_glow": Regularizer("lvat_glow", _ADVERSARIAL, needs_generative=True),
}
REGULARIZERS: tuple[str, ...] = tuple(REGISTRY)


def get_regularizer(name: str) -> Regularizer:
    """The registered regulariser `name`, or a ValueError listing the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown regularizer '{name}'; allowed: {', '.join(REGULARIZERS)}")
    return REGISTRY[name]


def latent_parts(generative: nn.Module | None, x: torch.Tensor) -> Parts:
    """The parts VAT perturbs: the image itself, or the frozen generative model's latent code."""
    if generative is None:
        return (x,)
    with torch.no_grad():
        parts = generative.to_latent(x)
    return tuple(parts) if isinstance(parts, Sequence) else (parts,)


def decoder_of(generative: nn.Module | None) -> Callable[[Parts], torch.Tensor]:
    """The decode function matching `latent_parts`."""
    return identity_decode if generative is None else generative.from_latent


def regularization_loss(
    reg: Regularizer,
    params: dict[str, Any],
    model: nn.Module,
    x_ul: torch.Tensor,
    clean_logits: torch.Tensor,
    generative: nn.Module | None,
    generator: torch.Generator,
    rng: RngState | None,
) -> torch.Tensor | None:
    """alpha * L_(l)vat (+ entropy for EntMin) on the unlabeled batch; None for ERM."""
    if not reg.adversarial:
        return None
    parts = latent_parts(generative, x_ul)
    loss, _ = virtual_adversarial_loss(
        model,
        parts,
        decoder_of(generative),
        clean_logits,
        float(params["eps"]),
        float(params["xi"]),
        generator,
        rng,
    )
    loss = float(params["alpha"]) * loss
    if params["entmin"]:
        loss = loss + entropy_with_logits(clean_logits)
    return loss
