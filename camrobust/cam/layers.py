"""Finding the target layer of a model from its dotted module path."""

from __future__ import annotations

import difflib

from torch import nn

_MAX_LISTED = 30


def resolve_layer(model: nn.Module, path: str) -> nn.Module:
    """The submodule at dotted `path` (`layer4`, `features.28`); ValueError naming the options."""
    modules = dict(model.named_modules())
    if path and path in modules:
        return modules[path]
    names = [name for name in modules if name]
    if len(names) <= _MAX_LISTED:
        allowed = ", ".join(names)
    else:
        close = difflib.get_close_matches(path, names, n=8, cutoff=0.5)
        top = [name for name in names if "." not in name]
        allowed = (
            f"closest: {', '.join(close) or 'none'}; top level: {', '.join(top)}; "
            f"{len(names)} in all (see model.named_modules())"
        )
    raise ValueError(f"target_layer '{path}' is not a module of {type(model).__name__}: {allowed}")
