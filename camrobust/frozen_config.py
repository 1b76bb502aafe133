"""What the settings objects share: a config mapping held hashably, and one-line checks by key.

The settings (`TrainSettings`, `VAESettings`, `GlowSettings`, `AttackSettings`, ...) are frozen
dataclasses built from the config slice a rule passes; a bad value fails when one is built, naming
the config key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A flat config mapping as (key, value) pairs in its own order: hashable, and `dict()` of it
#: gives the mapping back.
Items = tuple[tuple[str, Any], ...]


def frozen_items(given: Mapping[str, Any] | Items | None) -> Items:
    """`given` (a mapping, pairs already, or None for none) as Items; a TypeError for a value
    that cannot be hashed (a nested list or mapping)."""
    pairs = tuple(dict(given or {}).items())
    for key, value in pairs:
        try:
            hash(value)
        except TypeError:
            raise TypeError(f"{key}: {type(value).__name__} values cannot be frozen") from None
    return pairs


def require_positive(prefix: str, **values: float | None) -> None:
    """A ValueError naming `prefix.<key>` for the first value that is not > 0."""
    for key, value in values.items():
        if isinstance(value, bool) or value is None or not value > 0:
            raise ValueError(f"{prefix}.{key} must be > 0, got {value!r}")


def require_keys(what: str, given: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    """A ValueError naming the keys of `keys` that `given` (`what`'s config slice) lacks."""
    missing = [k for k in keys if k not in given]
    if missing:
        raise ValueError(f"{what}: missing {', '.join(missing)}")
