"""The classifier training loop shared by every regulariser (ERM, VAT, LVAT-VAE, LVAT-Glow).

One step: a labeled pass (cross-entropy; batch norm updates its running averages), then, for the
adversarial regularisers, a clean unlabeled pass and the power-iteration and adversarial passes,
all with batch statistics that leave the running averages alone and with the same dropout mask
(the global RNG is replayed). In the supervised setting with equal batch sizes the labeled batch
is also the unlabeled one and its logits serve as the clean prediction, as in the official code.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from camrobust.data.tensors import nchw_unit_float
from camrobust.data.zca import ZCAWhitening
from camrobust.device import resolve_device
from camrobust.seeding import derive_seed, torch_generator
from camrobust.train.augment import augment_batch, augment_params
from camrobust.train.checkpoint import (
    capture_rng,
    fingerprint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
    weights_digest,
)
from camrobust.train.layout import cpu_training_format
from camrobust.train.regularizers import (
    Regularizer,
    RngState,
    frozen_bn_stats,
    get_regularizer,
    regularization_loss,
)
from camrobust.train.sampling import balanced_labeled_indices, epoch_batches
from camrobust.train.schedule import BETA1, BETA2, lr_and_beta1, schedule_params
from camrobust.train.settings import TrainSettings

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """The trained model (eval mode), its summary metrics and the per-epoch training curve."""

    model: nn.Module
    metrics: dict[str, Any]
    curve: list[dict[str, Any]]


def _check_split(name: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Images uint8 N×H×W×C and integer labels of the same length, else a ValueError."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"{name}_images must be a uint8 array N×H×W×C")
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"{name}_labels must be a 1-D integer array")
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(
            f"{name}: {len(images)} images and {len(labels)} labels; need the same, non-zero count"
        )
    if labels.min() < 0:
        raise ValueError(f"{name}_labels must be >= 0, found {labels.min()}")


@torch.no_grad()
def evaluate_accuracy(
    model: nn.Module,
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor,
    batch_size: int = 500,
) -> float:
    """Fraction of uint8 N×H×W×C `images` classified as `labels` (on the model's device); numpy
    images (a memory-mapped split) go to that device one batch at a time."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=labels.device)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(np.array(batch)).to(labels.device)  # a writable copy
        logits = model(nchw_unit_float(batch))
        correct += (logits.argmax(1) == labels[start : start + batch_size]).sum()
    model.train(was_training)
    return correct.item() / len(images)


# At most this many training images set the recalibrated batch-norm statistics (a seeded
# subset beyond): enough for exact averages, a fraction of an epoch on large training sets.
RECALIBRATION_IMAGES = 50_000


def recalibrate_batchnorm(
    model: nn.Module, images: torch.Tensor, generator: torch.Generator, batch_size: int = 256
) -> int:
    """Reset every batch-norm layer's running mean and variance to the plain average over the
    unaugmented training `images` (uint8 N×H×W×C; a seeded subset of RECALIBRATION_IMAGES at
    most) under the final weights, with every other layer in eval mode; returns how many
    images were used (0: no batch norm).

    Why: the running statistics are an exponential average (momentum 0.1) over the last few
    training batches, taken while the weights still move; for a briefly trained small network
    they can be far from the statistics of the final weights (a ResNet-18 of the default config
    lost 18 points of test accuracy in its last epoch this way, and got them back here).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    order = torch.randperm(len(images), generator=generator)[:RECALIBRATION_IMAGES]
    was_training = model.training
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative (equal-weight) average over the batches
        m.train()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size].to(images.device)
            model(nchw_unit_float(images[idx]))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)
    return len(order)


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    reg: Regularizer,
    params: dict[str, Any],
    x_lab: torch.Tensor,
    y_lab: torch.Tensor,
    x_ul: torch.Tensor | None,
    generative: nn.Module | None,
    noise: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """One optimiser step; returns (cross-entropy, regulariser term or None, labeled logits).

    `x_ul` None means the labeled batch is also the unlabeled one (supervised, equal batch
    sizes): its logits are then the clean prediction, exactly what a separate clean pass with
    batch statistics and the same dropout mask would give.
    """
    dev = x_lab.device
    rng_lab = RngState.capture(dev) if reg.adversarial else None
    logits = model(x_lab)
    loss_ce = F.cross_entropy(logits, y_lab)
    loss_reg = None
    if reg.adversarial:
        if x_ul is None:
            x_ul, clean, rng_ul = x_lab, logits, rng_lab
        else:
            rng_ul = RngState.capture(dev)
            with frozen_bn_stats(model), torch.set_grad_enabled(params["entmin"]):
                clean = model(x_ul)
        loss_reg = regularization_loss(reg, params, model, x_ul, clean, generative, noise, rng_ul)
    loss = loss_ce if loss_reg is None else loss_ce + loss_reg
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss_ce.detach(), None if loss_reg is None else loss_reg.detach(), logits.detach()


def _validate(
    reg: Regularizer, generative: nn.Module | None, labeled: int, sched: dict[str, Any]
) -> None:
    if reg.needs_generative and generative is None:
        raise ValueError(f"regularizer '{reg.name}' needs a generative model, got generative=None")
    if not reg.needs_generative and generative is not None:
        raise ValueError(f"regularizer '{reg.name}' takes no generative model; pass None")
    if generative is not None and not all(
        hasattr(generative, a) for a in ("to_latent", "from_latent")
    ):
        raise ValueError("generative model must have to_latent(x) and from_latent(parts)")
    if generative is not None and not getattr(generative, "initialized", True):
        raise ValueError("generative model: Glow is not initialised (train or load it first)")
    if sched["n_labeled"] is not None and sched["n_labeled"] > labeled:
        raise ValueError(f"n_labeled={sched['n_labeled']} exceeds the {labeled} training images")


def train_classifier(
    model: nn.Module,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    settings: TrainSettings,
    *,
    generative: nn.Module | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train `model` as `settings` say, resuming from `checkpoint_path` if present.

    Every random draw comes from the settings' seed; on the CPU the run is deterministic, so a
    job killed and restarted ends with the same weights as an uninterrupted one. With
    `recalibrate_bn` (the config's `training.recalibrate_bn`) the batch-norm statistics of the
    final weights are recomputed before the test accuracy is measured (`recalibrate_batchnorm`).
    The caller's global RNG state and deterministic-algorithms setting are left as they were.
    """
    reg = get_regularizer(settings.regularizer)
    params = reg.params(dict(settings.reg_params))
    sched = schedule_params(dict(settings.schedule))
    seed = settings.seed
    data = (train_images, train_labels, test_images, test_labels)
    _check_data(*data)
    aug = augment_params(dict(settings.augment), image_size=min(train_images.shape[1:3]))
    _validate(reg, generative, len(train_images), sched)
    dev = resolve_device(settings.device)
    # A checkpoint resumes only the run it came from: same settings, data, initial weights and
    # generative model (the one identity; the job's file name carries none). The streams are
    # named too, so a checkpoint of a run with other random streams does not resume.
    weights = {"initial": weights_digest(model), "generative": weights_digest(generative)}
    config = {"regularizer": reg.name, "reg_params": params, "schedule": sched, "augment": aug}
    config |= {"seed": seed, "streams": list(STREAMS), "weights": weights}
    fp = fingerprint(config, *data)
    if params.get("whiten"):
        # VAT in the official ZCA coordinates of the training images: the whitening takes the
        # place of a generative model (an exactly invertible linear "latent code").
        generative = ZCAWhitening.fit(train_images, device=dev)
    with _local_rng_and_determinism(dev):
        quiet = None if progress else True
        run = _Run(reg, params, sched, aug, generative, seed, dev, quiet, settings.recalibrate_bn)
        return _fit(_setup(model, run, data), checkpoint_path, fp, config)


def _check_data(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
) -> None:
    """Both splits well-formed and of the same image shape, else a ValueError."""
    _check_split("train", train_images, train_labels)
    _check_split("test", test_images, test_labels)
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(
            f"train images are {train_images.shape[1:]}, test images {test_images.shape[1:]}"
        )


@contextlib.contextmanager
def _local_rng_and_determinism(dev: torch.device) -> Iterator[None]:
    """Fork the global RNGs (the run seeds them; the caller's states come back) and, on the
    CPU, use deterministic algorithms; the caller's setting is restored on exit."""
    rng_devices = []
    if dev.type == "cuda":
        rng_devices = [dev.index if dev.index is not None else torch.cuda.current_device()]
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=rng_devices):
        if dev.type == "cpu":
            torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@dataclass(frozen=True)
