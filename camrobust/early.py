"""Everything checked before the first job, and the estimate of the CAM work, for the Snakefile.

`validate_config` (the schema and the rules between keys) and `check_sizes` (the data's sizes)
are pure Python. The checks that need torch (`camrobust.preflight`: model names, checkpoints,
target layers, class mappings, published transforms) run in a child process, only when the config
has something for them (a `models` entry, a non-default target layer), and their result is cached
under `.snakemake/camrobust/` by the hash of what they read: the config, the datasets' classes,
the checkpoint and mapping files' sizes and times, and the checks' own code. So a dry run of an
unchanged config never imports torch. A CUDA `device` is checked where the jobs will run, once
the run starts (`check_device`, from the Snakefile's `onstart`): not for a dry run, nor on a
cluster's login node, which may have no GPU.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from camrobust.class_map import KINDS as CLASS_MAP_KINDS
from camrobust.config import ConfigError
from camrobust.names import TARGET_CHANNELS, TARGET_LAYERS, scaled, split_model

CACHE = Path(".snakemake") / "camrobust"
PREFLIGHT_CODE = Path(__file__).with_name("preflight.py")
# A layer this wide makes ScoreCAM (one forward pass of the whole network per channel and
# image) the bulk of a run: warn before it starts.
WIDE_LAYER_CHANNELS = 256
# The methods that re-run (part of) the network once per channel of the target layer, and what
# each re-runs (camrobust/cam/score.py, camrobust/cam/ablation.py).
PER_CHANNEL = {
    "scorecam": "forward passes of the whole network",
    "ablationcam": "passes of the layers after the CAM layer",
}


def torch_checks(config: Mapping[str, Any]) -> list[str]:
    """What in the config needs the torch checks (empty: none)."""
    reasons = [f"models.{name}" for name in config["models"]]
    reasons += [
        f"architectures.{arch}.target_layer"
        for arch, spec in config["architectures"].items()
        if spec["target_layer"] is not None
    ]
    return reasons


def _files(config: Mapping[str, Any]) -> dict[str, list[int]]:
    """Size and modification time of each file the torch checks read."""
    paths = [m["checkpoint"] for m in config["models"].values() if m["checkpoint"]]
    paths += [
        m["classes"] for m in config["models"].values() if m["classes"] not in CLASS_MAP_KINDS
    ]
    return {p: [Path(p).stat().st_size, Path(p).stat().st_mtime_ns] for p in sorted(set(paths))}


def _key(request: Mapping[str, Any]) -> str:
    files = _files(request["config"])
    blob = json.dumps([request, files, PREFLIGHT_CODE.read_text()], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _child(*args: str, stdin: str | None = None) -> str:
    """stdout of `python -m camrobust.preflight ARGS`; ConfigError with its one error line."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "camrobust.preflight", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ConfigError(lines[-1] if lines else f"preflight failed ({done.returncode})")
    return done.stdout


def preflight(
    config: Mapping[str, Any], classes: Mapping[str, Any], *, cache: Path = CACHE
) -> dict[str, Any] | None:
    """The torch checks' result ({"channels": {name: n}, "seconds": s}), cached; None when the
    config has nothing for them or torch is not installed here (the jobs then check). A failed
    check is a ConfigError with its one line."""
    if not torch_checks(config) or importlib.util.find_spec("torch") is None:
        return None
    request = {"config": config, "classes": {k: list(v) for k, v in classes.items()}}
    path = cache / f"preflight-{_key(request)}.json"
    if path.is_file():
        return json.loads(path.read_text())
    answer = _child(stdin=json.dumps(request))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(answer)
    return json.loads(answer)


def check_device(device: str) -> None:
    """A `cuda[:N]` device exists where this process runs (torch asked in a child process);
    ConfigError naming `device` and the closest valid value otherwise."""
    if device.startswith("cuda") and importlib.util.find_spec("torch") is not None:
        _child("--device", device)


def layer_channels(plan: Any, checked: Mapping[str, int]) -> dict[str, int | None]:
    """The target layer's channel count of each architecture and `models` entry: the torch
    checks' count, else the default layer's at its width; None where not known."""
    channels: dict[str, int | None] = {}
    for arch in plan.architectures:
        spec = plan.config["architectures"].get(arch)
        default = spec is not None and spec["target_layer"] is None and arch in TARGET_LAYERS
        channels[arch] = scaled(TARGET_CHANNELS[arch], spec["width"]) if default else None
    channels.update(dict.fromkeys(plan.user_models))
    channels.update(checked)
    return channels


def cam_work(plan: Any, channels: Mapping[str, int | None]) -> list[str]:
    """One line estimating the run's CAM work, and a warning where ScoreCAM will dominate."""
    methods = plan.config["cam"]["methods"]
    jobs = images = 0
    per_channel = dict.fromkeys(PER_CHANNEL, 0)
    widths: dict[str, int] = {}
    for dataset in plan.datasets:
        n = plan.config["datasets"][dataset]["n_eval"]
        for model in plan.models:
            # the clean set and each noise level whose maps are the model's own job (a transfer
            # against its own reference model is its own attack's maps)
            own = [noise for noise in plan.noises if plan.cam_noise(model, noise) == noise]
            sets = 1 + sum(len(plan.levels(noise)) for noise in own)
            jobs, images = jobs + sets, images + sets * n
            arch = split_model(model).arch
            if channels.get(arch) is not None:
                widths[arch] = channels[arch]
                for method in per_channel:
                    per_channel[method] += sets * n * channels[arch] * (method in methods)
    span = sorted(set(widths.values()))
    width = f"{span[0]:,}" if len(span) == 1 else f"{span[0]:,} to {span[-1]:,}" if span else "?"
    parts = ["per image 1 forward and 1 backward pass for the one-pass methods"]
    parts += [
        f"{method} {per_channel[method]:,} {PER_CHANNEL[method]} ({width} channels per image)"
        for method in PER_CHANNEL
        if method in methods
    ]
    unknown = sorted({split_model(m).arch for m in plan.models} - set(widths))
    note = f" (channels of {', '.join(unknown)} unknown: not counted)" if unknown else ""
    lines = [f"CAM work: {jobs} cam jobs of {images:,} images in all: {'; '.join(parts)}{note}"]
    wide = {arch: c for arch, c in widths.items() if c >= WIDE_LAYER_CHANNELS}
    if "scorecam" in methods and wide:
        arch, c = max(wide.items(), key=lambda item: item[1])
        lines.append(
            f"warning: ScoreCAM runs the whole network once per channel: {c:,} forward passes "
            f"per image at the CAM layer of {arch}, about {c // 3:,}x the cost of every other "
            "method together; it will dominate this run (drop it from cam.methods, as the "
            "default does)"
        )
    return lines
