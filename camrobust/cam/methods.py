"""The registry of CAM methods: a map function per one-pass method, channel weights per
perturbation method.

Formulas follow pytorch-grad-cam 1.5.7 (same epsilons), computed batched on the device (the
engine calls them in float64).
ScoreCAM and AblationCAM need extra forward passes (`score.py`, `ablation.py`); their entries
turn one batch's `PerturbationBatch` into N×C channel weights. FullGrad, ShapleyCAM and the
placebos need more than one pair of activations and gradients (`BATCH_MAPS`: their own pass, a
second backward, random draws or the input image).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from camrobust.cam.ablation import Rerun, ablation_weights
from camrobust.cam.eigen import principal_projection
from camrobust.cam.fullgrad import fullgrad_maps
from camrobust.cam.kpca import kernel_projection
from camrobust.cam.placebo import sobel_magnitude
from camrobust.cam.score import score_weights

MapFn = Callable[[Tensor, Tensor | None], Tensor]

_SPATIAL = (2, 3)


def weighted_sum(weights: Tensor, acts: Tensor) -> Tensor:
    """Σ_c w_c A_c for per-channel weights N×C."""
    return torch.einsum("nc,nchw->nhw", weights, acts)


def gradcam(acts: Tensor, grads: Tensor | None) -> Tensor:
    """Grad-CAM: channel weights are the spatially averaged gradients."""
    return weighted_sum(grads.mean(dim=_SPATIAL), acts)


def gradcampp(acts: Tensor, grads: Tensor | None) -> Tensor:
    """Grad-CAM++ (Chattopadhyay et al., eq. 19) with pytorch-grad-cam's eps 1e-6."""
    g2 = grads.pow(2)
    g3 = g2 * grads
    sum_acts = acts.sum(dim=_SPATIAL, keepdim=True)
    alpha = g2 / (2 * g2 + sum_acts * g3 + 1e-6)
    alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
    weights = (grads.clamp(min=0) * alpha).sum(dim=_SPATIAL)
    return weighted_sum(weights, acts)


def xgradcam(acts: Tensor, grads: Tensor | None) -> Tensor:
    """XGrad-CAM: gradients weighted by the normalised activations (eps 1e-7)."""
    sum_acts = acts.sum(dim=_SPATIAL, keepdim=True)
    weights = (grads * acts / (sum_acts + 1e-7)).sum(dim=_SPATIAL)
    return weighted_sum(weights, acts)


def hirescam(acts: Tensor, grads: Tensor | None) -> Tensor:
    """HiResCAM: element-wise gradient × activation summed over channels."""
    return (grads * acts).sum(dim=1)


def gradcamelementwise(acts: Tensor, grads: Tensor | None) -> Tensor:
    """Element-wise Grad-CAM: ReLU of gradient × activation summed over channels."""
    return (grads * acts).clamp(min=0).sum(dim=1)


def layercam(acts: Tensor, grads: Tensor | None) -> Tensor:
    """LayerCAM: positive gradients × activations summed over channels."""
    return (grads.clamp(min=0) * acts).sum(dim=1)


def eigencam(acts: Tensor, grads: Tensor | None) -> Tensor:
    """EigenCAM: first principal component of the activations (sign rule in `eigen.py`)."""
    return principal_projection(acts)


def eigengradcam(acts: Tensor, grads: Tensor | None) -> Tensor:
    """EigenGradCAM: first principal component of gradient × activation."""
    return principal_projection(grads * acts)


def fem(acts: Tensor, grads: Tensor | None, k: float = 2.0) -> Tensor:
    """FEM: channels weighted by their share of pixels above mean + k·std (population std)."""
    mean = acts.mean(dim=_SPATIAL, keepdim=True)
    std = acts.std(dim=_SPATIAL, keepdim=True, correction=0)
    weights = (acts > mean + k * std).to(acts.dtype).mean(dim=_SPATIAL)
    return weighted_sum(weights, acts)


def kpcacam(acts: Tensor, grads: Tensor | None) -> Tensor:
    """KPCA-CAM: first kernel principal component of the activations (sigmoid kernel)."""
    return kernel_projection(acts)


#: map functions of the one-pass methods, and whether each needs the gradients
MAP_FUNCTIONS: dict[str, MapFn] = {
    "gradcam": gradcam,
    "gradcampp": gradcampp,
    "xgradcam": xgradcam,
    "hirescam": hirescam,
    "gradcamelementwise": gradcamelementwise,
    "layercam": layercam,
    "eigencam": eigencam,
    "eigengradcam": eigengradcam,
    "fem": fem,
    "kpcacam": kpcacam,
}
#: one-pass methods that read the gradients (EigenCAM, FEM and KPCA-CAM use the activations alone)
GRADIENT_METHODS = frozenset(MAP_FUNCTIONS) - {"eigencam", "fem", "kpcacam"}


