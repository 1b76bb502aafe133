"""FullGrad (Srinivas & Fleuret 2019) as pytorch-grad-cam 1.5.7 computes it, batched.

The map is the input-gradient term |x ⊙ ∂y/∂x| plus, for every 2-D convolution and batch norm
with a bias, the bias-gradient term |b ⊙ ∂y/∂z| (z the layer's output); each channel of each
term is min–max scaled on its own (eps 1e-7), upsampled to the input size and summed. It ignores
the target layer and needs its own forward and a backward through the whole network.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: pytorch-grad-cam's `scale_cam_image` divides by max + 1e-7
SCALE_EPS = 1e-7


def bias_of(layer: nn.Module) -> Tensor | None:
    """The bias FullGrad reads: a convolution's own, or batch norm's implicit bias in eval mode
    (b − μ·γ/√(σ² + eps)); None for layers without one. Exact types, as pytorch-grad-cam: a
    subclass such as timm's BatchNormAct2d also applies an activation, so its output is no
    longer the biased sum."""
    if type(layer) is nn.BatchNorm2d:
        if layer.bias is None:
            return None
        if layer.running_mean is None or layer.running_var is None:
            raise ValueError("fullgrad needs batch norm running statistics (track_running_stats)")
        scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
        return layer.bias - layer.running_mean * scale
    if type(layer) is nn.Conv2d:
        return layer.bias
    return None


@contextlib.contextmanager
def _bias_outputs(model: nn.Module) -> Iterator[list[tuple[Tensor, Tensor]]]:
    """(output, bias) of every call of a biased Conv2d/BatchNorm2d during the forward inside.

    A copy goes downstream, so in-place ops of later layers (ResNet's ReLU) leave the recorded
    output, and with it its gradient, the layer's own."""
    store: list[tuple[Tensor, Tensor]] = []
    handles = []
    for layer in model.modules():
        bias = bias_of(layer)
        if bias is not None:

            def hook(module: nn.Module, args: object, output: Tensor, bias=bias) -> Tensor:
                store.append((output, bias.detach()))
                return output.clone()

            handles.append(layer.register_forward_hook(hook))
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


def _scaled_channel_sum(term: Tensor) -> Tensor:
    """Min–max scale each (image, channel) map of `term` (N×C×h×w), then sum over channels."""
    flat = term.flatten(2)
    shifted = flat - flat.amin(dim=2, keepdim=True)
    scaled = shifted / (shifted.amax(dim=2, keepdim=True) + SCALE_EPS)
    return scaled.sum(dim=1).reshape(term.shape[0], *term.shape[2:])


def fullgrad_maps(model: nn.Module, images: Tensor, targets: Tensor) -> Tensor:
    """FullGrad maps of `images` (N×C×H×W, requires no grad) for `targets`: N×H×W float64.

    One forward and one backward to the input and to every biased layer's output. The scaled
    channels of a layer are summed before the upsampling, which is linear, so the result equals
    upsampling each channel first (pytorch-grad-cam) with a C-fold smaller image buffer.
    """
    x = images.detach().requires_grad_(True)
    with torch.enable_grad(), _bias_outputs(model) as store:
        logits = model(x)
        score = logits.gather(1, targets[:, None]).sum()
        outputs = [output for output, _ in store]
        grads = torch.autograd.grad(score, [x, *outputs], allow_unused=True)
    size = tuple(images.shape[-2:])
    total = _scaled_channel_sum((x.detach().double() * grads[0].double()).abs())
    for (_, bias), grad in zip(store, grads[1:], strict=True):
        if grad is None:  # a layer the target logit does not depend on contributes nothing
            continue
        term = (bias.double()[None, :, None, None] * grad.double()).abs()
        layer_sum = _scaled_channel_sum(term)
        if tuple(layer_sum.shape[-2:]) != size:
            layer_sum = F.interpolate(
                layer_sum[:, None], size=size, mode="bilinear", align_corners=False
            )[:, 0]
        total = total + layer_sum
    return total
