"""compute_cams: every CAM method from one batched forward + one activation-gradient pass."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm

from camrobust.cam.ablation import Rerun
from camrobust.cam.families import (
    Family,
    check_override,
    choose_layout,
    default_target_layer,
    find_family,
)
from camrobust.cam.layers import find_layer, user_name
from camrobust.cam.layout import Layout
from camrobust.cam.methods import (
    BATCH_MAPS,
    CHANNEL_WEIGHTS,
    GRADIENT_METHODS,
    MAP_FUNCTIONS,
    BatchInputs,
    BatchMap,
    ChannelWeights,
    PerturbationBatch,
    check_methods,
    weighted_sum,
)
from camrobust.cam.placebo import random_channel_weights
from camrobust.cam.split import ModelSplit, split_at
from camrobust.cam.state import frozen_eval

logger = logging.getLogger(__name__)

_AUTOCAST = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class CamResult:
    """Raw maps per method (N×h×w float32, feature-map resolution), logits, predictions, targets.

    `nonfinite[method]` (bool N) flags the maps whose computation gave NaN or infinite values;
    they come back all zero (degenerate), never as NaN/inf (`_finite_or_zero`).
    """

    maps: dict[str, Tensor]
    logits: Tensor
    preds: Tensor
    targets: Tensor
    layer: str
    ablation_split: bool | None = field(default=None)
    nonfinite: dict[str, Tensor] = field(default_factory=dict)


def _finite_or_zero(maps: Tensor) -> tuple[Tensor, Tensor]:
    """float32 maps with every map holding NaN/inf (e.g. AblationCAM's relative drops where the
    target logit is ~1e-38, or a network whose logits overflow) set to zero, and those flags."""
    maps = maps.float()  # a finite float64 map beyond float32's range becomes inf here
    bad = ~torch.isfinite(maps).flatten(1).all(dim=1)
    if bool(bad.any()):
        maps = torch.where(bad[:, None, None], torch.zeros_like(maps), maps)
    return maps, bad


@dataclass
class _Capture:
    """The target layer's output of the last forward, as a leaf tensor."""

    acts: list[Tensor] = field(default_factory=list)


@contextlib.contextmanager
def _capture(layer: nn.Module, need_grad: bool) -> Iterator[_Capture]:
    """Hook the target layer: keep its output as a grad-requiring leaf, pass a copy downstream.

    The copy shields the kept activations from in-place ops of later layers (e.g. DenseNet's
    `relu(features, inplace=True)`), so maps always use the layer's output as it returned it.
    """
    store = _Capture()

    def hook(module: nn.Module, args: object, output: object) -> Tensor:
        if not isinstance(output, Tensor):
            raise ValueError(f"target layer returns {type(output).__name__}, not a tensor")
        leaf = output.detach().requires_grad_(need_grad)
        store.acts.append(leaf)
        return leaf.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def _autocast(device: torch.device, mode: str | None) -> contextlib.AbstractContextManager:
    if mode not in _AUTOCAST:
        raise ValueError(f"autocast must be None, 'bf16' or 'fp16', not {mode!r}")
    if mode is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST[mode])


