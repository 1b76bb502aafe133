"""Config validation against `config/schema.yaml`, with one-line errors that name the key.

jsonschema checks types, ranges and unknown keys; defaults are then filled from the schema, except
inside per-dataset overrides (marked `x-no-defaults`), which must stay sparse so that they only
replace what they name when merged over the global section. The rules that tie keys to each
other or to the filesystem are checked here too, so that every error comes before any job and
the library can take what it is given.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import jsonschema
import yaml

from camrobust.class_map import KINDS as CLASS_MAP_KINDS
from camrobust.class_map import MAPPING_SUFFIXES, check_mapping, read_mapping_file
from camrobust.data.cifar10c import FAMILIES as OFFICIAL_FAMILIES
from camrobust.explanation_names import ATTACKED_METHODS, EXPLANATION_ATTACK
from camrobust.names import ARCHS_WITHOUT_DROPOUT, TARGET_LAYERS, transfer_noise
from camrobust.noise.severities import SEVERITY_TABLES, check_value

# The schema: every key's type, range and default (the only place defaults are written). In a
# checkout camrobust/schema.yaml links to config/schema.yaml; an installed package holds a copy.
SCHEMA = (Path(__file__).parent / "schema.yaml").resolve()
# The largest image size `noise.table: auto` gives the CIFAR-10-C constants (made for 32×32).
CIFAR_C_MAX_SIZE = 32


class ConfigError(ValueError):
    """A config that does not match the schema; the message is one line naming the key."""


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file; a missing or unparsable file is a ConfigError naming it."""
    try:
        with open(path) as fh:
            # libyaml's loader where present: the schema is read on every dry run.
            return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path} is not valid YAML{where}: {what}") from None


def _key_path(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".") or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    """Turn a jsonschema error into 'key: what is wrong (what is allowed)'."""
    key = _key_path(error.absolute_path)
    value = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed)) if isinstance(value, Mapping) else []
        where = f"{key}." if error.absolute_path else ""
        hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"unknown key '{where}{extra[0] if extra else '?'}'{hint}"
    if kind == "propertyNames":
        names = schema.get("propertyNames", {}).get("enum")
        bad = [k for k in value if names and k not in names]
        return f"{key}: unknown name '{bad[0] if bad else '?'}'; allowed: {', '.join(names or [])}"
    if kind == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{key}: {value!r} is not allowed; allowed: {allowed}"
    if kind == "type":
        return f"{key}: {value!r} has the wrong type; expected {error.validator_value}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{key}: {value!r} is out of range ({kind} {error.validator_value})"
    if kind == "required":
        return f"{key}: {error.message}"
    return f"{key}: {error.message}"