class _Run:
    """The validated settings of one training run."""

    reg: Regularizer
    params: dict[str, Any]
    sched: dict[str, Any]
    aug: dict[str, Any]
    generative: nn.Module | None
    seed: int
    dev: torch.device
    #: tqdm's `disable`: True silences the bars, None shows them on a terminal
    quiet: bool | None
    recalibrate_bn: bool

    @property
    def shared_batch(self) -> bool:
        """Supervised with equal batch sizes: the labeled batch is also the unlabeled one."""
        s = self.sched
        return s["n_labeled"] is None and s["batch_labeled"] == s["batch_unlabeled"]


@dataclass
class _TrainState:
    """What the epochs share and advance: model, optimiser, data on the device, generators."""

    run: _Run
    model: nn.Module
    optimizer: torch.optim.Optimizer
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    #: positions of the labeled images in the training set
    labeled: torch.Tensor
    #: the streams of `training_generators`: batch orders and augmentation (CPU), VAT's d
    gens: dict[str, torch.Generator]
    curve: list[dict[str, Any]] = field(default_factory=list)


# The random streams of a training run, each seeded from (seed, its name) alone: the labelled
# batches and their augmentation never share a generator with the unlabelled ones, so every
# regulariser of one seed draws the same labelled tensors whether or not it also draws
# unlabelled batches (common random numbers in the semi-supervised setting too).
STREAMS: dict[str, tuple[str, ...]] = {
    "labeled": ("data", "labeled"),
    "augment_labeled": ("augment", "labeled"),
    "unlabeled": ("data", "unlabeled"),
    "augment_unlabeled": ("augment", "unlabeled"),
}


