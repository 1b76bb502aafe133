"""The `classes` of a `models` entry: ImageNet folder names, mapping files, identity, and the
output count read from a checkpoint (camrobust/class_map.py, camrobust/models/sources.py)."""

from __future__ import annotations

import json

import pytest

from camrobust.class_map import (
    IMAGENET_OUTPUTS,
    imagenet_classes,
    match_imagenet,
    read_mapping_file,
    resolve_class_map,
)

# Imagenette's ten classes: WordNet ids, and torchvision's category names of the same classes.
IMAGENETTE = {
    "n01440764": ("tench", 0),
    "n02102040": ("English springer", 217),
    "n02979186": ("cassette player", 482),
    "n03000684": ("chain saw", 491),
    "n03028079": ("church", 497),
    "n03394916": ("French horn", 566),
    "n03417042": ("garbage truck", 569),
    "n03425413": ("gas pump", 571),
    "n03445777": ("golf ball", 574),
    "n03888257": ("parachute", 701),
}


def test_the_shipped_table_is_torchvisions_categories_and_timms_wordnet_ids():
    """The table `auto` reads offline equals the installed packages' metadata, class by class."""
    from timm.data import ImageNetInfo
    from torchvision.models import ResNet50_Weights, ViT_B_16_Weights

    table = imagenet_classes()
    assert len(table) == IMAGENET_OUTPUTS
    for weights in (ResNet50_Weights.IMAGENET1K_V2, ViT_B_16_Weights.IMAGENET1K_V1):
        assert [c.name for c in table] == weights.meta["categories"]
    info = ImageNetInfo()
    assert [c.wnid for c in table] == [info.index_to_label_name(i) for i in range(1000)]
    # WordNet ids sort in output order: a folder of all 1000 wnids is the identity as well
    assert sorted(c.wnid for c in table) == [c.wnid for c in table]


def test_folders_match_by_wordnet_id_or_category_name():
    wnids = sorted(IMAGENETTE)
    indices, how = match_imagenet(wnids)
    assert indices == tuple(IMAGENETTE[w][1] for w in wnids) and how == "auto: WordNet ids"
    # folder names as datasets write them: any case, '_' or '-' for spaces
    names = ["tench", "English_springer", "cassette-player", "CHAIN_SAW", "church"]
    indices, how = match_imagenet(names)
    assert indices == (0, 217, 482, 491, 497) and how == "auto: category names"
    indices, how = match_imagenet(["n01440764", "golf_ball"])
    assert indices == (0, 574) and how == "auto: WordNet ids and category names"


def test_a_folder_matching_nothing_is_one_line_naming_it_and_the_closest_names():
    with pytest.raises(ValueError) as err:
        match_imagenet(["n01440764", "tabby_cat", "n0144076"])
    message = str(err.value)
    assert "\n" not in message
    assert "no ImageNet class for 'tabby_cat' (closest: 'tabby'" in message
    assert "'n0144076' (closest: 'n01440764'" in message
    with pytest.raises(ValueError, match=r"folders 'tench', 'n01440764' are the same class 0"):
        match_imagenet(["tench", "n01440764"])


def test_a_mapping_file_json_or_csv_names_each_folders_output(tmp_path):
    (tmp_path / "map.json").write_text(json.dumps({"fish": 0, "dog": 217, "unused": 3}))
    (tmp_path / "map.csv").write_text("folder,index\nfish,0\ndog,217\n")
    for name in ("map.json", "map.csv"):
        assert read_mapping_file(tmp_path / name)["dog"] == 217
        got = resolve_class_map(str(tmp_path / name), ["dog", "fish"], IMAGENET_OUTPUTS)
        assert got.indices == (217, 0) and got.how == f"file: {name}"
        assert got.output_names[217] == "English springer"  # a 1000-output model: ImageNet names
    small = resolve_class_map(str(tmp_path / "map.csv"), ["dog", "fish"], 300)
    assert small.output_names[217] == "dog" and small.output_names[5] == "class 5"
    (tmp_path / "bad.csv").write_text("fish,0\ndog,zero\n")
    with pytest.raises(ValueError, match=r"'dog' maps to 'zero', not an index"):
        read_mapping_file(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match=r"has no entry for folder 'cat'"):
        resolve_class_map(str(tmp_path / "map.json"), ["cat", "dog"], IMAGENET_OUTPUTS)
    with pytest.raises(ValueError, match=r"'dog' -> 217 is beyond the model's 10 outputs"):
        resolve_class_map(str(tmp_path / "map.json"), ["dog", "fish"], 10)


def test_an_explicit_mapping_file_wins_over_auto(tmp_path):
    """Folders named like ImageNet classes, mapped elsewhere by the file: the file decides."""
    folders = ["n01440764", "n02102040"]
    auto = resolve_class_map("auto", folders, IMAGENET_OUTPUTS)
    (tmp_path / "map.json").write_text(json.dumps({"n01440764": 5, "n02102040": 7}))
    mapped = resolve_class_map(str(tmp_path / "map.json"), folders, IMAGENET_OUTPUTS)
    assert auto.indices == (0, 217) and mapped.indices == (5, 7)


def test_identity_and_auto_for_a_model_with_the_datasets_classes():
    same = resolve_class_map("auto", ["ant", "bee", "cat"], 3)
    assert same.indices == (0, 1, 2) and same.output_names == ("ant", "bee", "cat")
    assert same.how == "identity" and resolve_class_map(
        "identity", ["a", "b"], 2
    ) == same.__class__((0, 1), ("a", "b"), "identity")
    with pytest.raises(ValueError, match=r"the model has 5 outputs, the dataset 3 classes"):
        resolve_class_map("auto", ["ant", "bee", "cat"], 5)
    with pytest.raises(ValueError, match=r"identity needs as many outputs as classes"):
        resolve_class_map("identity", ["ant", "bee", "cat"], IMAGENET_OUTPUTS)


@pytest.mark.parametrize(
    ("source", "name", "outputs"),
    [("torchvision", "resnet18", 1000), ("torchvision", "vit_b_16", 7), ("timm", "resnet10t", 5)],
)
def test_the_output_count_is_read_from_the_checkpoints_head(tmp_path, source, name, outputs):
    import torch

    from camrobust.models.sources import build_model, checkpoint_outputs, network_state

    torch.manual_seed(0)
    size = {"input_size": 32} if name.startswith("vit") else {}
    state = network_state(build_model(source, name, outputs, **size))
    path = tmp_path / "w.pt"
    torch.save(state, path)
    entry = {"source": source, "name": name, "checkpoint": str(path), "kwargs": {}}
    assert checkpoint_outputs({**entry, "input_size": size.get("input_size")}) == outputs
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=rf"holds no classifier head of {source}:{name}"):
        checkpoint_outputs({**entry, "input_size": size.get("input_size")})
