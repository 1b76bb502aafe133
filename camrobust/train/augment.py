"""Seeded batch augmentation: random translation and horizontal flip, as in the VAT code.

The official code pads each image with zeros (`tf.pad`'s default CONSTANT mode) by `translate`
pixels and crops a random window back to the original size, then flips left-right with
probability 1/2. `pad="reflect"` is offered for inputs where black borders would be a cue.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

PAD_MODES = ("zero", "reflect")
# The config's keys (`training.augment`; defaults in config/schema.yaml) and the one that is not.
KEYS = ("translate", "flip")
PAD = "zero"


def augment_params(given: dict[str, Any], image_size: int) -> dict[str, Any]:
    """`given` (translate, flip, optionally pad: zero by default) checked; unknown or missing keys
    and impossible values are errors."""
    given = dict(given)
    unknown = sorted(set(given) - {*KEYS, "pad"})
    missing = [k for k in KEYS if k not in given]
    if unknown or missing:
        what = f"unknown keys {unknown}" if unknown else f"missing keys {missing}"
        raise ValueError(f"augment: {what}; it reads {[*KEYS, 'pad']}")
    params = {**given, "pad": given.get("pad", PAD)}
    translate = params["translate"]
    if isinstance(translate, bool) or not isinstance(translate, int) or translate < 0:
        raise ValueError(f"augment: translate must be an integer >= 0, got {translate!r}")
    if not isinstance(params["flip"], bool):
        raise ValueError(f"augment: flip must be true or false, got {params['flip']!r}")
    if params["pad"] not in PAD_MODES:
        raise ValueError(f"augment: pad must be one of {PAD_MODES}, got {params['pad']!r}")
    if params["pad"] == "reflect" and translate >= image_size:
        raise ValueError(f"augment: reflect padding needs translate < image size {image_size}")
    return params


def augment_batch(
    x: torch.Tensor, params: dict[str, Any], generator: torch.Generator
) -> torch.Tensor:
    """Translate each image of N×C×H×W `x` by up to ±translate px and maybe flip it, seeded."""
    n, _, h, w = x.shape
    t = params["translate"]
    if t > 0:
        # Offsets and flips come from a CPU generator, so they do not depend on the device.
        offsets = torch.randint(0, 2 * t + 1, (2, n), generator=generator).to(x.device)
        mode = "constant" if params["pad"] == "zero" else "reflect"
        padded = F.pad(x, (t, t, t, t), mode=mode)
        rows = offsets[0, :, None] + torch.arange(h, device=x.device)
        cols = offsets[1, :, None] + torch.arange(w, device=x.device)
        batch = torch.arange(n, device=x.device)[:, None, None]
        # Advanced indices around the channel slice put the indexed dims first: N×H×W×C.
        x = padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if params["flip"]:
        flip = torch.rand(n, generator=generator).to(x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x.contiguous()