def training_generators(seed: int, device: torch.device) -> dict[str, torch.Generator]:
    """The CPU streams of STREAMS and "noise" (VAT's random direction d, on `device`)."""
    gens = {name: torch_generator(seed, *parts) for name, parts in STREAMS.items()}
    return {**gens, "noise": torch_generator(seed, "noise", device=device)}


def _setup(
    model: nn.Module, run: _Run, data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
) -> _TrainState:
    """Move model and data to the device, check the labels fit the model, seed every generator."""
    train_images, train_labels, test_images, test_labels = data
    sched, seed, dev = run.sched, run.seed, run.dev
    labeled = (
        np.arange(len(train_labels))
        if sched["n_labeled"] is None
        else balanced_labeled_indices(train_labels, sched["n_labeled"], seed)
    )
    model.to(dev)
    if dev.type == "cpu":
        # Channels-last where it is safe (faster with oneDNN); undone on return.
        model.to(memory_format=cpu_training_format(model))
    if run.generative is not None:
        # Frozen: inference mode (no BN updates, no dropout), no parameter gradients.
        run.generative.to(dev).eval().requires_grad_(False)
    test_x = torch.from_numpy(test_images).to(dev)
    with torch.no_grad():
        was_training = model.training
        n_out = model.eval()(nchw_unit_float(test_x[:2])).shape[1]
        model.train(was_training)
    if int(train_labels.max()) >= n_out or int(test_labels.max()) >= n_out:
        raise ValueError(
            f"labels go up to {max(train_labels.max(), test_labels.max())}, "
            f"but the model has {n_out} outputs"
        )
    optimizer = torch.optim.Adam(model.parameters(), lr=sched["lr"], betas=(BETA1, BETA2))
    # Dropout draws from the global generators (forked by the caller, so seeding them is local).
    torch.default_generator.manual_seed(derive_seed(seed, "torch"))
    if dev.type == "cuda":
        torch.cuda.manual_seed(derive_seed(seed, "torch"))
    return _TrainState(
        run=run,
        model=model,
        optimizer=optimizer,
        train_x=torch.from_numpy(train_images).to(dev),
        train_y=torch.from_numpy(train_labels.astype(np.int64)).to(dev),
        test_x=test_x,
        test_y=torch.from_numpy(test_labels.astype(np.int64)).to(dev),
        labeled=torch.from_numpy(labeled).to(dev),
        gens=training_generators(seed, dev),
    )


