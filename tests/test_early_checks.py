"""Every mistake caught before the first job: one line naming the key and the closest valid
value, no job started, nothing written (camrobust/config.py, camrobust/early.py,
camrobust/preflight.py); and the estimate of the CAM work printed before the first job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from camrobust.config import ConfigError, check_sizes, validate_config
from camrobust.early import WIDE_LAYER_CHANNELS, cam_work, layer_channels, preflight
from camrobust.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
WNIDS = ["n01440764", "n02102040", "n02979186", "n03000684", "n03028079"]


def make_folder(root: Path, classes: list[str], per_class: int = 6) -> Path:
    """Small random JPEGs, `per_class` in each class folder."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.jpg")
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """A folder of five WordNet-id classes, one with a name matching nothing, and a random
    1000-class torchvision ResNet-18 checkpoint."""
    import torch
    import torchvision

    base = tmp_path_factory.mktemp("early")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=1000).state_dict(), base / "r18.pt")
    return {
        "folder": str(make_folder(base / "wnid", WNIDS)),
        "odd": str(make_folder(base / "odd", [*WNIDS[:4], "tabby_cat"])),
        "checkpoint": str(base / "r18.pt"),
    }


def folder_config(files: dict[str, str], **changes) -> dict:
    """The 1000-class checkpoint evaluated on the WordNet-id folder (10 test images)."""
    config = {
        "device": "cpu",
        "datasets": {"f": {"source": "imagefolder", "path": files["folder"], "image_size": 32,
                           "n_eval": 10, "test_fraction": 0.4}},
        "architectures": {},
        "models": {"r": {"source": "torchvision", "name": "resnet18",
                         "checkpoint": files["checkpoint"]}},
        "noise": {"corruptions": {"gaussian": {"severities": [3]}}},
        "metrics": {"sensitivity": {"enabled": False}, "faithfulness": {"enabled": False}},
    }  # fmt: skip
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[last] = value
    return config


# (name, config changes, the line's start) with `files`' folder and checkpoint filled in
CASES = [
    ("target layer", {"models.r.target_layer": "layer9"},
     "config error: models.r.target_layer: target_layer 'layer9' is not a module of "
     "PixelSpaceModel: closest: layer4, layer3, layer2, layer1"),
    ("architecture layer", {"architectures": {"resnet18": {"target_layer": "layer5"}},
                            "models": {}},
     "config error: architectures.resnet18.target_layer: target_layer 'layer5' is not a module "
     "of ResNet18: closest: layer4, layer3, layer2, layer1"),
    ("model name", {"models.r.name": "resnet5O"},
     "config error: models.r.name: torchvision has no classification model 'resnet5O'; "
     "closest: resnet50"),
    ("corruption value", {"noise.corruptions": {"impulse": {"values": [0.05, 1.5]}}},
     "config error: noise.corruptions.impulse.values[1]: impulse is a fraction in [0, 1], got "
     "1.5; closest valid: 0.07 (cifar10c severity 5)"),
    ("corruption shape", {"noise.corruptions": {"motion_blur": {"values": [10]}}},
     "config error: noise.corruptions.motion_blur.values[0]: motion_blur takes 2 numbers, got "
     "10; closest valid: severities, e.g. 1 (cifar10c: (6, 1))"),
    ("split size", {"datasets.f.n_eval": 12},
     "config error: datasets.f.n_eval: 12 is more than the 10 test images of the folder "),
    ("labeled images", {"architectures": {"resnet18": {}}, "models": {},
                        "training": {"n_labeled": 50}},
     "config error: training.n_labeled: 50 is more than the 20 training images of datasets.f "),
    ("cuda device", {"device": "cuda:99"},
     "config error: device: cuda:99 is not a CUDA device here (torch finds "),
    ("class names", {"datasets.f.path": "odd"},
     "config error: models.r.classes: no ImageNet class for 'tabby_cat' (closest: 'tabby' or "),
    ("checkpoint", {"models.r.name": "resnet34"},
     "config error: models.r.checkpoint: checkpoint "),
]  # fmt: skip


def _filled(files: dict[str, str], changes: dict) -> dict:
    return {k: files.get(v, v) if isinstance(v, str) else v for k, v in changes.items()}


def checked(config: dict) -> None:
    """What the Snakefile runs before any job, all in this process (it runs the torch checks in
    a child process: the slow test below)."""
    from camrobust.preflight import check_device, run_checks

    valid = validate_config(config)
    classes = check_sizes(valid)
    run_checks({"config": valid, "classes": classes})
    check_device(valid["device"])  # the Snakefile's onstart, once a local run starts


@pytest.mark.parametrize(("case", "changes", "line"), CASES, ids=[c[0] for c in CASES])
def test_each_mistake_is_one_line_naming_the_key(files, case, changes, line):
    with pytest.raises(ConfigError) as err:
        checked(folder_config(files, **_filled(files, changes)))
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(line), str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize(("case", "changes", "line"), CASES, ids=[c[0] for c in CASES])
def test_snakemake_stops_before_any_job_writing_nothing(files, tmp_path, case, changes, line):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(folder_config(files, **_filled(files, changes))))
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work),
           "--configfile", str(path), "--cores", "1"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert done.returncode != 0 and lines[-1].startswith(line), done.stderr[-2000:]
    assert "rule " not in done.stdout + done.stderr  # no job was scheduled, let alone started
    assert not (work / "results").exists()
    if case != "cuda device":  # checked when the run starts, after the other checks passed
        assert not (work / ".snakemake" / "camrobust").exists()  # no result cached either


