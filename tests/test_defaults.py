"""Every default is written once: in config/schema.yaml. Tested both ways.

- The library: a parameter named like a schema key either has no default or the schema's; the
  few that differ on purpose (a published default kept by name, a parameter that only shares a
  name with a key) are listed in DELIBERATE with the reason, and the list is checked to be exact.
- The embedded config (config/config.yaml) holds only what differs from the schema.
- config/README.md's default column is generated from the schema (`make docs`), its allowed
  values are the schema's enums, and every key it or docs/ names in backticks is a schema key.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from camrobust.config import SCHEMA, load_yaml
from camrobust.schema_keys import NO_DEFAULT, SchemaKey, find, names_a_key, walk

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DOC = load_yaml(SCHEMA)
KEYS = list(walk(SCHEMA_DOC))

# (module:function, parameter) -> why its default is not the schema's (or it has one at all).
DELIBERATE: dict[tuple[str, str], str] = {
    # Published defaults kept by name (the workflow passes the config's values).
    ("camrobust.quality.sensitivity:sensitivity", "n_samples"): "Quantus' nr_samples, 200",
    ("camrobust.quality.faithfulness:faithfulness", "percentiles"): "pytorch-grad-cam's ROAD",
    # null in the schema means this value.
    ("camrobust.models.cnn13:__init__", "dropout"): "the architecture's own dropout, 0.5",
    ("camrobust.models.vgg:__init__", "dropout"): "the architecture's own dropout, 0.5",
    ("camrobust.noise.official:fetch_cifar10c", "url"): "the official location (Zenodo)",
    ("camrobust.noise.official:fetch_cifar10c", "md5"): "the official archive's MD5",
    # The same value in the library's vocabulary.
    ("camrobust.cam.engine:compute_cams", "autocast"): "None is the config's none (Plan maps it)",
    # A parameter that only shares a key's name.
    ("camrobust.data.shapes:_regular_polygon", "radius"): "a shape's size, not the noise radius",
    ("camrobust.data.zca:fit", "device"): "where a tensor is made, a resolved torch device",
    ("camrobust.seeding:torch_generator", "device"): "where a tensor is made",
    ("camrobust.metrics.table:per_image_table", "device"): "the metrics job runs on the CPU",
    ("camrobust.metrics.table:per_image_table", "batch_size"): "maps per similarity batch",
    ("camrobust.train.loop:evaluate_accuracy", "batch_size"): "images per accuracy batch",
    ("camrobust.models.registry:build_classifier", "seed"): "None leaves torch's RNG alone",
    ("camrobust.noise.blurs:spatial_gaussian", "mode"): "scipy's boundary mode",
    ("camrobust.noise.corruptions:corrupt", "seed"): "None: only the random families need one",
    ("camrobust.stats.models:treatment_rows", "seeds"): "None: no seed blocks",
    ("camrobust.train.settings:GlowSettings", "grad_clip"): "a safety net, not a config key",
    ("camrobust.cam.engine:compute_cams", "seed"): "None: no randomcam draws (Plan's call seed)",
    ("camrobust.metrics.rbo:make_regions", "device"): "where a tensor is made",
    ("camrobust.metrics.ssim:ssim", "sigma"): "SSIM's Gaussian window, 1.5 (Wang et al.)",
    ("camrobust.metrics.ssim:default_win_size", "sigma"): "SSIM's Gaussian window, 1.5",
    ("camrobust.report.headline:method_robustness", "score"): "a robustness column, not rbo's",
    ("camrobust.report.headline:baseline_clause", "score"): "a robustness column, not rbo's",
    ("camrobust.report.tables:summary_table", "score"): "a robustness column, not rbo's",
    ("camrobust.data.summary:DatasetSummary", "preprocess"): "None: not an image folder",
    ("camrobust.report.registry:FigureSpec", "measures"): "(): a figure that needs no measure",
    # The API's measures: every one a pair of maps alone gives (rbo also needs `regions`).
    ("camrobust.metrics.measures:similarity", "measures"): "MEASURES, the map-only measures",
    ("camrobust.metrics.pair:robustness_scores", "measures"): "MEASURES, the map-only measures",
    ("camrobust.metrics.robustness:aggregate", "measures"): "MEASURES, the map-only measures",
    ("camrobust.metrics.table:per_image_table", "measures"): "MEASURES, the map-only measures",
    ("camrobust.class_map:write_imagenet_table", "path"): "the package's ImageNet table file",
    ("camrobust.report.accuracy:accuracy_table", "classes"): "None: identity for every model",
    # Test data.
    ("camrobust.stats.synthetic:synthetic_per_image", "measures"): "a small synthetic table",
    ("camrobust.stats.synthetic:synthetic_per_image", "methods"): "a small synthetic table",
    ("camrobust.stats.synthetic:synthetic_per_image", "seeds"): "a small synthetic table",
}


# ---- the library's signature defaults -----------------------------------------------------------
def _is_object(key: SchemaKey) -> bool:
    return "properties" in key.node or key.node.get("type") == "object"


def _by_leaf() -> dict[str, list[SchemaKey]]:
    leaves: dict[str, list[SchemaKey]] = {}
    for key in KEYS:
        if key.default is not NO_DEFAULT and not _is_object(key):
            leaves.setdefault(key.name.rsplit(".", 1)[-1], []).append(key)
    return leaves


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _is_dataclass(node: ast.ClassDef) -> bool:
    def name(decorator: ast.expr) -> str:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return ast.unparse(target)

    return any(name(d).split(".")[-1] == "dataclass" for d in node.decorator_list)


def field_defaults(module: str, node: ast.ClassDef) -> Iterator[tuple[str, str, ast.expr]]:
    """(module:Class, field, default expression) of a dataclass's defaulted fields: the
    settings objects' fields are parameters of their constructors."""
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value:
            yield f"{module}:{node.name}", item.target.id, item.value