@dataclass(frozen=True)
class PerturbationBatch:
    """One batch as the perturbation methods see it (tensors on the model's device)."""

    model: nn.Module
    images: Tensor
    #: the target layer's activations, in the forward's (autocast) dtype
    acts: Tensor
    #: float32 logits and the explained class per image
    logits: Tensor
    targets: Tensor
    #: the network after the target layer (see `ablation.Rerun`), built on first call
    suffix: Callable[[], Rerun]
    score_chunk: int
    ablation_chunk: int


@dataclass(frozen=True)
class ChannelWeights:
    """A perturbation method: N×C channel weights from extra forwards of one batch."""

    weights: Callable[[PerturbationBatch], Tensor]
    #: whether it re-runs the network after the target layer (then a torch.fx split is traced)
    uses_suffix: bool


def _scorecam_weights(batch: PerturbationBatch) -> Tensor:
    return score_weights(batch.model, batch.images, batch.acts, batch.targets, batch.score_chunk)


def _ablationcam_weights(batch: PerturbationBatch) -> Tensor:
    scores = batch.logits.gather(1, batch.targets[:, None])[:, 0]
    return ablation_weights(batch.suffix(), batch.acts, scores, batch.targets, batch.ablation_chunk)


#: the methods that re-run (part of) the network per channel
CHANNEL_WEIGHTS: dict[str, ChannelWeights] = {
    "scorecam": ChannelWeights(_scorecam_weights, uses_suffix=False),
    "ablationcam": ChannelWeights(_ablationcam_weights, uses_suffix=True),
}


@dataclass(frozen=True)
class BatchInputs:
    """One batch as the methods of `BATCH_MAPS` see it (tensors on the model's device)."""

    model: nn.Module
    images: Tensor
    #: the target layer's activations and gradients as float64 N×C×h×w grids (grads None when
    #: no requested method reads them)
    acts: Tensor
    grads: Tensor | None
    #: the Hessian of the target logit w.r.t. the activations times the activations, float64
    #: N×C×h×w, where a method `needs_hvp` (else None)
    hvp: Tensor | None
    targets: Tensor
    #: N×C channel weights uniform in [-1, 1) where a method `needs_seed` (else None)
    random_weights: Tensor | None


@dataclass(frozen=True)
class BatchMap:
    """A method computed from the batch beyond one (activations, gradients) pair: its maps,
    N×h×w at the feature map's resolution or N×H×W at the input's (`INPUT_RESOLUTION`)."""

    map: Callable[[BatchInputs], Tensor]
    #: whether it reads the Hessian-vector product (a second backward with create_graph)
    needs_hvp: bool = False
    #: whether it draws random numbers (compute_cams then needs a seed)
    needs_seed: bool = False


def _shapleycam(batch: BatchInputs) -> Tensor:
    """ShapleyCAM (Cai et al. 2025): channel weights mean_p(g − ½ H·A), as pytorch-grad-cam."""
    return weighted_sum((batch.grads - 0.5 * batch.hvp).mean(dim=_SPATIAL), batch.acts)


def _randomcam(batch: BatchInputs) -> Tensor:
    """RandomCAM: the activations weighted by random channel weights (a placebo)."""
    return weighted_sum(batch.random_weights, batch.acts)


def _sobelcam(batch: BatchInputs) -> Tensor:
    """SobelCAM: the input's edge magnitude, class- and network-blind (a placebo)."""
    return sobel_magnitude(batch.images)


def _fullgrad(batch: BatchInputs) -> Tensor:
    """FullGrad: input- and bias-gradient terms of the whole network (its own pass)."""
    return fullgrad_maps(batch.model, batch.images, batch.targets)


#: the methods that need more than the shared pass's activations and gradients of one batch
BATCH_MAPS: dict[str, BatchMap] = {
    "fullgrad": BatchMap(_fullgrad),
    "shapleycam": BatchMap(_shapleycam, needs_hvp=True),
    "randomcam": BatchMap(_randomcam, needs_seed=True),
    "sobelcam": BatchMap(_sobelcam),
}
#: baselines without class information, reported beside the methods (marked `placebo`)
PLACEBOS = frozenset({"randomcam", "sobelcam"})
#: methods whose maps come at the input's resolution, not the target layer's
INPUT_RESOLUTION = frozenset({"fullgrad", "sobelcam"})

#: every method, in the order results are reported
METHODS: tuple[str, ...] = (
    "gradcam",
    "gradcampp",
    "xgradcam",
    "hirescam",
    "gradcamelementwise",
    "layercam",
    "eigencam",
    "eigengradcam",
    "scorecam",
    "ablationcam",
    "fem",
    "fullgrad",
    "kpcacam",
    "shapleycam",
    "randomcam",
    "sobelcam",
)


def check_methods(methods: object) -> tuple[str, ...]:
    """The requested method names as a de-duplicated tuple; ValueError for unknown ones."""
    if isinstance(methods, str):
        methods = (methods,)
    names = tuple(dict.fromkeys(methods))
    if not names:
        raise ValueError(f"methods is empty; choose from {', '.join(METHODS)}")
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise ValueError(
            f"unknown CAM method(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(METHODS)}"
        )
    return names