def _check_images(images: object) -> Tensor:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, not {type(images).__name__}")
    if images.ndim != 4 or not images.is_floating_point() or images.shape[0] == 0:
        raise ValueError(
            f"images must be float N×C×H×W in [0, 1] with N ≥ 1, got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    return images


def _check_targets(targets: Tensor | None, n: int) -> Tensor | None:
    if targets is None:
        return None
    if not isinstance(targets, Tensor) or targets.dtype not in (torch.int64, torch.int32):
        raise ValueError("targets must be None or an integer (Long) tensor of class indices")
    if targets.shape != (n,):
        raise ValueError(f"targets must have shape ({n},), got {tuple(targets.shape)}")
    return targets.long()


def _model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    param = next(model.parameters(), None)
    return fallback if param is None else param.device


def _rerun_for(
    model: nn.Module, layer: nn.Module, split: ModelSplit | None, images: Tensor
) -> Rerun:
    """A function running the network after the target layer on ablated activations."""
    if split is not None:
        extras = split.extras(images)

        def run_suffix(ablated: Tensor, image: Tensor) -> Tensor:
            # Non-tensor extras (e.g. an optional mask traced as None) are not per image.
            rows = (extra[image] if isinstance(extra, Tensor) else extra for extra in extras)
            return split.suffix(ablated, *rows)

        return run_suffix

    def run_full(ablated: Tensor, image: Tensor) -> Tensor:
        handle = layer.register_forward_hook(lambda module, args, output: ablated)
        try:
            return model(images[image])
        finally:
            handle.remove()

    return run_full


def _split_agrees(split: ModelSplit, images: Tensor, acts: Tensor, logits: Tensor) -> bool:
    """Whether the traced suffix reproduces the model's logits on this batch."""
    again = split.suffix(acts.clone(), *split.extras(images)).float()
    if again.shape != logits.shape:
        return False
    tol = 1e-3 if acts.dtype == torch.float32 else 5e-2
    scale = float(logits.abs().amax()) + 1.0
    return bool(((again - logits).abs().amax() <= tol * scale).item())


class _Suffix:
    """The network after the target layer: a torch.fx split, checked against the model on the
    first batch that uses it, else full forwards with the target layer's output replaced."""

    def __init__(self, model: nn.Module, layer: nn.Module, target_layer: str) -> None:
        self.model, self.layer, self.target_layer = model, layer, target_layer
        self.split = split_at(model, target_layer)
        self.checked = False

    def rerun(self, images: Tensor, raw: Tensor, logits: Tensor, layout: Layout) -> Rerun:
        """The suffix for this batch, fed N×C×h×w maps (`raw`, the layer's output in its own
        layout, and `logits` are the batch's unperturbed forward)."""
        if self.split is not None and not self.checked:
            if not _split_agrees(self.split, images, raw, logits):
                logger.warning(
                    "traced split at %s disagrees with the model; AblationCAM falls back to "
                    "full forwards",
                    self.target_layer,
                )
                self.split = None
            self.checked = True
        run = _rerun_for(self.model, self.layer, self.split, images)
        if layout.kind == "nchw":
            return run
        # Ablated maps go back into the layer's layout; prefix tokens keep their values.
        return lambda ablated, image: run(layout.to_raw(ablated, raw[image]), image)


def _no_suffix() -> Rerun:
    raise RuntimeError("no perturbation method asked for the network after the target layer")


def _forward(
    model: nn.Module,
    layer: nn.Module,
    target_layer: str,
    images: Tensor,
    need_grad: bool,
    autocast: str | None,
) -> tuple[Tensor, Tensor]:
    """One forward of `images`: (logits with their graph, the target layer's output as a leaf)."""
    with (
        _capture(layer, need_grad) as store,
        torch.set_grad_enabled(need_grad),
        _autocast(images.device, autocast),
    ):
        output = model(images)
    if len(store.acts) != 1:
        raise ValueError(
            f"target_layer '{target_layer}' ran {len(store.acts)} times in one forward; "
            "choose a layer the model calls exactly once"
        )
    if not isinstance(output, Tensor) or output.ndim != 2:
        raise ValueError("model must return a N×classes tensor of logits")
    return output, store.acts[0]


def _target_gradients(output: Tensor, leaf: Tensor, targets: Tensor, target_layer: str) -> Tensor:
    """d(sum of the target logits)/d(target-layer output), in float64 for the map formulas."""
    score = output.gather(1, targets[:, None]).sum()
    (grads,) = torch.autograd.grad(score, leaf, allow_unused=True)
    if grads is None:
        raise ValueError(f"the logits do not depend on target_layer '{target_layer}'")
    return grads.double()


def _gradients_with_hvp(
    output: Tensor, leaf: Tensor, targets: Tensor, target_layer: str
) -> tuple[Tensor, Tensor]:
    """The target gradients and the Hessian-vector product H·A (H the Hessian of the summed
    target logits w.r.t. the layer's output A), both float64 in the layer's raw layout.

    The gradient keeps its graph for the second backward. Where it does not depend on A (a
    linear head after the layer) the product is zero; behind ReLUs it is zero almost everywhere.
    """
    score = output.gather(1, targets[:, None]).sum()
    (grads,) = torch.autograd.grad(score, leaf, create_graph=True, allow_unused=True)
    if grads is None:
        raise ValueError(f"the logits do not depend on target_layer '{target_layer}'")
    hvp = None
    if grads.requires_grad:
        try:
            (hvp,) = torch.autograd.grad(grads, leaf, grad_outputs=leaf.detach(), allow_unused=True)
        except RuntimeError as err:  # e.g. torch has no derivative of hardsigmoid's backward
            raise ValueError(
                f"shapleycam needs the second derivative of the layers after target_layer "
                f"'{target_layer}', which torch lacks: {str(err).splitlines()[0]}"
            ) from err
    if hvp is None:
        hvp = torch.zeros_like(grads)
    return grads.detach().double(), hvp.detach().double()


def _twice_differentiable(enabled: bool) -> contextlib.AbstractContextManager:
    """Attention through PyTorch's math kernel where a second backward follows: the fused CPU
    and GPU kernels of scaled_dot_product_attention have no derivative of their backward."""
    return sdpa_kernel([SDPBackend.MATH]) if enabled else contextlib.nullcontext()


@dataclass
class _BatchMethods:
    """The requested methods of `BATCH_MAPS` and what they need from each batch."""

    methods: dict[str, BatchMap]
    seed: int | None
    n_images: int
    draws: Tensor | None = None

    @property
    def needs_hvp(self) -> bool:
        return any(method.needs_hvp for method in self.methods.values())

    def maps(self, batch: BatchInputs, start: int) -> dict[str, Tensor]:
        """Each method's float32 maps of the batch starting at image `start` (random weights
        drawn once for all images, on the first batch, when the channel count is known)."""
        if any(method.needs_seed for method in self.methods.values()) and self.draws is None:
            self.draws = random_channel_weights(self.seed, self.n_images, batch.acts.shape[1])
        if self.draws is not None:
            rows = self.draws[start : start + batch.images.shape[0]].to(batch.acts.device)
            batch = replace(batch, random_weights=rows)
        return {name: method.map(batch).float() for name, method in self.methods.items()}


def _batch_methods(names: Sequence[str], seed: int | None, n_images: int) -> _BatchMethods:
    """The requested `BATCH_MAPS` methods; a seed is required where one draws random numbers."""
    methods = {name: BATCH_MAPS[name] for name in names if name in BATCH_MAPS}
    random = [name for name, method in methods.items() if method.needs_seed]
    if random and seed is None:
        raise ValueError(f"{', '.join(random)} draws random weights: pass compute_cams a seed")
    return _BatchMethods(methods, seed, n_images)


@dataclass(frozen=True)
class _Options:
    """`compute_cams`' options that every batch reads."""

    layout: str | None
    prefix_tokens: int | None
    autocast: str | None
    seed: int | None
    score_chunk: int
    ablation_chunk: int


@dataclass(frozen=True)
class _Run:
    """What every batch of one `compute_cams` call shares: the model, its target layer, the
    requested methods and the options."""

    model: nn.Module
    layer: nn.Module
    full_path: str
    target_layer: str
    family: Family
    device: torch.device
    names: tuple[str, ...]
    need_grad: bool
    extra: _BatchMethods
    perturbations: dict[str, ChannelWeights]
    options: _Options


def _setup(
    model: nn.Module,
    target_layer: str | None,
    images: Tensor,
    names: tuple[str, ...],
    options: _Options,
) -> _Run:
    """Resolve the target layer (the family's default where None) and check the options."""
    device = _model_device(model, images.device)
    family = find_family(model)
    check_override(options.layout, options.prefix_tokens)
    if target_layer is None:
        with frozen_eval(model):
            target_layer = default_target_layer(model, images[:1].to(device))
    full_path, layer = find_layer(model, target_layer)
    layer_name = user_name(model, full_path)
    _autocast(device, options.autocast)
    extra = _batch_methods(names, options.seed, images.shape[0])
    return _Run(
        model=model,
        layer=layer,
        full_path=full_path,
        target_layer=layer_name,
        family=family,
        device=device,
        names=names,
        need_grad=any(name in GRADIENT_METHODS for name in names) or extra.needs_hvp,
        extra=extra,
        perturbations={name: CHANNEL_WEIGHTS[name] for name in names if name in CHANNEL_WEIGHTS},
        options=options,
    )


def _batch_targets(output: Tensor, explicit: Tensor | None, x: Tensor, start: int) -> Tensor:
    """The classes explained in the batch `x` starting at image `start`: the explicit ones, checked
    against the logits' width on the first batch, else the predicted ones."""
    if explicit is None:
        return output.detach().argmax(dim=1)
    if start == 0 and not (int(explicit.min()) >= 0 and int(explicit.max()) < output.shape[1]):
        raise ValueError(f"targets must lie in [0, {output.shape[1]})")
    return explicit[start : start + x.shape[0]].to(x.device)


def _grid_gradients(
    run: _Run, output: Tensor, leaf: Tensor, tgt: Tensor, shape: Layout, hw: tuple[int, int]
) -> tuple[Tensor | None, Tensor | None]:
    """The target gradients and, where a method needs it, the Hessian-vector product, both as
    float64 N×C×h×w grids (None where no requested method reads them)."""
    if run.need_grad and run.extra.needs_hvp:
        raw_grads, raw_hvp = _gradients_with_hvp(output, leaf, tgt, run.target_layer)
        return shape.to_grid(raw_grads, hw, ""), shape.to_grid(raw_hvp, hw, "")
    if run.need_grad:
        return shape.to_grid(_target_gradients(output, leaf, tgt, run.target_layer), hw, ""), None
    return None, None


def _perturbation_maps(run: _Run, batch: PerturbationBatch, acts64: Tensor) -> dict[str, Tensor]:
    """ScoreCAM's and AblationCAM's maps: channel weights from extra forwards, summed over the
    float64 activations."""
    with torch.no_grad(), _autocast(run.device, run.options.autocast):
        weights = {name: method.weights(batch) for name, method in run.perturbations.items()}
    return {name: weighted_sum(w.double(), acts64) for name, w in weights.items()}


def _cam_batch(
    run: _Run, x: Tensor, start: int, explicit: Tensor | None, suffix: _Suffix | None
) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Every requested method's maps of the batch `x` starting at image `start`, with the
    batch's float32 logits and explained classes."""
    options = run.options
    with _twice_differentiable(run.extra.needs_hvp):
        output, leaf = _forward(
            run.model, run.layer, run.target_layer, x, run.need_grad, options.autocast
        )
    tgt = _batch_targets(output, explicit, x, start)
    raw = leaf.detach()
    shape = choose_layout(run.family, run.layer, raw.ndim, options.layout, options.prefix_tokens)
    hw = (x.shape[-2], x.shape[-1])
    acts = shape.to_grid(raw, hw, run.target_layer)
    grads, hvp = _grid_gradients(run, output, leaf, tgt, shape, hw)
    # The map formulas run in float64 (cheap at feature-map resolution): on layers with
    # negative activations GradCAM++'s 2g² + ΣA·g³ and the signed channel sums cancel,
    # and float32 moves single normalised maps visibly. Maps are returned as float32.
    acts64 = acts.double()
    logits = output.detach().float()
    found = {
        name: MAP_FUNCTIONS[name](acts64, grads) for name in run.names if name in MAP_FUNCTIONS
    }
    batch = PerturbationBatch(
        model=run.model,
        images=x,
        acts=acts,
        logits=logits,
        targets=tgt,
        suffix=partial(suffix.rerun, x, raw, logits, shape) if suffix else _no_suffix,
        score_chunk=options.score_chunk,
        ablation_chunk=options.ablation_chunk,
    )
    found.update(_perturbation_maps(run, batch, acts64))
    if run.extra.methods:
        inputs = BatchInputs(run.model, x, acts64, grads, hvp, tgt, random_weights=None)
        found.update(run.extra.maps(inputs, start))
    return found, logits, tgt


class _Collected:
    """The batches' maps (finite, see `_finite_or_zero`), flags, logits and targets."""

    def __init__(self, names: Sequence[str]) -> None:
        self.maps: dict[str, list[Tensor]] = {name: [] for name in names}
        self.flags: dict[str, list[Tensor]] = {name: [] for name in names}
        self.logits: list[Tensor] = []
        self.targets: list[Tensor] = []

    def add(self, found: dict[str, Tensor], logits: Tensor, targets: Tensor) -> None:
        """One batch's maps per method, float32 logits and explained classes."""
        for name, batch_maps in found.items():
            finite, bad = _finite_or_zero(batch_maps)
            self.maps[name].append(finite)
            self.flags[name].append(bad)
        self.logits.append(logits)
        self.targets.append(targets)

    def result(self, home: torch.device, layer: str, suffix: _Suffix | None) -> CamResult:
        """All batches joined on the images' device `home`; maps that held NaN/inf logged."""
        logits = torch.cat(self.logits).to(home)
        nonfinite = {name: torch.cat(parts).to(home) for name, parts in self.flags.items()}
        for name, bad in nonfinite.items():
            if bool(bad.any()):
                logger.warning("%s: %d maps held NaN/inf, set to zero", name, int(bad.sum()))
        return CamResult(
            maps={name: torch.cat(parts).to(home) for name, parts in self.maps.items()},
            logits=logits,
            preds=logits.argmax(dim=1),
            targets=torch.cat(self.targets).to(home),
            layer=layer,
            ablation_split=None if suffix is None else suffix.split is not None,
            nonfinite=nonfinite,
        )


def compute_cams(
    model: nn.Module,
    target_layer: str | None,
    images: Tensor,
    methods: Sequence[str],
    targets: Tensor | None = None,
    batch_size: int = 64,
    *,
    progress: bool | None = False,
    autocast: str | None = None,
    score_chunk: int = 256,
    ablation_chunk: int = 1024,
    layout: str | None = None,
    prefix_tokens: int | None = None,
    seed: int | None = None,
) -> CamResult:
    """CAMs of `images` (float N×C×H×W in [0,1]) at `target_layer` for every method in `methods`.

    One forward and one `torch.autograd.grad` w.r.t. the hooked target activation per batch serve
    all gradient/activation methods; ScoreCAM adds masked-input forwards (`score_chunk` images at a
    time), AblationCAM re-runs only the network after the target layer (`ablation_chunk` rows at a
    time; torch.fx split, falling back to full forwards with a hook where tracing fails).
    `targets` None explains the predicted class, a LongTensor N explicit classes. Maps stay on the
    device and come back on the images' device; `autocast` ('bf16'/'fp16') applies to the forwards,
    maps are float32. Model mode and requires_grad flags are restored on exit, also on error.

    `target_layer` None takes the model family's default (`families.default_target_layer`).
    Token (ViT) and channels-last (Swin) outputs are read as N×C×h×w as the family says;
    `layout` ('nchw', 'nhwc', 'tokens') with `prefix_tokens` (leading non-patch tokens)
    overrides that for unusual models.

    FullGrad, ShapleyCAM and the placebos (`methods.BATCH_MAPS`) are computed per batch too:
    FullGrad with its own forward and backward through the whole network, ShapleyCAM with a
    second backward from the target layer; FullGrad and SobelCAM maps come at the images'
    resolution. RandomCAM draws its weights from a generator seeded with `seed` (required then).
    """
    names = check_methods(methods)
    images = _check_images(images)
    explicit = _check_targets(targets, images.shape[0])
    if batch_size < 1 or score_chunk < 1 or ablation_chunk < 1:
        raise ValueError("batch_size, score_chunk and ablation_chunk must be positive")
    run = _setup(
        model,
        target_layer,
        images,
        names,
        _Options(layout, prefix_tokens, autocast, seed, score_chunk, ablation_chunk),
    )
    collected = _Collected(names)
    suffix: _Suffix | None = None
    with frozen_eval(model):
        if any(method.uses_suffix for method in run.perturbations.values()):
            suffix = _Suffix(model, run.layer, run.full_path)
        batches = range(0, images.shape[0], batch_size)
        for start in tqdm(batches, desc="CAM batches", unit="batch", disable=_quiet(progress)):
            x = images[start : start + batch_size].to(run.device)
            collected.add(*_cam_batch(run, x, start, explicit, suffix))
    return collected.result(images.device, run.target_layer, suffix)


def _quiet(progress: bool | None) -> bool | None:
    """tqdm's `disable`: None (auto: only on a terminal), or the flag's negation."""
    return None if progress is None else not progress