def _fill_defaults(schema: Mapping, instance: Any, root: Mapping) -> Any:
    """Fill `default`s from `schema` into `instance` (recursively); returns the filled value."""
    schema = _dereferenced(schema, root)
    if schema.get("x-no-defaults") or not isinstance(instance, dict):
        return instance
    for name, sub in schema.get("properties", {}).items():
        sub = _dereferenced(sub, root)
        if name not in instance and "default" in sub:
            instance[name] = copy.deepcopy(sub["default"])
        if name in instance:
            instance[name] = _fill_defaults(sub, instance[name], root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        for name in set(instance) - set(schema.get("properties", {})):
            instance[name] = _fill_defaults(extra, instance[name], root)
    return instance


def _dereferenced(schema: Mapping, root: Mapping) -> Mapping:
    """`schema` with its `$ref` chain resolved (its own keys win over the referenced ones)."""
    while "$ref" in schema:
        schema = {
            **_resolve(root, schema["$ref"]),
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    return schema


def _resolve(root: Mapping, ref: str) -> Mapping:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def schema_defaults(definition: str, schema_path: str | Path = SCHEMA) -> dict:
    """The defaults of one `$defs` entry of the schema, filled ("regularizer" -> eps, xi, ...),
    for callers of the library outside the workflow (tests, benchmarks)."""
    schema = load_yaml(schema_path)
    node = {**schema["$defs"][definition], "x-no-defaults": False}
    return canonical(_fill_defaults(node, {}, schema))


def schema_default(*keys: str, schema_path: str | Path = SCHEMA) -> Any:
    """The schema default of a top-level key path (("cam", "methods") -> the methods a run
    computes when the config names none), for library callers outside the workflow."""
    node = load_yaml(schema_path)
    for key in keys:
        node = node["properties"][key]
    return copy.deepcopy(node["default"])


def validate_config(config: Mapping, schema_path: str | Path = SCHEMA) -> dict:
    """Return a validated copy of `config` with defaults filled; raise ConfigError otherwise."""
    schema = load_yaml(schema_path)
    filled = _fill_defaults(schema, copy.deepcopy(dict(config)), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        # The deepest error under a oneOf/anyOf is usually the informative one.
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"config error: {_describe(best)}")
    _check_cross_key_rules(filled)
    return canonical(filled)


def _fail(key: str, what: str) -> NoReturn:
    """Stop with the one-line error of `key`."""
    raise ConfigError(f"config error: {key}: {what}")


def _check_cross_key_rules(config: Mapping[str, Any]) -> None:
    """The rules a schema cannot state: between keys, and about folders on disk."""
    measures = config["metrics"]["measures"]
    for key, wanted in (
        ("stats.measures", config["stats"]["measures"]),
        ("report.measure", [config["report"]["measure"]]),
    ):
        missing = [m for m in wanted if m not in measures]
        if missing:
            _fail(key, f"{missing[0]!r} is not in metrics.measures ({', '.join(sorted(measures))})")
    noises = [*config["noise"]["corruptions"], *config["noise"]["adversarial"]]
    noises += _check_transfer(config)
    grid = config["report"]["grid_noise"]
    if grid is not None and grid not in noises:
        _fail("report.grid_noise", f"{grid!r} is not a configured noise ({', '.join(noises)})")
    for arch in ARCHS_WITHOUT_DROPOUT:
        if config["architectures"].get(arch, {}).get("dropout") is not None:
            _fail(f"architectures.{arch}.dropout", f"{arch} has no dropout layers")
    if not config["architectures"] and not config["models"]:
        _fail("architectures", "no model to evaluate: name an architecture or a `models` entry")
    for name, spec in config["models"].items():
        _check_user_model(name, spec, config["datasets"])
    _check_quality(config)
    _check_explanation_attack(config)
    _check_corruption_error_reference(config)
    _check_corruption_values(config)
    _check_schedule("training", config["training"])
    for name, spec in config["datasets"].items():
        _check_dataset(name, spec)
        _check_noise_source(name, spec, config["noise"])
        override = spec.get("training") or {}
        if "seeds" in override:
            _fail(f"datasets.{name}.training.seeds", "training seeds are global (training.seeds)")
        _check_schedule(f"datasets.{name}.training", merged(config["training"], override))


def _check_transfer(config: Mapping[str, Any]) -> list[str]:
    """Transfer attacks name configured attacks and a configured reference regulariser; returns
    their noise names."""
    transfer, attacks = config["noise"]["transfer"], config["noise"]["adversarial"]
    configured = ", ".join(a for a, spec in attacks.items() if spec is not None) or "none"
    for attack in transfer["attacks"]:
        if attacks.get(attack) is None:
            what = f"{attack!r} is not in noise.adversarial ({configured})"
            _fail("noise.transfer.attacks", what)
        if attack == EXPLANATION_ATTACK:  # crafted per CAM method: no one image set to transfer
            _fail("noise.transfer.attacks", f"{attack!r} makes one image set per CAM method")
    regs, reference = config["regularizers"], transfer["reference"]
    if transfer["attacks"] and reference not in regs:
        what = f"{reference!r} is not in regularizers ({', '.join(regs)})"
        _fail("noise.transfer.reference", what)
    return [transfer_noise(a) for a in transfer["attacks"]]


def _check_user_model(name: str, spec: Mapping[str, Any], datasets: Mapping[str, Any]) -> None:
    """A user's model: a checkpoint file that exists, a size every dataset has, a valid layout."""
    key = f"models.{name}"
    if spec["checkpoint"] is None:
        if spec["mode"] == "evaluate":
            _fail(f"{key}.checkpoint", "mode evaluate needs a checkpoint")
    elif not Path(spec["checkpoint"]).is_file():
        _fail(f"{key}.checkpoint", f"{spec['checkpoint']} is not a file")
    if spec["source"] == "camrobust" and (spec["mean"] is not None or spec["std"] is not None):
        _fail(f"{key}.mean", "the project's own models keep their fixed standardisation")
    if spec["cam_prefix_tokens"] is not None and spec["cam_layout"] != "tokens":
        _fail(f"{key}.cam_prefix_tokens", "needs cam_layout: tokens")
    if spec["source"] == "camrobust" and spec["name"] not in TARGET_LAYERS:
        close = difflib.get_close_matches(spec["name"], list(TARGET_LAYERS), n=1, cutoff=0)
        _fail(f"{key}.name", f"camrobust has no model {spec['name']!r}; closest: {close[0]}")
    _check_classes(key, spec)
    size = spec["input_size"]
    for dataset, data in datasets.items():
        if size is not None and data["image_size"] != size:
            _fail(
                f"{key}.input_size",
                f"{size} differs from datasets.{dataset}.image_size ({data['image_size']})",
            )


def _check_classes(key: str, spec: Mapping[str, Any]) -> None:
    """`classes`: auto, identity, or a mapping file that exists (read against the dataset's
    classes in `check_sizes`); a model trained on the dataset learns its classes."""
    classes = spec["classes"]
    if spec["mode"] == "train" and classes != "auto":
        _fail(f"{key}.classes", "mode train learns the dataset's classes: leave it auto")
    if classes in CLASS_MAP_KINDS:
        return
    if Path(classes).suffix.lower() not in MAPPING_SUFFIXES:
        _fail(f"{key}.classes", f"{classes!r} is not auto, identity or a .json/.csv mapping file")
    if not Path(classes).is_file():
        _fail(f"{key}.classes", f"{classes} is not a file")


def _nearest_valid(family: str, value: float, tables: list[str]) -> str:
    """The severity-table parameter of `family` closest to `value`, as a config hint."""
    entries = [
        (param, table, severity)
        for table in tables
        for severity, param in enumerate(SEVERITY_TABLES[table][family], start=1)
    ]
    if isinstance(entries[0][0], tuple):  # a tuple parameter: values cannot give it
        param, table, severity = entries[0]
        return f"severities, e.g. 1 ({table}: {param})"
    param, table, severity = min(entries, key=lambda e: abs(e[0] - value))
    return f"{param} ({table} severity {severity})"


def _check_corruption_values(config: Mapping[str, Any]) -> None:
    """Explicit corruption values in their family's range and of its shape (one number)."""
    tables = sorted(
        {
            severity_table(config["noise"]["table"], d["image_size"])
            for d in config["datasets"].values()
        }
    )
    for family, levels in config["noise"]["corruptions"].items():
        for i, value in enumerate(levels.get("values", [])):
            try:
                check_value(family, value)
            except ValueError as err:
                reason = str(err).removeprefix("value: ")
                closest = _nearest_valid(family, value, tables)
                _fail(
                    f"noise.corruptions.{family}.values[{i}]", f"{reason}; closest valid: {closest}"
                )


def _check_quality(config: Mapping[str, Any]) -> None:
    """A quality family measures the first `images` evaluation images: every dataset has them."""
    for name in ("sensitivity", "faithfulness"):
        section = config["metrics"][name]
        if not section["enabled"]:
            continue
        for dataset, spec in config["datasets"].items():
            if section["images"] > spec["n_eval"]:
                _fail(
                    f"metrics.{name}.images",
                    f"{section['images']} is more than datasets.{dataset}.n_eval "
                    f"({spec['n_eval']})",
                )


def _check_explanation_attack(config: Mapping[str, Any]) -> None:
    """The explanation attack needs a method it can attack; its images differ per method, so the
    CAM grids (one image set per level) cannot show it."""
    if config["noise"]["adversarial"].get(EXPLANATION_ATTACK) is None:
        return
    if not set(config["cam"]["methods"]) & ATTACKED_METHODS:
        allowed = ", ".join(sorted(ATTACKED_METHODS))
        _fail(
            f"noise.adversarial.{EXPLANATION_ATTACK}",
            f"none of cam.methods can be attacked (it attacks {allowed})",
        )
    if config["report"]["grid_noise"] == EXPLANATION_ATTACK:
        _fail("report.grid_noise", "the explanation attack's images differ per CAM method")


def _check_corruption_error_reference(config: Mapping[str, Any]) -> None:
    """The mCE reference names a regulariser or a `models` entry. A regulariser the config does
    not train is allowed (the default `erm` with the user's models alone): the table then says
    per model that its reference was not run."""
    name = config["report"]["corruption_error_reference"]
    regularizers = load_yaml(SCHEMA)["$defs"]["regularizers"]["properties"]
    if name not in regularizers and name not in config["models"]:
        _fail(
            "report.corruption_error_reference",
            f"{name!r} is neither a regularizer ({', '.join(regularizers)}) nor a `models` name",
        )


def _check_schedule(key: str, training: Mapping[str, Any]) -> None:
    """The learning-rate decay starts within the epochs (the schedule divides by the rest)."""
    start, epochs = training["epoch_decay_start"], training["epochs"]
    if start > epochs:
        _fail(f"{key}.epoch_decay_start", f"{start} is after the last epoch (epochs {epochs})")


def _check_dataset(name: str, spec: Mapping[str, Any]) -> None:
    """A downloaded dataset's image size, and an image folder that exists."""
    if spec["source"] in ("cifar10", "svhn") and spec["image_size"] != 32:
        _fail(f"datasets.{name}.image_size", f"{spec['source']} images are 32x32")
    _check_preprocess(name, spec)
    if spec["source"] != "imagefolder":
        if spec["skip_unreadable"]:
            _fail(f"datasets.{name}.skip_unreadable", "only image folders have files to skip")
        return
    if not spec["path"]:
        _fail(f"datasets.{name}.path", "imagefolder needs a folder")
    if not Path(spec["path"]).is_dir():
        _fail(f"datasets.{name}.path", f"{spec['path']} is not a folder")


def _check_preprocess(name: str, spec: Mapping[str, Any]) -> None:
    """Only an image folder's images are cut from files; an explicit crop is the image size."""
    preprocess, key = spec["preprocess"], f"datasets.{name}.preprocess"
    if spec["source"] != "imagefolder":
        if preprocess != "auto":
            _fail(key, f"only image folders are cut from their files, not {spec['source']}")
        return
    if isinstance(preprocess, Mapping):
        if preprocess["crop"] != spec["image_size"]:
            _fail(
                f"{key}.crop", f"{preprocess['crop']} differs from image_size {spec['image_size']}"
            )
        if preprocess["resize"] < preprocess["crop"]:
            _fail(
                f"{key}.resize",
                f"{preprocess['resize']} is below the crop; closest valid: {preprocess['crop']}",
            )


def _check_noise_source(name: str, spec: Mapping[str, Any], noise: Mapping[str, Any]) -> None:
    """The published CIFAR-10-C images exist only for CIFAR-10, its table, and severities 1-5."""
    key = f"datasets.{name}.noise"
    if spec["noise"]["source"] != "official":
        for mirror in ("url", "md5"):
            if spec["noise"][mirror] is not None:
                _fail(f"{key}.{mirror}", "only for noise.source official (the archive's mirror)")
        return
    if spec["source"] != "cifar10":
        _fail(f"{key}.source", f"official images exist only for cifar10, not {spec['source']}")
    if severity_table(noise["table"], spec["image_size"]) != "cifar10c":
        _fail("noise.table", f"datasets.{name} uses the official CIFAR-10-C images: use cifar10c")
    for family, levels in noise["corruptions"].items():
        if family not in OFFICIAL_FAMILIES:
            _fail(f"noise.corruptions.{family}", f"not in the CIFAR-10-C archive ({key}.source)")
        if "severities" not in levels:
            _fail(
                f"noise.corruptions.{family}.values",
                f"datasets.{name} uses the official images: give severities (1-5)",
            )


def severity_table(table: str, image_size: int) -> str:
    """The severity constants of a dataset: `noise.table`, where `auto` means CIFAR-10-C's for
    images of up to 32 pixels (the size they were made for) and ImageNet-C's above."""
    if table != "auto":
        return table
    return "cifar10c" if image_size <= CIFAR_C_MAX_SIZE else "imagenetc"


def canonical(value: Any) -> Any:
    """Dicts with sorted keys, recursively: the params Snakemake compares to decide reruns then
    do not depend on the order keys were written in a config file."""
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def merged(base: Mapping, override: Mapping | None) -> dict:
    """Deep-merge `override` over `base` (dicts merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_sizes(config: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """What the data will hold, before any job: `n_eval` fits the test split, `n_labeled` the
    training images (where a model trains), a mapping file names every class. Lists image
    folders (nothing is decoded). Returns each dataset's class names; ConfigError otherwise."""
    from camrobust.data.sizes import dataset_sizes  # numpy; lists an image folder

    trains = bool(config["architectures"]) or any(
        m["mode"] == "train" for m in config["models"].values()
    )
    classes = {}
    for name, spec in config["datasets"].items():
        try:
            sizes = dataset_sizes(spec)
        except ValueError as err:
            _fail(f"datasets.{name}.path", str(err))
        if spec["n_eval"] > sizes.test:
            _fail(
                f"datasets.{name}.n_eval",
                f"{spec['n_eval']} is more than the {sizes.test} test images of {sizes.where}; "
                f"closest valid: {sizes.test}",
            )
        if trains:
            override = "n_labeled" in (spec.get("training") or {})
            key = f"datasets.{name}.training.n_labeled" if override else "training.n_labeled"
            _check_labeled(key, name, merged(config["training"], spec.get("training")), sizes)
        for model, entry in config["models"].items():
            if entry["classes"] not in CLASS_MAP_KINDS:
                try:
                    check_mapping(
                        read_mapping_file(entry["classes"]), sizes.classes, entry["classes"]
                    )
                except ValueError as err:
                    _fail(f"models.{model}.classes", str(err))
        classes[name] = sizes.classes
    return classes


def _check_labeled(key: str, name: str, training: Mapping[str, Any], sizes: Any) -> None:
    """`n_labeled`: a multiple of the classes, within the training images of each class."""
    n_labeled = training["n_labeled"]
    if n_labeled is None:
        return
    n_classes = len(sizes.classes)
    per_class = sizes.train // n_classes if sizes.fewest_train is None else sizes.fewest_train
    closest = max(n_classes, min(n_labeled // n_classes, per_class) * n_classes)
    if n_labeled % n_classes:
        _fail(
            key,
            f"{n_labeled} is not a multiple of datasets.{name}'s {n_classes} classes; "
            f"closest valid: {closest}",
        )
    if n_labeled > sizes.train:
        _fail(
            key,
            f"{n_labeled} is more than the {sizes.train} training images of "
            f"datasets.{name} ({sizes.where}); closest valid: {closest}",
        )
    if sizes.fewest_train is not None and n_labeled // n_classes > sizes.fewest_train:
        _fail(
            key,
            f"{n_labeled} needs {n_labeled // n_classes} images of each class, "
            f"datasets.{name} has {sizes.fewest_train} of one; closest valid: {closest}",
        )


def main(argv: list[str] | None = None) -> int:
    """`python -m camrobust.config FILE...`: check config files as a run would, one line each
    (a YAML syntax error with its line, which Snakemake's own message for a --configfile lacks)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="config files (YAML)")
    failed = 0
    for path in parser.parse_args(argv).files:
        try:
            validate_config(load_yaml(path) or {})
        except ConfigError as err:
            print(str(err) if str(path) in str(err) else f"{path}: {err}", file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
