"""The README's worked example of `camrobust explain`: a photograph that ships with scikit-image
(Chelsea the cat) and a random-initialised ResNet-50 checkpoint (nothing can be downloaded here).

Writes the photograph and the checkpoint to `--work`, runs the command line as the README shows
it (at `--size` pixels and 80 dpi: the README's picture is drawn at 96 pixels to stay under 200
KB), prints its output and copies the grid to `--picture`:

    python examples/explain_photo.py [--work explain_example] [--picture docs/explain_example.png]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import skimage.data
import torch
import torchvision
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("gradcam", "layercam", "ablationcam")
NOISES = ("motion_blur:3", "fog:3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("explain_example"))
    parser.add_argument("--picture", type=Path, default=ROOT / "docs" / "explain_example.png")
    parser.add_argument("--size", type=int, default=96)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    photo = args.work / "chelsea.png"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    torch.manual_seed(0)  # random weights standing in for a real checkpoint
    checkpoint = args.work / "resnet50.pt"
    torch.save(torchvision.models.resnet50(num_classes=1000).state_dict(), checkpoint)
    command = [
        "camrobust", "explain", str(photo), "--model", "torchvision:resnet50",
        "--checkpoint", str(checkpoint), "--methods", *METHODS, "--noise", *NOISES,
        "--size", str(args.size), "--dpi", "80", "--out", str(args.work),
    ]  # fmt: skip
    print("$", " ".join(command))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    subprocess.run([sys.executable, "-m", *command], check=True, env=env)
    shutil.copyfile(args.work / "chelsea_cams.png", args.picture)


if __name__ == "__main__":
    main()
