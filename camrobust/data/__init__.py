"""Datasets as uint8 arrays: the synthetic shapes set, CIFAR-10, SVHN, image folders.

The public API is the synthetic shapes set and the conversion to model input; the loaders are
used by the workflow through their modules. Only numpy is imported here (the Snakefile reads
`prepare` while parsing); `to_model_input`, which needs torch, is loaded on first use.
"""

from typing import TYPE_CHECKING, Any

from camrobust.data.shapes import CLASS_NAMES, make_shapes

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads it
    from camrobust.data.tensors import to_model_input

__all__ = ["CLASS_NAMES", "make_shapes", "to_model_input"]


def __getattr__(name: str) -> Any:
    """Import the torch conversion lazily, so that `import camrobust.data` stays torch-free."""
    if name == "to_model_input":
        from camrobust.data.tensors import to_model_input

        return to_model_input
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
