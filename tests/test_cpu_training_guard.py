"""Every project architecture trains on the CPU at its narrowest widths without crashing.

A CPU kernel that corrupts the heap kills the process that runs it: here that is a child per
architecture, so a crash fails this test naming the architecture and the width it was training,
instead of taking a test worker down. (On AVX2 CPUs the channels-last weight gradient of a 1×1
stride-2 convolution narrower than 8 channels did so: camrobust/train/layout.py.)
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import torch

from camrobust.models import build_classifier
from camrobust.models.registry import ARCHITECTURES
from camrobust.train.layout import cpu_training_format, narrow_strided_pointwise

# The first layer of every architecture at 1, 2, 4, 6 and 8 channels (64 × width); below 8 the
# shortcut convolutions of resnet18 are narrower than the safe width.
WIDTHS = (1 / 64, 1 / 32, 1 / 16, 3 / 32, 1 / 8)

CHILD = """
import sys
import numpy as np
import torch
from camrobust.models import build_classifier
from camrobust.train import TrainSettings, train_classifier

torch.set_num_threads(1)
arch = sys.argv[1]
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
labels = rng.integers(0, 10, 64)
schedule = dict(epochs=1, iters_per_epoch=4, batch_labeled=16, batch_unlabeled=16, lr=1e-3,
                epoch_decay_start=1, n_labeled=None)
vat = dict(eps=2.0, xi=1e-4, alpha=1.0, entmin=False, whiten=False)
augment = dict(translate=0, flip=False)
for width in map(float, sys.argv[2:]):
    for reg, params in (("erm", None), ("vat", vat)):
        print(width, reg, flush=True)
        model = build_classifier(arch, 10, width=width, seed=0)
        settings = TrainSettings(regularizer=reg, reg_params=params, schedule=schedule,
                                 augment=augment, recalibrate_bn=False, seed=0, device="cpu")
        train_classifier(model, images, labels, images[:16], labels[:16], settings,
                         progress=False)
print("done", flush=True)
"""


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_narrow_architectures_train_on_the_cpu(arch):
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, arch, *map(str, WIDTHS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = proc.stdout.split()
    if proc.returncode != 0:
        width, reg = proc.stdout.splitlines()[-1].split() if lines else ("?", "?")
        how = (
            signal.Signals(-proc.returncode).name
            if proc.returncode < 0
            else f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
        )
        pytest.fail(f"{arch} at width {width} ({reg}) died on the CPU: {how}")
    assert proc.stdout.splitlines()[-1] == "done"


def test_unsafe_convolutions_keep_the_default_format():
    narrow = build_classifier("resnet18", 10, width=1 / 32)  # shortcuts of 2, 4 and 8 channels
    assert narrow_strided_pointwise(narrow) == ["layer2.0.shortcut.0", "layer3.0.shortcut.0"]
    assert cpu_training_format(narrow) == torch.contiguous_format
    wide = build_classifier("resnet18", 10, width=1 / 8)  # 8, 16 and 32
    assert narrow_strided_pointwise(wide) == []
    assert cpu_training_format(wide) == torch.channels_last
    assert cpu_training_format(build_classifier("vgg11_bn", 10, width=1 / 64)) == (
        torch.channels_last
    )
