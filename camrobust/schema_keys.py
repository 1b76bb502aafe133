"""Every key of the config schema with its node: what the config docs are generated from and
checked against (tools/config_docs.py, tests/test_defaults.py, tests/test_config_docs.py).

The schema is walked through `properties`, `$ref`s into `$defs`, and the `additionalProperties`
of name-keyed maps, whose keys appear as placeholders: `<family>` under `noise.corruptions`,
`<name>` elsewhere (`datasets.<name>.n_eval`). A map whose values are plain scalars and whose
names are an enum (a dataset's svhn `md5`) contributes one key per allowed name (`md5.train`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

PLACEHOLDERS = {"corruptions": "<family>"}  # map key -> placeholder; default "<name>"
NO_DEFAULT = object()  # SchemaKey.default of a key the schema gives none


@dataclass(frozen=True)
class SchemaKey:
    """One dotted key, its resolved schema node, and whether its parent requires it."""

    name: str
    node: Mapping[str, Any]
    required: bool

    @property
    def default(self) -> Any:
        """The schema default, or NO_DEFAULT."""
        return self.node.get("default", NO_DEFAULT)

    @property
    def allowed(self) -> list[Any] | None:
        """The enum of the key's value (or of its list items), without null; None if free."""
        enum = self.node.get("enum") or resolve_items(self.node).get("enum")
        return None if enum is None else [v for v in enum if v is not None]


def resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """`node` with its `$ref` chain merged in (sibling keys win, as in the config loader)."""
    seen: set[str] = set()
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ValueError(f"unsupported or cyclic $ref {ref}")
        seen.add(ref)
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def resolve_items(node: Mapping[str, Any]) -> Mapping[str, Any]:
    items = node.get("items")
    return items if isinstance(items, Mapping) else {}


def _has_keys(node: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    node = resolve(node, root)
    return "properties" in node or isinstance(node.get("additionalProperties"), Mapping)


def walk(root: Mapping[str, Any]) -> Iterator[SchemaKey]:
    """Every key of the schema `root`, parents before their children."""
    yield from _walk(root, root, "")


def _walk(node: Mapping[str, Any], root: Mapping[str, Any], prefix: str) -> Iterator[SchemaKey]:
    node = resolve(node, root)
    required = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        yield SchemaKey(key, resolve(sub, root), name in required)
        yield from _walk(sub, root, f"{key}.")
    extra = node.get("additionalProperties")
    if not isinstance(extra, Mapping):
        return
    if _has_keys(extra, root):
        last = prefix.rstrip(".").rsplit(".", 1)[-1]
        yield from _walk(extra, root, f"{prefix}{PLACEHOLDERS.get(last, '<name>')}.")
    else:
        for name in resolve(node.get("propertyNames", {}), root).get("enum", []):
            yield SchemaKey(f"{prefix}{name}", resolve(extra, root), False)


def _segment(part: str) -> str:
    return r"(?:<[a-z]+>|[a-z][a-z0-9_]*)" if part.startswith("<") else re.escape(part)


def key_pattern(name: str) -> re.Pattern[str]:
    """A dotted key as written in prose: a placeholder also matches a concrete map entry's name
    (`datasets.<name>.n_eval` matches `datasets.cifar10.n_eval`)."""
    return re.compile(r"\.".join(_segment(p) for p in name.split(".")))


def find(keys: list[SchemaKey], dotted: str) -> SchemaKey | None:
    """The schema key `dotted` names (a placeholder or a concrete map entry), or None."""
    exact = {k.name: k for k in keys}
    if dotted in exact:
        return exact[dotted]
    return next((k for k in keys if key_pattern(k.name).fullmatch(dotted)), None)


def names_a_key(keys: list[SchemaKey], dotted: str) -> bool:
    """Whether `dotted` is a key or a map entry on the way to one (`noise.corruptions.gaussian`)."""
    parts = dotted.split(".")
    for key in keys:
        head = key.name.split(".")[: len(parts)]
        if len(head) == len(parts) and key_pattern(".".join(head)).fullmatch(dotted):
            return True
    return False
