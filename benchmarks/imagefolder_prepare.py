"""Peak memory and speed of preparing a large image folder (rule prepare_data's streaming path).

Generates, in a temporary folder and from a seed, `--n-images` JPEGs of 256×256 pixels in a few
class folders (not timed), then prepares them at `image_size: 224` in a child process, so that
the generation does not count, and prints that process's peak resident memory (VmHWM), the
images decoded per second, and whether the peak stays within 2 GB. Both splits are decoded (a
model trains on the dataset). `--reference` also prepares the folder the way the workflow did
before streaming (every image loaded into one array, then saved), in another child process,
and prints its peak and the ratio.

    OMP_NUM_THREADS=1 python benchmarks/imagefolder_prepare.py [--n-images 20000]

20,000 images make 3 GB of prepared arrays and take minutes: the generated folder and the
prepared files are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

RSS_BOUND_BYTES = 2 * 1024**3
SOURCE_SIZE = 256
IMAGE_SIZE = 224


def generate_folder(root: Path, n_images: int, n_classes: int, seed: int) -> None:
    """`n_images` seeded JPEGs of SOURCE_SIZE² pixels, spread evenly over `n_classes` folders:
    smooth random colour fields (a 16×16 random image enlarged), so files are photo-sized."""
    rng = np.random.default_rng(seed)
    for c in range(n_classes):
        (root / f"class_{c}").mkdir(parents=True)
    for i in range(n_images):
        small = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        image = small.resize((SOURCE_SIZE, SOURCE_SIZE), Image.Resampling.BICUBIC)
        image.save(root / f"class_{i % n_classes}" / f"img_{i:06d}.jpg", quality=90)


def _params(root: Path, n_eval: int) -> dict:
    """prepare_data's params for the folder, from the plan, as the workflow passes them."""
    from camrobust.config import validate_config
    from camrobust.plan import Plan

    folder = {
        "source": "imagefolder",
        "path": str(root),
        "image_size": IMAGE_SIZE,
        "n_eval": n_eval,
    }
    quality = {"sensitivity": {"images": 10}, "faithfulness": {"images": 10}}  # n_eval may be 10
    config = {"datasets": {"folder": folder}, "metrics": quality}
    return Plan(validate_config(config)).data.params("folder")


def _child(root: str, out: str, mode: str, n_eval: str) -> None:
    """Prepare `root` into `out` (streamed, or loaded whole as before) and print one JSON line."""
    from camrobust.data.prepare import prepare_dataset, write_dataset
    from camrobust.io import save_npz

    params = _params(Path(root), int(n_eval))
    outputs = {split: Path(out) / f"{split}.npz" for split in ("train", "test", "eval")}
    start = time.perf_counter()
    if mode == "streamed":
        counts = write_dataset(params, out, outputs).counts
    else:
        data = prepare_dataset(params, out, params["seed"])
        names = np.array(data["class_names"])
        for split in ("train", "test"):
            save_npz(outputs[split], **data[split].arrays(), class_names=names)
        save_npz(outputs["eval"], **data["eval"].arrays(), indices=data["eval_indices"],
                 source_indices=data["eval_source_indices"], class_names=names)  # fmt: skip
        counts = {split: len(data[split].labels) for split in ("train", "test", "eval")}
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss": _peak_rss(), "counts": counts}))


def _peak_rss() -> int:
    """This process's peak resident memory in bytes since its exec: Linux's VmHWM. Not
    ru_maxrss, which Linux carries over exec from the process it was forked from (a child of a
    2.5 GB pytest worker reported 2.5 GB)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _prepare(root: Path, out: Path, mode: str, n_eval: int) -> dict:
    """Run `_child` in a fresh interpreter and return what it measured."""
    out.mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(root), str(out), mode, str(n_eval)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"the {mode} preparation failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=20_000)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", action="store_true", help="also the in-memory way")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="imagefolder_bench_", dir=args.workdir))
    try:
        start = time.perf_counter()
        generate_folder(work / "images", args.n_images, args.classes, args.seed)
        jpeg_mb = sum(p.stat().st_size for p in (work / "images").rglob("*.jpg")) / 1e6
        print(
            f"generated {args.n_images} JPEGs of {SOURCE_SIZE}x{SOURCE_SIZE} in {args.classes} "
            f"classes ({jpeg_mb:.0f} MB) in {time.perf_counter() - start:.1f} s (not measured)"
        )
        n_eval = max(10, min(100, args.n_images // 10))  # the default 100, or what a few have
        streamed = _prepare(work / "images", work / "streamed", "streamed", n_eval)
        counts = streamed["counts"]
        decoded = counts["train"] + counts["test"]
        peak = streamed["peak_rss"]
        arrays_mb = decoded * IMAGE_SIZE * IMAGE_SIZE * 3 / 1e6
        print(
            f"prepared at image_size {IMAGE_SIZE}: {counts['train']} train, {counts['test']} "
            f"test, {counts['eval']} eval images ({arrays_mb:.0f} MB of arrays) in "
            f"{streamed['seconds']:.1f} s: {decoded / streamed['seconds']:.0f} images/s"
        )
        print(f"peak RSS of the preparing process: {peak / 2**20:.0f} MiB")
        within = "yes" if peak <= RSS_BOUND_BYTES else "NO"
        print(f"peak RSS <= 2 GB: {within}")
        if args.reference:
            shutil.rmtree(work / "streamed")  # room on the disk for the reference's files
            loaded = _prepare(work / "images", work / "loaded", "loaded", n_eval)
            print(
                f"reference, everything loaded then saved: peak RSS "
                f"{loaded['peak_rss'] / 2**20:.0f} MiB, {decoded / loaded['seconds']:.0f} "
                f"images/s; streamed/loaded peak RSS {peak / loaded['peak_rss']:.2f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        _child(*sys.argv[2:])
    else:
        main()
