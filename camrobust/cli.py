"""The `camrobust` command (`python -m camrobust` alike): `camrobust explain IMAGE ...`.

Errors are one line on stderr and exit status 2; nothing is written for an image that fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="camrobust", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser(
        "explain",
        help="every CAM method's overlay on an image, clean and under noise, and how similar",
        description="Write one PNG per image (the report's CAM grid: clean and each noise side "
        "by side, a row per method) and print the predictions and each method's similarity of "
        "clean and noisy map on every measure.",
    )
    explain.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    explain.add_argument("--model", required=True, help="SOURCE:NAME, e.g. torchvision:resnet50")
    explain.add_argument("--checkpoint", help="a state dict (default: random weights)")
    explain.add_argument("--methods", nargs="+", help="CAM methods (default: the config default)")
    explain.add_argument(
        "--noise", nargs="*", default=[], metavar="FAMILY:LEVEL",
        help="corruption:severity (motion_blur:3) or attack:eps in 1/255 (fgsm:8)",
    )  # fmt: skip
    explain.add_argument("--measures", nargs="+", help="similarity measures (default: every one)")
    explain.add_argument("--layer", help="CAM target layer (default: the model family's)")
    explain.add_argument("--size", type=int, help="input size (default: the published one)")
    explain.add_argument(
        "--preprocess", choices=("auto", "square"), default="auto",
        help="auto: the published evaluation transform; square: the centred square, resized",
    )  # fmt: skip
    explain.add_argument(
        "--seed", type=int, default=0, help="seed of the random noises (and random weights)"
    )
    explain.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    explain.add_argument("--out", default="explain", help="folder of the PNGs (default: explain)")
    explain.add_argument("--dpi", type=int, help="resolution of the PNGs (default: report.dpi's)")
    return parser


def _explain(args: argparse.Namespace) -> None:
    from pathlib import Path

    from camrobust.config import schema_default
    from camrobust.device import resolve_device
    from camrobust.explain import (
        build_explained,
        default_methods,
        draw,
        explain_image,
        parse_noise,
        summary_lines,
    )
    from camrobust.metrics.measures import MEASURES

    noises = [parse_noise(text) for text in args.noise]
    device = resolve_device(args.device)
    square = args.preprocess == "square"
    explained = build_explained(args.model, args.checkpoint, args.size, square, device, args.seed)
    if args.checkpoint is None:
        print(f"{explained.label}: no --checkpoint, the maps explain an untrained network")
    for image in args.images:
        explanation = explain_image(
            image,
            explained,
            methods=args.methods or default_methods(),
            noises=noises,
            measures=args.measures or list(MEASURES),
            target_layer=args.layer,
            seed=args.seed,
        )
        out = Path(args.out) / f"{Path(image).stem}_cams.png"
        draw(explanation, out, args.dpi or schema_default("report", "dpi"))
        print("\n".join(summary_lines(explanation, explained.label)))
        print(f"  grid: {out}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; 0 on success, 2 with one error line on stderr otherwise."""
    args = _parser().parse_args(argv)
    try:
        _explain(args)
    except (ValueError, ImportError, RuntimeError, OSError) as err:
        print(f"camrobust {args.command}: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0
