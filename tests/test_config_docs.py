"""config/README.md documents every key of config/schema.yaml (an undocumented new key fails).

The schema is walked through `properties`, `$ref`s into `$defs`, and the `additionalProperties`
of name-keyed maps, whose keys appear as placeholders: `<family>` under `noise.corruptions`,
`<name>` elsewhere (`datasets.<name>.n_eval`). A map whose values are plain scalars and whose
names are an enum (a dataset's svhn `md5`) contributes one key per allowed name (`md5.train`).
Each dotted name must appear in the README in backticks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
README = ROOT / "config" / "README.md"
PLACEHOLDERS = {"corruptions": "<family>"}  # map key -> placeholder; default "<name>"


def resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """`node` with its `$ref` chain merged in (sibling keys win, as in the config loader)."""
    seen: set[str] = set()
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/") and ref not in seen, f"unsupported or cyclic $ref {ref}"
        seen.add(ref)
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def has_keys(node: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    node = resolve(node, root)
    return "properties" in node or isinstance(node.get("additionalProperties"), Mapping)


def schema_keys(
    node: Mapping[str, Any], root: Mapping[str, Any], prefix: str = ""
) -> Iterator[str]:
    """Dotted names of every key below `node`."""
    node = resolve(node, root)
    for name, sub in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        yield key
        yield from schema_keys(sub, root, f"{key}.")
    extra = node.get("additionalProperties")
    if not isinstance(extra, Mapping):
        return
    if has_keys(extra, root):
        last = prefix.rstrip(".").rsplit(".", 1)[-1]
        placeholder = PLACEHOLDERS.get(last, "<name>")
        yield from schema_keys(extra, root, f"{prefix}{placeholder}.")
    else:
        yield from (f"{prefix}{name}" for name in node.get("propertyNames", {}).get("enum", []))


SCHEMA_DOC = yaml.safe_load(SCHEMA.read_text())
KEYS = sorted(set(schema_keys(SCHEMA_DOC, SCHEMA_DOC)))


def test_walk_finds_nested_keys():
    expected = {
        "seed",
        "datasets.<name>.n_eval",
        "datasets.<name>.md5.train",
        "datasets.<name>.training.augment.flip",
        "architectures.<name>.target_layer",
        "noise.corruptions.<family>.severities",
        "noise.adversarial.pgd.step_fraction",
        "generative.glow.bits",
    }
    assert expected <= set(KEYS)
    assert all(re.fullmatch(r"[a-z0-9_<>]+(\.[a-z0-9_<>]+)*", key) for key in KEYS), KEYS


@pytest.mark.parametrize("key", KEYS)
def test_key_is_documented(key):
    assert f"`{key}`" in README.read_text(), f"config/README.md does not document `{key}`"