def _resume(state: _TrainState, checkpoint_path: str | os.PathLike | None, fp: str) -> int:
    """Load this run's checkpoint if there is one; the number of epochs already done."""
    saved = load_checkpoint(checkpoint_path, fp)
    if saved is None:
        return 0
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    restore_rng(saved["rng"], state.gens, state.run.dev)
    state.curve = list(saved["curve"])
    done = int(saved["epoch"])
    log.info("resuming %s from %s after epoch %d", state.run.reg.name, checkpoint_path, done)
    return done


def _epoch_batches(state: _TrainState, epoch: int) -> Iterator[tuple]:
    """(x_lab, y_lab, x_ul) of each iteration of `epoch`: augmented labelled images and labels,
    and the unlabelled batch (None where the labelled batch doubles as it, or for ERM)."""
    run, gens, s, dev = state.run, state.gens, state.run.sched, state.run.dev
    iters = s["iters_per_epoch"]
    lab_batches = state.labeled[
        epoch_batches(len(state.labeled), s["batch_labeled"], iters, gens["labeled"]).to(dev)
    ]
    ul_batches = None
    if run.reg.adversarial and not run.shared_batch:
        ul_batches = epoch_batches(
            len(state.train_y), s["batch_unlabeled"], iters, gens["unlabeled"]
        ).to(dev)
    for it in tqdm(range(iters), desc=f"epoch {epoch + 1}", leave=False, disable=run.quiet):
        idx = lab_batches[it]
        x_lab = augment_batch(nchw_unit_float(state.train_x[idx]), run.aug, gens["augment_labeled"])
        x_ul = None
        if ul_batches is not None:
            x_ul = augment_batch(
                nchw_unit_float(state.train_x[ul_batches[it]]), run.aug, gens["augment_unlabeled"]
            )
        yield x_lab, state.train_y[idx], x_ul


def _run_epoch(state: _TrainState, epoch: int) -> dict[str, Any]:
    """Train epoch `epoch` (0-based) and return its curve row (losses, accuracies, lr, beta1)."""
    run, s = state.run, state.run.sched
    lr, beta1 = lr_and_beta1(epoch, s["epochs"], s["lr"], s["epoch_decay_start"])
    for group in state.optimizer.param_groups:
        group["lr"], group["betas"] = lr, (beta1, BETA2)
    state.model.train()
    sums = torch.zeros(3, dtype=torch.float64, device=run.dev)
    for x_lab, y_lab, x_ul in _epoch_batches(state, epoch):
        loss_ce, loss_reg, logits = training_step(
            state.model,
            state.optimizer,
            run.reg,
            run.params,
            x_lab,
            y_lab,
            x_ul,
            run.generative,
            state.gens["noise"],
        )
        with torch.no_grad():
            sums[0] += loss_ce.detach()
            if loss_reg is not None:
                sums[1] += loss_reg.detach()
            sums[2] += (logits.argmax(1) == y_lab).sum()
    return _curve_row(state, epoch, lr, beta1, sums.tolist())


