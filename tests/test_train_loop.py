"""The training loop: schedule, sampling, augmentation, input errors, checkpoints and resuming."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from camrobust.config import schema_defaults
from camrobust.data.shapes import make_shapes
from camrobust.data.tensors import nchw_unit_float, to_model_input, unit_float
from camrobust.device import resolve_device
from camrobust.models import Glow, build_classifier
from camrobust.train import REGULARIZERS, TrainSettings, train_classifier
from camrobust.train.augment import augment_batch, augment_params
from camrobust.train.sampling import balanced_labeled_indices, epoch_batches
from camrobust.train.schedule import lr_and_beta1

TINY = {
    "epochs": 1,
    "iters_per_epoch": 2,
    "batch_labeled": 8,
    "batch_unlabeled": 8,
    "lr": 1e-3,
    "epoch_decay_start": 1,
    "n_labeled": None,
}
VAT = {**schema_defaults("vat"), "eps": 2.0}
LVAT = {**schema_defaults("regularizer"), "eps": 2.0}
# The config-fed arguments, which have no library defaults: ERM without augmentation or
# batch-norm recalibration, unless a test says otherwise.
RUN = {
    "regularizer": "erm",
    "reg_params": None,
    "augment": {"translate": 0, "flip": False},
    "recalibrate_bn": False,
    "seed": 0,
    "device": "cpu",
}


SPLITS = ("train_images", "train_labels", "test_images", "test_labels")


def train(model: torch.nn.Module, **kwargs):
    """`train_classifier` with RUN's settings where the test gives none; the settings' fields
    build a TrainSettings, the splits and the keyword arguments are passed on."""
    given = {**RUN, **kwargs}
    fields = {k: given.pop(k) for k in list(given) if k in TrainSettings.__dataclass_fields__}
    splits = [given.pop(k) for k in SPLITS]
    return train_classifier(model, *splits, TrainSettings(**fields), **given)


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    train, test = make_shapes(60, seed=0), make_shapes(20, seed=1)
    return {
        "train_images": train["images"],
        "train_labels": train["labels"],
        "test_images": test["images"],
        "test_labels": test["labels"],
    }


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_classifier("cnn13", 10, width=0.0625)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_lr_and_beta1_follow_the_official_schedule():
    got = [lr_and_beta1(ep, 10, 1e-3, 5) for ep in range(10)]
    lrs, betas = zip(*got, strict=True)
    np.testing.assert_allclose(lrs, [1e-3] * 6 + [8e-4, 6e-4, 4e-4, 2e-4], rtol=1e-12)
    assert betas == (0.9,) * 5 + (0.5,) * 5
    assert lr_and_beta1(3, 4, 2e-3, 4) == (2e-3, 0.9)  # decay start == epochs: never decays


def test_optimizer_gets_the_scheduled_lr_and_beta1(data, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    schedule = {**TINY, "epochs": 3, "iters_per_epoch": 1, "epoch_decay_start": 1}
    result = train(_model(), **data, schedule=schedule, checkpoint_path=ckpt, progress=False)
    assert [r["lr"] for r in result.curve] == pytest.approx([1e-3, 1e-3, 5e-4])
    assert [r["beta1"] for r in result.curve] == [0.9, 0.5, 0.5]
    state = torch.load(ckpt, weights_only=True)
    group = state["optimizer"]["param_groups"][0]
    assert group["lr"] == pytest.approx(5e-4) and tuple(group["betas"]) == (0.5, 0.999)
    assert state["epoch"] == 3 and len(state["curve"]) == 3


def test_balanced_labeled_subset():
    labels = np.repeat(np.arange(4), [30, 12, 50, 9])
    idx = balanced_labeled_indices(labels, 32, seed=0)
    assert len(np.unique(idx)) == 32 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(np.bincount(labels[idx]), [8, 8, 8, 8])
    np.testing.assert_array_equal(idx, balanced_labeled_indices(labels, 32, seed=0))
    assert not np.array_equal(idx, balanced_labeled_indices(labels, 32, seed=1))
    with pytest.raises(ValueError, match="multiple of the 4 classes"):
        balanced_labeled_indices(labels, 30, seed=0)
    with pytest.raises(ValueError, match="needs 10 images of class 3"):
        balanced_labeled_indices(labels, 40, seed=0)


def test_epoch_batches_walk_through_permutations():
    batches = epoch_batches(10, 4, 5, torch.Generator().manual_seed(0))
    assert batches.shape == (5, 4)
    flat = batches.flatten()
    assert sorted(flat[:10].tolist()) == list(range(10))
    assert sorted(flat[10:20].tolist()) == list(range(10))


@pytest.mark.parametrize("pad", ["zero", "reflect"])
def test_translation_is_a_crop_of_the_padded_image_and_flip_mirrors(pad):
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    params = augment_params({"translate": 2, "flip": True, "pad": pad}, image_size=8)
    out = augment_batch(x, params, torch.Generator().manual_seed(1)).numpy()
    padded = np.pad(
        x.numpy(), ((0, 0), (0, 0), (2, 2), (2, 2)), mode="constant" if pad == "zero" else "reflect"
    )
    offsets, flips = set(), 0
    for i in range(16):
        matches = [
            (dy, dx, f)
            for dy in range(5)
            for dx in range(5)
            for f in (False, True)
            if np.array_equal(
                out[i],
                padded[i, :, dy : dy + 8, dx : dx + 8][..., ::-1]
                if f
                else padded[i, :, dy : dy + 8, dx : dx + 8],
            )
        ]
        assert matches, f"image {i} is no flipped/unflipped crop of the padded image"
        offsets.add(matches[0][:2])
        flips += matches[0][2]
    assert len(offsets) > 3 and 0 < flips < 16  # really random
    again = augment_batch(x, params, torch.Generator().manual_seed(1)).numpy()
    np.testing.assert_array_equal(out, again)
    off = augment_params({"translate": 0, "flip": False}, image_size=8)
    assert torch.equal(augment_batch(x, off, torch.Generator()), x)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"regularizer": "mixup"}, "unknown regularizer 'mixup'"),
        ({"regularizer": "lvat_vae", "reg_params": LVAT}, "needs a generative model"),
        ({"generative": torch.nn.Identity()}, "takes no generative model"),
        (
            {"regularizer": "lvat_glow", "reg_params": LVAT, "generative": Glow(1, 1, 4)},
            "Glow is not initialised",
        ),
        ({"regularizer": "vat", "reg_params": {"epsilon": 1}}, "unknown reg_params"),
        ({"schedule": {**TINY, "epoch": 3}}, "schedule: unknown keys"),
        ({"schedule": {k: v for k, v in TINY.items() if k != "lr"}}, "schedule: missing keys"),
        ({"schedule": {**TINY, "n_labeled": 1000}}, "exceeds the 60 training images"),
        ({"augment": {"translate": -1, "flip": False}}, "translate must be an integer"),
        ({"augment": {"shift": 1}}, "augment: unknown keys"),
        ({"augment": {"translate": 2}}, r"augment: missing keys \['flip'\]"),
        ({"train_images": np.zeros((60, 32, 32, 3), np.float32)}, "train_images must be a uint8"),
        ({"test_labels": np.zeros(5, np.int64)}, "test: 20 images and 5 labels"),
        ({"test_labels": np.full(20, 10)}, "the model has 10 outputs"),
    ],
)
def test_bad_input_is_a_clear_error(data, change, message):
    kwargs = {**data, "schedule": TINY, "progress": False, **change}
    with pytest.raises(ValueError, match=message):
        train(_model(), **kwargs)


def test_same_seed_same_weights_and_supervised_metrics(data):
    runs = [
        train(
            _model(),
            **data,
            regularizer="vat",
            reg_params=VAT,
            schedule=TINY,
            augment={"translate": 2, "flip": True},
            progress=False,
        )
        for _ in range(2)
    ]
    assert _same_weights(runs[0].model, runs[1].model)
    assert runs[0].curve == runs[1].curve
    m = runs[0].metrics
    assert m["regularizer"] == "vat" and m["supervised"] and m["n_labeled"] == 60
    assert m["test_accuracy"] == runs[0].curve[-1]["test_acc"] and m["final_loss"] > 0
    assert set(runs[0].curve[0]) >= {"epoch", "lr", "loss_ce", "loss_reg", "train_acc", "test_acc"}
    assert not runs[0].model.training


@pytest.mark.parametrize(("regularizer", "changes"), [("erm", False), ("vat", True)])
def test_semi_supervised_pool(data, regularizer, changes):
    """ERM sees only the balanced labeled subset; VAT's unlabeled pool is the whole set."""
    schedule = {**TINY, "n_labeled": 20, "batch_unlabeled": 16}
    subset = balanced_labeled_indices(data["train_labels"], 20, seed=0)
    scrambled = data["train_images"].copy()
    outside = np.setdiff1d(np.arange(60), subset)
    scrambled[outside] = np.random.default_rng(0).integers(0, 256, scrambled[outside].shape)
    models = [
        train(
            _model(),
            **{**data, "train_images": imgs},
            regularizer=regularizer,
            reg_params={"erm": {}, "vat": VAT}[regularizer],
            schedule=schedule,
            progress=False,
        ).model
        for imgs in (data["train_images"], scrambled)
    ]
    assert _same_weights(*models) != changes


