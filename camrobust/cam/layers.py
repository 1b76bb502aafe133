"""Finding the target layer of a model from its dotted module path.

A wrapper model (e.g. one adding input normalisation) may name the submodule that holds the
network in a `layer_root` attribute; layer paths are then relative to it, so `layer4` means the
same layer of a ResNet whether or not it is wrapped. A negative index (`blocks.-1.norm1`) counts
from the end of a container, as in Python.
"""

from __future__ import annotations

import difflib

from torch import nn

_MAX_LISTED = 30


def layer_prefix(model: nn.Module) -> str:
    """The dotted prefix of user-facing layer names inside `model` ('' or 'net.')."""
    root = getattr(model, "layer_root", None)
    return f"{root}." if isinstance(root, str) and root else ""


def user_name(model: nn.Module, full_path: str) -> str:
    """A module path inside `model` as the user names it (relative to the layer root)."""
    prefix = layer_prefix(model)
    return full_path[len(prefix) :] if prefix and full_path.startswith(prefix) else full_path


def _canonical(model: nn.Module, path: str) -> str | None:
    """`path` with negative indices replaced by child names; None where a part does not exist."""
    module, parts = model, []
    for part in path.split("."):
        children = dict(module.named_children())
        if part not in children and part.startswith("-") and part[1:].isdigit():
            names = list(children)
            if int(part[1:]) > len(names) or not names:
                return None
            part = names[int(part)]
        if part not in children:
            return None
        module = children[part]
        parts.append(part)
    return ".".join(parts)


def find_layer(model: nn.Module, path: str) -> tuple[str, nn.Module]:
    """(full dotted path inside `model`, module) of the layer the user calls `path`.

    ValueError naming the closest existing layer names (difflib) when there is no such layer.
    """
    if isinstance(path, str) and path:
        for candidate in dict.fromkeys((layer_prefix(model) + path, path)):
            full = _canonical(model, candidate)
            if full is not None:
                return full, model.get_submodule(full)
    names = [user_name(model, name) for name, _ in model.named_modules()]
    names = [name for name in names if name and name != layer_prefix(model)[:-1]]
    close = difflib.get_close_matches(str(path), names, n=8, cutoff=0.5)
    allowed = f"closest: {', '.join(close) or 'none'}; "
    if len(names) <= _MAX_LISTED:
        allowed += f"all: {', '.join(names)}"
    else:
        top = [name for name in names if "." not in name]
        allowed += f"top level: {', '.join(top)}; {len(names)} in all (see model.named_modules())"
    raise ValueError(f"target_layer '{path}' is not a module of {type(model).__name__}: {allowed}")


def resolve_layer(model: nn.Module, path: str) -> nn.Module:
    """The submodule at dotted `path` (`layer4`, `features.28`); ValueError naming the options."""
    return find_layer(model, path)[1]