def _curve_row(
    state: _TrainState, epoch: int, lr: float, beta1: float, sums: list[float]
) -> dict[str, Any]:
    """The curve row of a finished epoch from its summed losses and correct predictions; a
    FloatingPointError for a non-finite loss."""
    run, iters = state.run, state.run.sched["iters_per_epoch"]
    mean_ce, mean_reg, correct = sums[0] / iters, sums[1] / iters, sums[2]
    if not (math.isfinite(mean_ce) and math.isfinite(mean_reg)):
        raise FloatingPointError(
            f"{run.reg.name}: non-finite loss in epoch {epoch + 1} "
            f"(cross-entropy {mean_ce}, regulariser {mean_reg}); try a smaller lr or eps"
        )
    row = {
        "epoch": epoch + 1,
        "lr": lr,
        "beta1": beta1,
        "loss": mean_ce + mean_reg,
        "loss_ce": mean_ce,
        "loss_reg": mean_reg,
        "train_acc": correct / (iters * run.sched["batch_labeled"]),
        "test_acc": evaluate_accuracy(state.model, state.test_x, state.test_y),
    }
    log.info(
        "%s epoch %d/%d: lr %.3g loss_ce %.4f loss_reg %.4f train_acc %.3f test_acc %.3f",
        run.reg.name,
        epoch + 1,
        run.sched["epochs"],
        lr,
        mean_ce,
        mean_reg,
        row["train_acc"],
        row["test_acc"],
    )
    return row


def trained_on(state: _TrainState) -> torch.Tensor:
    """The training images a model learnt from: the labelled subset for ERM, and for the
    adversarial regularisers also the unlabelled pool (the whole training set)."""
    if state.run.reg.adversarial or state.run.sched["n_labeled"] is None:
        return state.train_x
    return state.train_x[state.labeled]


def _recalibrate(state: _TrainState, test_acc_before: float) -> dict[str, Any]:
    """Recompute the batch-norm statistics on the images the model was trained on
    (`trained_on`); the metrics to record (none without batch norm)."""
    generator = torch_generator(state.run.seed, "recalibrate batch norm")
    n = recalibrate_batchnorm(state.model, trained_on(state), generator)
    if not n:
        return {}
    test_acc = evaluate_accuracy(state.model, state.test_x, state.test_y)
    log.info(
        "%s: batch norm recalibrated on %d training images: test_acc %.3f (was %.3f)",
        state.run.reg.name,
        n,
        test_acc,
        test_acc_before,
    )
    return {
        "test_accuracy": test_acc,
        "test_accuracy_before_recalibration": test_acc_before,
        "recalibration_images": n,
    }


def _fit(
    state: _TrainState,
    checkpoint_path: str | os.PathLike | None,
    fp: str,
    config: dict[str, Any],
) -> TrainResult:
    """Run the epochs not yet done, checkpointing after each; the trained model in eval mode."""
    epochs = state.run.sched["epochs"]
    start_epoch = _resume(state, checkpoint_path, fp)
    bar = tqdm(
        range(start_epoch, epochs),
        desc=f"train {state.run.reg.name}",
        initial=start_epoch,
        total=epochs,
        disable=state.run.quiet,
    )
    for epoch in bar:
        row = _run_epoch(state, epoch)
        state.curve.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", test_acc=f"{row['test_acc']:.3f}")
        if checkpoint_path is not None:
            save_checkpoint(
                checkpoint_path,
                {
                    "fingerprint": fp,
                    "config": config,
                    "epoch": epoch + 1,
                    "model": state.model.state_dict(),
                    "optimizer": state.optimizer.state_dict(),
                    "rng": capture_rng(state.gens, state.run.dev),
                    "curve": state.curve,
                },
            )
    bar.close()

    last = state.curve[-1]
    recalibrated = _recalibrate(state, last["test_acc"]) if state.run.recalibrate_bn else {}
    state.model.eval()
    metrics = {
        "test_accuracy": last["test_acc"],
        "train_accuracy": last["train_acc"],
        "final_loss": last["loss"],
        "final_loss_ce": last["loss_ce"],
        "final_loss_reg": last["loss_reg"],
        "epochs": epochs,
        "iterations": epochs * state.run.sched["iters_per_epoch"],
        "regularizer": state.run.reg.name,
        "reg_params": state.run.params,
        "supervised": state.run.sched["n_labeled"] is None,
        "n_labeled": len(state.labeled),
        "seed": state.run.seed,
        **recalibrated,
    }
    model = state.model.to(memory_format=torch.contiguous_format)
    return TrainResult(model=model, metrics=metrics, curve=state.curve)
