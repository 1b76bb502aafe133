"""A classifier that takes images in [0, 1] pixel space and applies its own preprocessing.

Images, noise and attacks all live in [0, 1]; the mean/std standardisation a network was trained
with belongs to the model, so it is applied here, inside the forward, and gradients (CAMs, VAT)
flow through it to the pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

#: ImageNet channel statistics, the preprocessing of torchvision's pretrained classifiers
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects of its [0, 1] input: per-channel mean/std and square input size."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: int

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"mean {self.mean} and std {self.std} need one value per channel")
        if any(not s > 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, int):
            raise ValueError(f"input_size must be an integer, got {self.input_size!r}")
        if self.input_size < 1:
            raise ValueError(f"input_size must be positive, got {self.input_size}")

    def as_dict(self) -> dict[str, object]:
        """Plain values (lists, ints) for saving alongside the weights."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def check_pixels(x: Tensor, channels: int, size: int) -> None:
    """Inputs are float N×channels×size×size (the model's input size)."""
    if x.dim() != 4 or x.shape[1] != channels or not x.is_floating_point():
        raise ValueError(
            f"expected a float N×{channels}×{size}×{size} batch in [0, 1], got {x.dtype} "
            f"{tuple(x.shape)}"
        )
    if tuple(x.shape[2:]) != (size, size):
        raise ValueError(
            f"this model takes {size}×{size} images (its input_size), got {tuple(x.shape[2:])}"
        )


# A leaf in torch.fx traces: the CAM engine splits models at the target layer, and the
# check's control flow on shapes cannot be traced symbolically.
torch.fx.wrap("check_pixels")


class PixelSpaceModel(nn.Module):
    """`net((x − mean) / std)` for x in [0, 1]; layer names are those of `net` (see cam.layers)."""

    layer_root = "net"

    def __init__(self, net: nn.Module, preprocessing: Preprocessing) -> None:
        super().__init__()
        self.net = net
        self.preprocessing = preprocessing
        shape = (1, len(preprocessing.mean), 1, 1)
        # Not persistent: the state dict is exactly the network's, as checkpoints hold it.
        mean = torch.tensor(preprocessing.mean).reshape(shape)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer(
            "std", torch.tensor(preprocessing.std).reshape(shape), persistent=False
        )

    def forward(self, x: Tensor) -> Tensor:
        check_pixels(x, self.mean.shape[1], self.preprocessing.input_size)
        return self.net((x - self.mean) / self.std)