def signature_defaults() -> Iterator[tuple[str, str, ast.expr]]:
    """(module:function, parameter, default expression) of every defaulted library parameter
    (a dataclass's fields included)."""
    for path in sorted((ROOT / "camrobust").rglob("*.py")):
        if path.name == "paths.py":  # its defaults are the rules' wildcard patterns
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and _is_dataclass(node):
                yield from field_defaults(module, node)
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args
            positional = args.posonlyargs + args.args
            defaulted = positional[len(positional) - len(args.defaults) :]
            pairs = list(zip(defaulted, args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
            for arg, default in pairs:
                yield f"{module}:{node.name}", arg.arg, default


def _value(function: str, default: ast.expr) -> Any:
    try:
        return ast.literal_eval(default)
    except ValueError:  # a named constant: its value in the function's module
        module = importlib.import_module(function.split(":")[0])
        return eval(ast.unparse(default), vars(module))  # noqa: S307 (the library's own source)


def disagreements() -> dict[tuple[str, str], tuple[Any, list[Any]]]:
    leaves = _by_leaf()
    found = {}
    for function, param, default in signature_defaults():
        if param not in leaves:
            continue
        value = _plain(_value(function, default))
        schema = [_plain(key.default) for key in leaves[param]]
        if value not in schema:
            found[function, param] = (value, schema)
    return found


def test_library_defaults_are_the_schemas_or_listed_with_their_reason():
    found = disagreements()
    new = {k: v for k, v in found.items() if k not in DELIBERATE}
    assert not new, "library defaults that differ from the schema (value, schema): " + "; ".join(
        f"{f}({p}={v!r}) vs {s}" for (f, p), (v, s) in new.items()
    )
    stale = sorted(set(DELIBERATE) - set(found))
    assert not stale, f"DELIBERATE lists defaults that no longer differ from the schema: {stale}"


# ---- the embedded config ----------------------------------------------------------------------
def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for name, sub in value.items():
            yield from _leaves(sub, (*path, str(name)))
    else:
        yield ".".join(path), value


def test_the_embedded_config_holds_only_what_differs_from_the_schema():
    config = load_yaml(ROOT / "config" / "config.yaml")
    repeated = []
    for dotted, value in _leaves(config):
        key = find(KEYS, dotted) if "." in dotted or dotted in {k.name for k in KEYS} else None
        assert key is not None or names_a_key(KEYS, dotted), f"config.yaml: {dotted} is no key"
        if key is not None and _plain(key.default) == _plain(value):
            repeated.append(f"{dotted}: {value!r}")
    assert not repeated, f"config/config.yaml repeats schema defaults: {repeated}"


# ---- config/README.md and docs/ -----------------------------------------------------------------
DOCS = [ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
TOP_LEVEL = set(SCHEMA_DOC["properties"])
FILE_SUFFIX = re.compile(r"\.(json|csv|md|html|py|yaml|npz|pt|parquet|png|tsv|log|smk)$")


def key_mentions(text: str) -> Iterator[str]:
    """Every backticked dotted name that starts with a top-level key: `noise.table`,
    `datasets.<name>.n_eval`, `training.*` (a section), but not `metrics.json` (a file)."""
    for token in re.findall(r"`([^`\n]+)`", text):
        head = re.split(r"[:=\s]", token, maxsplit=1)[0].removesuffix(".*")
        if "." not in head or head.split(".")[0] not in TOP_LEVEL or "(" in head:
            continue
        if not FILE_SUFFIX.search(head):
            yield head


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_key_the_docs_name_is_a_schema_key(path):
    unknown = sorted({k for k in key_mentions(path.read_text()) if not names_a_key(KEYS, k)})
    assert not unknown, f"{path.relative_to(ROOT)} names keys the schema does not have: {unknown}"


def test_the_config_readmes_default_column_is_generated_from_the_schema():
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "config_docs.py"), "--check"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert run.returncode == 0, run.stderr


def _key_rows() -> Iterator[tuple[list[str], dict[str, str]]]:
    """(keys, {column: cell}) of each row of config/README.md's key tables."""
    header: list[str] | None = None
    for line in (ROOT / "config" / "README.md").read_text().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif header[0] == "Key" and not set(line) <= set("|-: "):
            yield re.findall(r"`([^`]+)`", cells[0]), dict(zip(header, cells, strict=True))


def test_the_allowed_values_are_the_schemas_enums():
    checked = 0
    for names, row in _key_rows():
        for name in names:
            key = find(KEYS, name)
            assert key is not None, f"config/README.md: `{name}` is not a schema key"
            if key.allowed is None or not all(isinstance(v, str) for v in key.allowed):
                continue
            listed = re.findall(r"`([^`]+)`", row["Allowed"])
            assert sorted(listed) == sorted(key.allowed), f"{name}: {listed} vs {key.allowed}"
            checked += 1
    assert checked >= 10  # cam.methods, stats.correction, noise.table, ... (not vacuous)


def test_the_generator_fails_on_a_key_the_schema_lacks():
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from config_docs import render

    table = "| Key | Type | Default |\n|---|---|---|\n| `cam.method` | list | x |\n"
    with pytest.raises(ValueError, match="`cam.method` is not a key"):
        render(table, KEYS)
    good = render(table.replace("cam.method", "cam.methods").replace("list", "l"), KEYS)
    methods = find(KEYS, "cam.methods").default
    assert f"| `[{', '.join(methods)}]` |" in good
