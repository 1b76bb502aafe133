"""Loading a user's checkpoint: a state dict only (weights_only), checked against the model."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch import Tensor, nn

_SHOWN = 3
#: keys under which training scripts commonly nest the state dict
_NESTED = ("state_dict", "model", "model_state_dict")


def _load(path: Path, mmap: bool) -> object:
    """torch.load with weights_only; memory-mapped where asked and the file's format allows."""
    if mmap:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # the legacy (pre-zip) format cannot be mapped: read it whole
            pass
    return torch.load(path, map_location="cpu", weights_only=True)


def read_state_dict(path: str | os.PathLike, *, mmap: bool = False) -> dict[str, Tensor]:
    """The tensors of a state-dict checkpoint; ValueError for anything else (e.g. a pickled model).

    Accepted: a plain state dict, one nested under 'state_dict'/'model'/'model_state_dict' (as
    training scripts and save_classifier write it); a 'module.' prefix (DataParallel) is dropped.
    `mmap`: map the tensors instead of reading them (the checks before the jobs read only shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = _load(path, mmap)
    except pickle.UnpicklingError as err:
        # weights_only refuses classes as "Unsupported global"; other errors are corrupt data
        if "unsupported global" not in str(err).lower():
            raise ValueError(f"checkpoint {path} is not a readable torch file") from None
        raise ValueError(
            f"checkpoint {path} holds pickled Python objects, not a state dict (a whole model "
            "saved with torch.save(model)?); save model.state_dict() instead"
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint {path} is not a readable torch file: {first}") from None
    for key in _NESTED:
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
            break
    if not isinstance(payload, dict) or not payload:
        raise ValueError(f"checkpoint {path} is not a state dict (a dict of tensors)")
    bad = [
        str(k) for k, v in payload.items() if not isinstance(k, str) or not isinstance(v, Tensor)
    ]
    if bad:
        raise ValueError(f"checkpoint {path} is not a state dict: entry {bad[0]!r} is no tensor")
    if all(key.startswith("module.") for key in payload):
        payload = {key[len("module.") :]: value for key, value in payload.items()}
    return payload


def _listed(what: str, items: list[str]) -> str:
    more = f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return f"{what} {', '.join(items[:_SHOWN])}{more}"


def check_fits(
    expected: dict[str, Tensor], state: dict[str, Tensor], path: object, architecture: str
) -> None:
    """One-line ValueError naming the file, the architecture and the first mismatched keys when
    `state` does not fit a network whose state dict is `expected` (keys or shapes)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        _listed(what, items)
        for what, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", shapes),
        )
        if items
    ]
    if problems:
        raise ValueError(f"checkpoint {path} does not fit {architecture}: {'; '.join(problems)}")


def load_checkpoint(net: nn.Module, path: str | os.PathLike, architecture: str) -> None:
    """Load the state dict at `path` into `net`; one-line ValueError naming the file, the
    architecture and the first mismatched keys when it does not fit (keys or shapes)."""
    state = read_state_dict(path)
    check_fits(net.state_dict(), state, path, architecture)
    net.load_state_dict(state)
