"""How far a noise moves the activations that CAMs weight: the realised perturbation size.

The CAM methods read the target layer's output A (the "CAM layer"); a noise that moves A little
leaves little for any map to change. Per image, the relative shift ‖A(x̃) − A(x)‖₂ / ‖A(x)‖₂ over
every element of the layer's output (a token layer's prefix tokens too) puts the consistency of
the maps next to how far their input moved; docs/metric.md says how it is reported.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from camrobust.cam.layers import find_layer
from camrobust.cam.state import frozen_eval


def _layer_outputs(model: nn.Module, layer: nn.Module, images: Tensor) -> Tensor:
    """The layer's output for one batch, flattened per image, in float32."""
    kept: list[Tensor] = []
    handle = layer.register_forward_hook(lambda module, args, out: kept.append(out.detach()))
    try:
        model(images)
    finally:
        handle.remove()
    if len(kept) != 1:
        raise ValueError(f"the target layer ran {len(kept)} times in one forward")
    return kept[0].float().flatten(1)


@torch.no_grad()
def feature_shift(
    model: nn.Module, target_layer: str, clean: Tensor, noisy: Tensor, batch_size: int
) -> Tensor:
    """Per image ‖A(noisy) − A(clean)‖₂ / ‖A(clean)‖₂ at `target_layer` (images N×C×H×W in
    [0, 1], on the model's device); NaN where the clean activations are all zero."""
    if clean.shape != noisy.shape:
        raise ValueError(f"clean images {tuple(clean.shape)}, noisy {tuple(noisy.shape)}")
    _, layer = find_layer(model, target_layer)
    out = []
    with frozen_eval(model):
        for start in range(0, len(clean), batch_size):
            a = _layer_outputs(model, layer, clean[start : start + batch_size])
            b = _layer_outputs(model, layer, noisy[start : start + batch_size])
            norm = a.norm(dim=1)
            shift = (b - a).norm(dim=1) / norm
            out.append(torch.where(norm > 0, shift, torch.full_like(shift, float("nan"))))
    return torch.cat(out).cpu()