def test_a_valid_folder_config_passes_and_its_checks_are_cached(files, tmp_path, monkeypatch):
    """The torch checks run once per config and files: an unchanged dry run reads the cache."""
    import camrobust.early as early

    config = validate_config(folder_config(files))
    classes = check_sizes(config)
    assert classes == {"f": tuple(WNIDS)}
    first = preflight(config, classes, cache=tmp_path)
    assert first["channels"] == {"r": 512}
    calls = []
    monkeypatch.setattr(early.subprocess, "run", lambda *a, **k: calls.append(a))
    assert preflight(config, classes, cache=tmp_path) == first and calls == []
    # the default config has nothing for them: no child process, no cache
    default = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    assert preflight(default, check_sizes(default), cache=tmp_path) is None
    assert calls == [] and len(list(tmp_path.iterdir())) == 1


def test_the_default_layers_channels_are_known_without_building_a_model():
    import torch

    from camrobust.models import build_classifier
    from camrobust.names import TARGET_CHANNELS, TARGET_LAYERS, scaled

    for arch in TARGET_LAYERS:
        for width in (0.125, 0.3, 1.0):
            model = build_classifier(arch, 10, width=width).eval()
            layer = model.get_submodule(TARGET_LAYERS[arch])
            captured: list[torch.Tensor] = []
            handle = layer.register_forward_hook(lambda m, a, out, got=captured: got.append(out))
            model(torch.zeros(1, 3, 32, 32))
            handle.remove()
            assert captured[0].shape[1] == scaled(TARGET_CHANNELS[arch], width), (arch, width)


def test_the_cam_work_of_the_default_config_and_the_scorecam_warning():
    default = Plan(validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())))
    # 12 models x (clean + 4 corruption levels + FGSM), and FGSM transferred from each seed's ERM
    # model to its 3 other models (the ERM model's transfer is its own attack's maps): 72 + 9 = 81
    # jobs of 100 images, as the dry run plans (cam 69 + cam_clean 12); layer4 at width 0.125 has
    # 64 channels: 81 x 100 x 64 AblationCAM passes
    assert cam_work(default, layer_channels(default, {})) == [
        "CAM work: 81 cam jobs of 8,100 images in all: per image 1 forward and 1 backward pass "
        "for the one-pass methods; ablationcam 518,400 passes of the layers after the CAM layer "
        "(64 channels per image)"
    ]
    config = validate_config({"cam": {"methods": ["gradcam", "scorecam"]}})
    plan = Plan(config)
    lines = cam_work(plan, layer_channels(plan, {"resnet18": 2048}))
    assert lines[0].startswith("CAM work: 4 cam jobs of 400 images in all: ")
    assert "scorecam 819,200 forward passes of the whole network (2,048 channels" in lines[0]
    assert lines[1].startswith(
        "warning: ScoreCAM runs the whole network once per channel: 2,048 forward passes per "
        "image at the CAM layer of resnet18"
    )
    narrow = cam_work(plan, layer_channels(plan, {"resnet18": WIDE_LAYER_CHANNELS - 1}))
    assert len(narrow) == 1


def test_a_user_models_channels_come_from_the_checks_or_are_said_unknown(files):
    plan = Plan(validate_config(folder_config(files)))
    unknown = cam_work(plan, layer_channels(plan, {}))
    assert unknown[0].endswith("(channels of r unknown: not counted)")
    known = cam_work(plan, layer_channels(plan, {"r": 512}))
    assert "ablationcam 10,240 passes" in known[0]  # 2 sets x 10 images x 512 channels


def test_the_preflight_child_reads_the_request_and_answers_json(files):
    config = validate_config(folder_config(files))
    request = {"config": config, "classes": {"f": WNIDS}}
    done = subprocess.run([sys.executable, "-m", "camrobust.preflight"], input=json.dumps(request),
                          capture_output=True, text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["channels"] == {"r": 512}


def test_the_shipped_imagenet_subset_config_passes_every_check_once_its_files_exist(tmp_path):
    """config/imagenet-subset.yaml on ten WordNet-id folders with a random 1000-class
    ResNet-50: the checks pass, ResNet-50's published transform is the folder's."""
    import torch
    import torchvision

    from camrobust.preflight import run_checks

    raw = yaml.safe_load((ROOT / "config" / "imagenet-subset.yaml").read_text())
    wnids = [*WNIDS, "n03394916", "n03417042", "n03425413", "n03445777", "n03888257"]
    for dataset in raw["datasets"].values():
        dataset["path"] = str(make_folder(tmp_path / "val", wnids, per_class=50))
    torch.save(torchvision.models.resnet50().state_dict(), tmp_path / "r50.pt")
    raw["models"]["resnet50"]["checkpoint"] = str(tmp_path / "r50.pt")
    config = validate_config(raw)
    result = run_checks({"config": config, "classes": check_sizes(config)})
    assert result["channels"] == {"resnet50": 2048}
    plan = Plan(config)
    assert plan.data.params("imagenette")["preprocess"] == {
        "published_by": [["torchvision", "resnet50"]]
    }
    lines = cam_work(plan, layer_channels(plan, result["channels"]))
    assert len(lines) == 1 and "scorecam" not in lines[0]  # opt-in: no warning


def test_the_default_configs_checks_import_no_torch():
    """What the Snakefile runs on every dry run of the default config stays torch-free."""
    code = (
        "import sys, yaml\n"
        "from camrobust.config import check_sizes, validate_config\n"
        "from camrobust.early import cam_work, layer_channels, preflight\n"
        "from camrobust.plan import Plan\n"
        "config = validate_config(yaml.safe_load(open('config/config.yaml')))\n"
        "assert preflight(config, check_sizes(config)) is None\n"
        "plan = Plan(config)\n"
        "cam_work(plan, layer_channels(plan, {}))\n"
        "print(sorted({'torch', 'torchvision', 'timm'} & set(sys.modules)))\n"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
