"""The checks before any job that need torch: model names, checkpoints, target layers, class
mappings, the published transforms an image folder's models agree on, and a CUDA device.

Run as `python -m camrobust.preflight` by `camrobust.early` (a JSON request on stdin, the
result on stdout; or `--device DEVICE` once a local run starts), so the Snakemake process never
imports torch; its result is cached by the request's hash. Models are built without weights: on
the meta device, or on the CPU where a constructor needs real tensors. A failed check prints one
line naming the config key and exits with status 2.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from camrobust.class_map import resolve_class_map
from camrobust.config import ConfigError
from camrobust.names import TARGET_LAYERS


def _fail(key: str, what: object) -> ConfigError:
    return ConfigError(f"config error: {key}: {what}")


def check_device(device: str) -> None:
    """A `cuda[:N]` device this machine's torch has."""
    if not device.startswith("cuda"):
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= count:
        have = f"{count}: cuda:0 to cuda:{count - 1}" if count else "none"
        closest = f"cuda:{count - 1}" if count else "auto or cpu"
        raise _fail("device", f"{device} is not a CUDA device here (torch finds {have}); "
                    f"closest valid: {closest}")  # fmt: skip


@functools.cache
def _state(path: str) -> dict[str, torch.Tensor]:
    from camrobust.models.checkpoints import read_state_dict

    return read_state_dict(path, mmap=True)  # shapes only: nothing read beyond the header


def _layer_channels(
    model: nn.Module, layer_name: str | None, size: int, layout: str | None
) -> tuple[str, int]:
    """The target layer (the family's default for None) and its channel count, from one forward
    of a blank image on the model's device (the meta device costs nothing)."""
    from camrobust.cam.families import choose_layout, default_target_layer, find_family
    from camrobust.cam.layers import find_layer, user_name

    device = next(model.parameters()).device
    example = torch.zeros(1, 3, size, size, device=device)
    with torch.no_grad():
        if layer_name is None:
            layer_name = default_target_layer(model, example)
        full, layer = find_layer(model, layer_name)
        shapes = []
        handle = layer.register_forward_hook(lambda m, a, out: shapes.append(tuple(out.shape)))
        try:
            model(example)
        finally:
            handle.remove()
    shape = choose_layout(find_family(model), layer, len(shapes[0]), layout, None)
    return user_name(model, full), shapes[0][1] if shape.kind == "nchw" else shapes[0][-1]


def _architecture(name: str, spec: Mapping[str, Any], size: int) -> int:
    """A project architecture's non-default target layer exists; its channel count."""
    from camrobust.models.registry import build_classifier
    from camrobust.models.sources import without_weights

    options = {"width": spec["width"], "top_bn": spec["top_bn"]}
    model = without_weights(lambda k: build_classifier(name, k, **options), 10).eval()
    try:
        return _layer_channels(model, spec["target_layer"] or TARGET_LAYERS[name], size, None)[1]
    except ValueError as err:
        raise _fail(f"architectures.{name}.target_layer", err) from None


def _outputs(name: str, entry: dict[str, Any], classes: Sequence[str]) -> int:
    """How many outputs the model has: its checkpoint's (evaluate), the dataset's (train)."""
    from camrobust.models.sources import checkpoint_outputs

    if entry["mode"] == "train" or entry["checkpoint"] is None:
        return len(classes)
    try:
        return checkpoint_outputs(entry, _state(entry["checkpoint"]))
    except ValueError as err:
        raise _fail(f"models.{name}.checkpoint", err) from None


def _user_model(name: str, spec: Mapping[str, Any], size: int, classes: Sequence[str]) -> int:
    """A `models` entry: its name in its source, its checkpoint fits, its classes map, its
    target layer exists; returns the layer's channel count."""
    from camrobust.models.checkpoints import check_fits
    from camrobust.models.sources import build_model, network_state, without_weights

    entry = {**spec, "input_size": spec["input_size"] or size}
    options = {"input_size": entry["input_size"], "mean": spec["mean"], "std": spec["std"]}

    def build(k: int) -> nn.Module:
        return build_model(spec["source"], spec["name"], k, **options, **spec["kwargs"])

    try:  # the name in its source, and the constructor's options
        without_weights(build, 2)
    except (ValueError, ImportError) as err:
        key = "kwargs" if str(err).startswith("kwargs") else "name"
        raise _fail(f"models.{name}.{key}", err) from None
    outputs = _outputs(name, entry, classes)
    model = without_weights(build, outputs).eval()
    if spec["checkpoint"] is not None:
        architecture = f"{spec['source']}:{spec['name']} with {outputs} classes"
        try:
            check_fits(
                network_state(model), _state(spec["checkpoint"]), spec["checkpoint"], architecture
            )
        except ValueError as err:
            raise _fail(f"models.{name}.checkpoint", err) from None
    if spec["mode"] == "evaluate":
        try:
            resolve_class_map(spec["classes"], classes, outputs)
        except ValueError as err:
            raise _fail(f"models.{name}.classes", err) from None
    try:
        return _layer_channels(
            model, spec["target_layer"], entry["input_size"], spec["cam_layout"]
        )[1]
    except ValueError as err:
        raise _fail(f"models.{name}.target_layer", err) from None


def _transforms(config: Mapping[str, Any]) -> None:
    """Each image folder's models agree on one published evaluation transform (`auto`)."""
    from camrobust.models.published import agreed_transform
    from camrobust.plan import Plan

    plan = Plan(dict(config))
    for name, spec in config["datasets"].items():
        if spec["source"] != "imagefolder":
            continue
        preprocess = plan.data.image_preprocess(spec["preprocess"])
        if preprocess is not None and "published_by" in preprocess:
            try:
                key = f"datasets.{name}.preprocess"
                agreed_transform(preprocess["published_by"], spec["image_size"], key)
            except ValueError as err:
                raise ConfigError(f"config error: {err}") from None


def run_checks(request: Mapping[str, Any]) -> dict[str, Any]:
    """Every check of the request {config, classes: {dataset: names}}; the channel count of
    each checked model's target layer ({name: channels}); ConfigError for the first failure."""
    started = time.perf_counter()
    config, classes = request["config"], request["classes"]
    channels: dict[str, int] = {}
    first = next(iter(config["datasets"]))
    size = config["datasets"][first]["image_size"]
    for name, spec in config["architectures"].items():
        if spec["target_layer"] is not None:
            channels[name] = _architecture(name, spec, size)
    for name, spec in config["models"].items():
        for dataset, data in config["datasets"].items():
            channels[name] = _user_model(name, spec, data["image_size"], classes[dataset])
    _transforms(config)
    return {"channels": channels, "seconds": round(time.perf_counter() - started, 3)}


def main(argv: Sequence[str]) -> int:
    """`--device DEVICE`: check the device; else read the request from stdin and print the
    result as JSON. A failed check prints one error line (status 2)."""
    try:
        if argv[:1] == ["--device"]:
            check_device(argv[1])
            return 0
        json.dump(run_checks(json.load(sys.stdin)), sys.stdout)
    except ConfigError as err:
        print(" ".join(str(err).split()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
