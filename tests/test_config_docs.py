"""config/README.md documents every key of config/schema.yaml (an undocumented new key fails).

The keys are those of `camrobust.schema_keys.walk`: placeholders for the names of maps
(`datasets.<name>.n_eval`, `noise.corruptions.<family>.severities`) and one key per allowed name
of a map of plain values (`datasets.<name>.md5.train`). Each dotted name must appear in the README
in backticks. The other direction (every key the docs name is a schema key, the default column
is the schema's) is tests/test_defaults.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from camrobust.schema_keys import resolve, walk

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
README = ROOT / "config" / "README.md"

SCHEMA_DOC = yaml.safe_load(SCHEMA.read_text())
KEYS = sorted({key.name for key in walk(SCHEMA_DOC)})
__all__ = ["KEYS", "SCHEMA_DOC", "resolve"]


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