def test_checkpoint_of_another_config_is_ignored_and_finished_run_is_not_retrained(data, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    train(_model(), **data, schedule=TINY, checkpoint_path=ckpt, progress=False)
    other = {**TINY, "lr": 2e-3}
    resumed = train(_model(), **data, schedule=other, checkpoint_path=ckpt, progress=False)
    fresh = train(_model(), **data, schedule=other, progress=False)
    assert _same_weights(resumed.model, fresh.model)
    before = ckpt.stat().st_mtime_ns
    again = train(_model(), **data, schedule=other, checkpoint_path=ckpt, progress=False)
    assert _same_weights(again.model, fresh.model) and again.curve == fresh.curve
    assert ckpt.stat().st_mtime_ns == before  # nothing left to train, nothing rewritten


def test_checkpoint_of_other_initial_weights_is_ignored(data, tmp_path):
    """The checkpoint's identity includes the network it started from: another initialisation
    (another architecture option or init seed, same settings and data) trains afresh."""
    ckpt = tmp_path / "ckpt.pt"
    first = train(_model(), **data, schedule=TINY, checkpoint_path=ckpt, progress=False)
    torch.manual_seed(1)
    other = build_classifier("cnn13", 10, width=0.0625)
    fresh = train(copy.deepcopy(other), **data, schedule=TINY, progress=False)
    resumed = train(other, **data, schedule=TINY, checkpoint_path=ckpt, progress=False)
    assert _same_weights(resumed.model, fresh.model) and resumed.curve == fresh.curve
    assert not _same_weights(resumed.model, first.model)  # the finished run was not taken


RESUME_SCRIPT = """
import logging, sys, torch
torch.set_num_threads(1)
logging.basicConfig(level=logging.INFO)
from camrobust.data.shapes import make_shapes
from camrobust.data.tensors import nchw_unit_float, to_model_input, unit_float
from camrobust.device import resolve_device
from camrobust.models import build_classifier
from camrobust.train import TrainSettings, train_classifier
train, test = make_shapes(80, seed=0), make_shapes(20, seed=1)
torch.manual_seed(0)
model = build_classifier("cnn13", 10, width=0.0625)
ckpt = sys.argv[2] if len(sys.argv) > 2 else None
settings = TrainSettings(
    regularizer="vat",
    reg_params={"eps": 2.0, "xi": 1e-6, "alpha": 1.0, "entmin": False, "whiten": False},
    schedule={"epochs": 4, "iters_per_epoch": 3, "batch_labeled": 10, "batch_unlabeled": 16,
              "lr": 1e-3, "epoch_decay_start": 3, "n_labeled": 20},
    augment={"translate": 2, "flip": True}, recalibrate_bn=False, seed=7, device="cpu")
result = train_classifier(
    model, train["images"], train["labels"], test["images"], test["labels"], settings,
    checkpoint_path=ckpt, progress=False)
torch.save({"state": result.model.state_dict(), "curve": result.curve}, sys.argv[1])
"""


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RESUME_SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def test_killed_job_resumes_to_bit_identical_weights(tmp_path: Path):
    ckpt = tmp_path / "ckpt.pt"
    killed = subprocess.Popen(
        [sys.executable, "-c", RESUME_SCRIPT, str(tmp_path / "x.pt"), str(ckpt)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not ckpt.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    done = torch.load(ckpt, weights_only=True)["epoch"]
    assert 1 <= done < 4

    resumed = _run([str(tmp_path / "resumed.pt"), str(ckpt)])
    assert f"after epoch {done}" in resumed.stderr
    _run([str(tmp_path / "reference.pt")])
    a = torch.load(tmp_path / "resumed.pt", weights_only=True)
    b = torch.load(tmp_path / "reference.pt", weights_only=True)
    assert a["state"].keys() == b["state"].keys()
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    assert a["curve"] == b["curve"] and len(a["curve"]) == 4


def test_registry_names():
    assert REGULARIZERS == ("erm", "vat", "lvat_vae", "lvat_glow")


def test_one_pixel_scaling_and_device_coercion():
    levels = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    x = to_model_input(levels, "cpu")
    assert x.dtype == torch.float32 and x.shape == (2, 3, 4, 5)
    np.testing.assert_array_equal(x.numpy(), levels.transpose(0, 3, 1, 2) / np.float32(255))
    assert torch.equal(nchw_unit_float(torch.from_numpy(levels)), x)
    assert torch.equal(
        unit_float(torch.tensor([0, 255], dtype=torch.uint8)), torch.tensor([0, 1.0])
    )
    with pytest.raises(ValueError, match="uint8"):
        to_model_input(levels.astype(np.float32), "cpu")
    cpu = torch.device("cpu")
    assert resolve_device(cpu) is cpu and resolve_device("cpu") == cpu
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_a_user_checkpoint_fine_tunes_with_vat_and_round_trips(data, tmp_path):
    """Mode train of a config `models` entry: the network starts from the checkpoint (not from
    random weights), trains under VAT in pixel space, and reloads from its classifier file."""
    import torchvision

    from camrobust.models import load_classifier, save_classifier
    from camrobust.models.sources import build_model_entry

    torch.manual_seed(5)
    reference = torchvision.models.resnet18(weights=None, num_classes=10)
    torch.save(reference.state_dict(), tmp_path / "mine.pt")
    entry = {"source": "torchvision", "name": "resnet18", "checkpoint": str(tmp_path / "mine.pt"),
             "input_size": 32, "mean": None, "std": None, "kwargs": {}}  # fmt: skip
    torch.manual_seed(0)  # another seed: only the checkpoint can make the weights equal
    model = build_model_entry(entry, 10)
    assert _same_weights(model.net, reference)
    result = train(model, **data, regularizer="vat", reg_params=VAT, schedule=TINY, progress=False)
    assert not _same_weights(result.model.net, reference)  # it trained
    assert 0 <= result.metrics["test_accuracy"] <= 1
    save_classifier(tmp_path / "model.pt", result.model, {"arch": "resnet18", "num_classes": 10})
    loaded = load_classifier(tmp_path / "model.pt", "cpu")
    assert _same_weights(loaded, result.model)


def test_accuracy_of_a_memory_mapped_split_equals_that_of_a_tensor(tmp_path):
    """import_model passes the test split memory-mapped: batches go to the device one by one."""
    from camrobust.io import load_npz, save_npz
    from camrobust.train import evaluate_accuracy

    data = make_shapes(23, 32, 4)
    save_npz(tmp_path / "test.npz", images=data["images"], labels=data["labels"])
    mapped = load_npz(tmp_path / "test.npz", mmap=True)
    torch.manual_seed(0)
    model = build_classifier("resnet18", 10, width=0.0625).eval()
    labels = torch.from_numpy(np.array(mapped["labels"])).long()
    whole = evaluate_accuracy(model, torch.from_numpy(data["images"]), labels, batch_size=5)
    assert evaluate_accuracy(model, mapped["images"], labels, batch_size=5) == whole
    with torch.no_grad():
        preds = model(nchw_unit_float(torch.from_numpy(data["images"]))).argmax(1)
    assert whole == (preds == labels).sum().item() / 23 and 0 < whole < 1


def test_recalibrated_batchnorm_statistics_are_averages_under_the_final_weights(data):
    from camrobust.train.loop import recalibrate_batchnorm

    model = _model()
    images = torch.from_numpy(data["train_images"])  # 60 images: batches of 20, equal weight
    first = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    inputs = []
    hook = first.register_forward_hook(lambda m, args, out: inputs.append(args[0]))
    model.eval()
    with torch.no_grad():
        model(nchw_unit_float(images))  # what the first norm sees (nothing before it is a norm)
    hook.remove()
    x = inputs[0].transpose(0, 1).flatten(1)  # channels × (images · pixels)
    generator = torch.Generator().manual_seed(0)
    assert recalibrate_batchnorm(model, images, generator, batch_size=20) == 60
    torch.testing.assert_close(first.running_mean, x.mean(1), rtol=1e-5, atol=1e-6)
    # the variance: the mean of the three batches' unbiased variances (PyTorch's convention)
    order = torch.randperm(60, generator=torch.Generator().manual_seed(0))
    per_batch = [x.view(x.shape[0], 60, -1)[:, order[i : i + 20]].flatten(1) for i in (0, 20, 40)]
    expected = torch.stack([b.var(1, unbiased=True) for b in per_batch]).mean(0)
    torch.testing.assert_close(first.running_var, expected, rtol=1e-4, atol=1e-6)
    assert first.momentum == 0.1 and not model.training  # restored
    assert recalibrate_batchnorm(torch.nn.Linear(3, 2), images, generator) == 0  # no norm


def test_training_recalibrates_batchnorm_only_when_asked(data):
    plain = train(_model(), **data, schedule=TINY, progress=False)
    recal = train(_model(), **data, schedule=TINY, progress=False, recalibrate_bn=True)
    assert "recalibration_images" not in plain.metrics
    assert recal.metrics["recalibration_images"] == 60
    assert recal.metrics["test_accuracy_before_recalibration"] == plain.metrics["test_accuracy"]
    # the same weights, other running statistics
    weights = [
        k
        for k in plain.model.state_dict()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    ]
    assert all(
        torch.equal(plain.model.state_dict()[k], recal.model.state_dict()[k]) for k in weights
    )
    assert not torch.equal(
        next(m for m in plain.model.modules() if isinstance(m, torch.nn.BatchNorm2d)).running_mean,
        next(m for m in recal.model.modules() if isinstance(m, torch.nn.BatchNorm2d)).running_mean,
    )


def _labelled_batches(data, monkeypatch, regularizer: str, schedule: dict) -> list:
    """The (images, labels) of every labelled batch a training run feeds its steps."""
    import camrobust.train.loop as loop

    seen = []
    step = loop.training_step

    def recording(model, optimizer, reg, params, x_lab, y_lab, *rest):
        seen.append((x_lab.clone(), y_lab.clone()))
        return step(model, optimizer, reg, params, x_lab, y_lab, *rest)

    with monkeypatch.context() as patch:
        patch.setattr(loop, "training_step", recording)
        train(
            _model(),
            **data,
            regularizer=regularizer,
            reg_params={"erm": {}, "vat": VAT}[regularizer],
            schedule=schedule,
            augment={"translate": 2, "flip": True},
            progress=False,
        )
    return seen


def test_erm_and_vat_of_one_seed_see_identical_labelled_tensors_when_semi_supervised(
    data, monkeypatch
):
    """Separate streams: VAT's unlabelled batches and their augmentation take no draw from the
    labelled stream, so both regularisers train on the same augmented labelled tensors."""
    schedule = {**TINY, "epochs": 2, "iters_per_epoch": 3, "n_labeled": 20, "batch_unlabeled": 16}
    erm = _labelled_batches(data, monkeypatch, "erm", schedule)
    vat = _labelled_batches(data, monkeypatch, "vat", schedule)
    assert len(erm) == len(vat) == 6
    for (x_erm, y_erm), (x_vat, y_vat) in zip(erm, vat, strict=True):
        assert torch.equal(x_erm, x_vat) and torch.equal(y_erm, y_vat)
    # the batches are augmented (translated or flipped) and differ between iterations
    raw = nchw_unit_float(torch.from_numpy(data["train_images"]))
    assert not any(torch.equal(x_erm[0], img) for img in raw)
    assert not torch.equal(erm[0][0], erm[1][0])


def test_batchnorm_is_recalibrated_on_the_images_each_model_trained_on(data):
    """Semi-supervised: ERM learnt from the labelled subset only, VAT also from the pool."""
    schedule = {**TINY, "n_labeled": 20, "batch_unlabeled": 16}
    counts = {
        reg: train(
            _model(),
            **data,
            regularizer=reg,
            reg_params={"erm": {}, "vat": VAT}[reg],
            schedule=schedule,
            progress=False,
            recalibrate_bn=True,
        ).metrics["recalibration_images"]
        for reg in ("erm", "vat")
    }
    assert counts == {"erm": 20, "vat": 60}
