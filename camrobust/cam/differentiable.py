"""CAMs as differentiable functions of the input, for attacks on the explanation.

`differentiable_cams` computes the raw maps of the one-pass methods with the autograd graph back
to the images: the target-layer gradients come from `torch.autograd.grad(create_graph=True)`, so
a loss on a gradient-based map backpropagates through them (double backward). AblationCAM has
no such form; its stand-in is its first-order Taylor expansion, the channel weights
Σ_ij ∂y/∂A_cij · A_cij / y, which equals AblationCAM wherever the network after the target layer
is affine in the activations (global average pooling and a linear head, as the project's
ResNets). ScoreCAM is left out (`camrobust.explanation_names.LEFT_OUT`).

A ReLU network's gradients are piecewise constant in its input, so the second derivative the
gradient-based maps need is zero almost everywhere. `smooth_relus` replaces every ReLU (and
leaky ReLU) by a softplus of sharpness β while it is active (Dombrowski et al., NeurIPS 2019),
without touching the model: only the attack's surrogate gradient runs inside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from camrobust.cam.families import check_override, choose_layout, default_target_layer, find_family
from camrobust.cam.layers import find_layer, user_name
from camrobust.cam.methods import GRADIENT_METHODS, MAP_FUNCTIONS, check_methods, weighted_sum

#: methods differentiated through a stand-in map (see the module docstring)
SURROGATES = frozenset({"ablationcam"})
#: map functions left without a differentiable form: KPCA-CAM's map is a kernel matrix's top
#: eigenvector, whose sign rule flips discontinuously between nearby inputs
NOT_DIFFERENTIATED = frozenset({"kpcacam"})
#: every method `differentiable_cams` computes
DIFFERENTIABLE_METHODS = (frozenset(MAP_FUNCTIONS) - NOT_DIFFERENTIATED) | SURROGATES
#: methods whose map reads the target-layer gradients (their attack needs the second derivative)
READS_GRADIENTS = GRADIENT_METHODS | SURROGATES

_RELUS = frozenset({F.relu, F.relu_, torch.relu, torch.relu_, Tensor.relu, Tensor.relu_})
_LEAKY_RELUS = frozenset({F.leaky_relu, F.leaky_relu_})


class _SoftplusForRelu(TorchFunctionMode):
    """ReLU calls become softplus_β, leaky ReLU(a) calls a·x + (1 - a)·softplus_β(x)."""

    def __init__(self, beta: float) -> None:
        super().__init__()
        self.beta = beta

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        if func in _RELUS:
            return F.softplus(args[0], beta=self.beta)
        if func in _LEAKY_RELUS:
            slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
            x = args[0]
            return slope * x + (1.0 - slope) * F.softplus(x, beta=self.beta)
        return func(*args, **kwargs)


@contextlib.contextmanager
def smooth_relus(beta: float) -> Iterator[None]:
    """Inside: ReLU(x) computes softplus_β(x) = log(1 + e^{βx})/β (functional calls and modules
    alike); in-place ReLUs return a new tensor instead of writing their input."""
    if not beta > 0:
        raise ValueError(f"softplus_beta must be positive, got {beta!r}")
    with _SoftplusForRelu(float(beta)):
        yield


def ablation_surrogate(acts: Tensor, grads: Tensor, scores: Tensor) -> Tensor:
    """AblationCAM's first-order map: weights Σ_ij g·A divided by the target score y (not where
    y == 0, as AblationCAM), times the activations."""
    drop = (grads * acts).sum(dim=(2, 3))
    base = scores[:, None].to(drop.dtype)
    return weighted_sum(drop / torch.where(base == 0, torch.ones_like(base), base), acts)


def differentiable_cams(
    model: nn.Module,
    target_layer: str | None,
    images: Tensor,
    methods: Sequence[str],
    targets: Tensor,
    *,
    layout: str | None = None,
    prefix_tokens: int | None = None,
) -> tuple[dict[str, Tensor], Tensor]:
    """Raw float64 maps N×h×w of `methods` for classes `targets`, with the graph back to `images`
    (which should require grad), and the logits. The model's mode and flags are left as they are:
    callers put it in eval mode with frozen parameters (`camrobust.cam.state.frozen_eval`)."""
    names = check_methods(methods)
    if not images.requires_grad:
        raise ValueError(
            "images must require grad: the maps are differentiated with respect to them"
        )
    unknown = [m for m in names if m not in DIFFERENTIABLE_METHODS]
    if unknown:
        raise ValueError(f"no differentiable form of {', '.join(unknown)}")
    family = find_family(model)
    check_override(layout, prefix_tokens)
    if target_layer is None:
        target_layer = default_target_layer(model, images[:1].detach())
    full_path, layer = find_layer(model, target_layer)
    target_layer = user_name(model, full_path)
    outputs: list[Tensor] = []

    def keep(module: nn.Module, args: object, output: Tensor) -> Tensor:
        outputs.append(output)
        return output.clone()  # later in-place ops must not change the kept activations

    handle = layer.register_forward_hook(keep)
    try:
        logits = model(images)
    finally:
        handle.remove()
    if len(outputs) != 1:
        raise ValueError(f"target_layer '{target_layer}' ran {len(outputs)} times in one forward")
    raw = outputs[0]
    shape = choose_layout(family, layer, raw.ndim, layout, prefix_tokens)
    hw = (images.shape[-2], images.shape[-1])
    acts = shape.to_grid(raw, hw, target_layer).double()
    scores = logits.gather(1, targets[:, None])[:, 0]
    grads = None
    if any(m in READS_GRADIENTS for m in names):
        (grad,) = torch.autograd.grad(scores.sum(), raw, create_graph=True)
        grads = shape.to_grid(grad, hw, target_layer).double()
    maps = {
        m: ablation_surrogate(acts, grads, scores)
        if m in SURROGATES
        else MAP_FUNCTIONS[m](acts, grads)
        for m in names
    }
    return maps, logits
