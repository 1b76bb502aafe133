"""A 1000-class ImageNet checkpoint on folders of a few ImageNet classes, end to end: folders
named by WordNet id and by category name, a mapping file beside `auto`, the published transform."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import snakemake
from PIL import Image

pytestmark = pytest.mark.slow

# Five Imagenette classes: WordNet id, torchvision category name as a folder, ImageNet output.
CLASSES = [
    ("n01440764", "tench", 0),
    ("n02102040", "English_springer", 217),
    ("n02979186", "cassette_player", 482),
    ("n03000684", "chain_saw", 491),
    ("n03028079", "church", 497),
]
SIZE = 64  # ResNet-50's published 232 -> 224 scaled: resize 66, crop 64


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Random-weight ResNet-50 (1000 outputs, `classes: auto`) evaluated on a WordNet-id folder
    and a category-name folder (the same images; tests/test_class_map.py has mapping files)."""
    import torch
    import torchvision

    base = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for wnid, name, _ in CLASSES:
        for i in range(6):
            pixels = rng.integers(0, 256, (48 + 4 * i, 80, 3), dtype=np.uint8)
            for folder in (base / "wnid" / wnid, base / "names" / name):
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50(num_classes=1000).state_dict(), base / "r50.pt")
    model = {"source": "torchvision", "name": "resnet50", "checkpoint": str(base / "r50.pt")}
    folder = {"source": "imagefolder", "image_size": SIZE, "n_eval": 10, "test_fraction": 0.4}
    config = {
        "seed": 0, "device": "cpu",
        "datasets": {"wnid": {**folder, "path": str(base / "wnid")},
                     "names": {**folder, "path": str(base / "names")}},
        "architectures": {},
        "models": {"auto": model},
        "noise": {"corruptions": {"gaussian": {"severities": [3]}}},
        "cam": {"methods": ["gradcam", "layercam"], "batch_size": 10},
        "metrics": {"bootstrap": 20, "sensitivity": {"enabled": False},
                    "faithfulness": {"enabled": False}},
        "stats": {"min_pairs": 5},
    }  # fmt: skip
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    # The tables and grid the tests read: the stats, claims and figures of a run are tested on
    # the tiny config (tests/test_workflow.py).
    targets = [
        f"results/tables/{name}" for name in ("per_image.parquet", "accuracy.csv", "robustness.csv")
    ]
    targets.append("results/report/names/cam_grid/auto.png")
    done = snakemake(base / "run", "--cores", "2", *targets, config=path)
    return base, base / "run" / "results", done


def test_both_folders_map_to_the_checkpoints_imagenet_outputs(run):
    _, results, done = run
    assert "CAM work: 4 cam jobs of 40 images in all" in done.stderr
    per_image = pd.read_parquet(results / "tables/per_image.parquet")
    for dataset in ("wnid", "names"):
        rows = per_image[per_image["dataset"] == dataset]
        assert set(rows["label"]) == {index for *_, index in CLASSES}
    assert per_image["pred_clean"].between(0, 999).all()  # predictions over all 1000 outputs
    accuracy = pd.read_csv(results / "tables/accuracy.csv", dtype={"level": str, "seed": str})
    rows = accuracy[accuracy["seed"] == "0"].drop_duplicates(["dataset", "model"])
    how = {(r.dataset, r.model): r.classes for r in rows.itertuples()}
    assert how == {("wnid", "auto"): "auto: WordNet ids", ("names", "auto"): "auto: category names"}


def test_import_accuracy_is_the_clean_accuracy_on_the_mapped_labels(run):
    """import_model's accuracy (its own pass) equals the CAM jobs' predictions scored on the
    mapped labels: an evaluate-only folder's test file holds the evaluation images."""
    _, results, _ = run
    per_image = pd.read_parquet(results / "tables/per_image.parquet")
    for dataset in ("wnid", "names"):
        metrics = json.loads((results / f"models/{dataset}/auto/metrics.json").read_text())
        clean = per_image[per_image["dataset"] == dataset].drop_duplicates("image")
        assert metrics["num_classes"] == 1000 and metrics["test_images"] == 10
        assert metrics["test_accuracy"] == (clean["pred_clean"] == clean["label"]).mean()


def test_images_are_prepared_with_the_published_transform(run):
    from camrobust.data.imagefolder import EvalTransform, list_imagefolder, load_image

    base, results, _ = run
    log = (results / "logs/data/wnid.log").read_text()
    assert "images prepared by resize 66, crop 64, bilinear" in log
    chosen, _ = list_imagefolder(base / "wnid", 0.4, 0)
    data = np.load(results / "data/wnid/eval.npz")
    transform = EvalTransform(66, 64, "bilinear")
    for image, index in zip(data["images"], data["indices"], strict=True):
        np.testing.assert_array_equal(image, load_image(chosen["test"][index][0], SIZE, transform))


def test_cam_files_and_grids_name_the_outputs(run):
    from camrobust.cam.store import load_cams

    _, results, _ = run
    cams = load_cams(results / "cams/names/auto/clean/0.npz")
    assert cams["logits"].shape == (10, 1000) and len(cams["output_names"]) == 1000
    assert cams["output_names"][217] == "English springer"
    assert sorted(set(cams["label_map"].tolist())) == [index for *_, index in CLASSES]
    assert not any(flags.any() for flags in cams["nonfinite"].values())
    robust = pd.read_csv(results / "tables/robustness.csv")
    assert (robust["n_nonfinite"] == 0).all()
    assert (results / "report/names/cam_grid/auto.png").is_file()
