"""Splitting a model at the target layer with torch.fx, so AblationCAM re-runs only the rest."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from torch import Tensor, fx, nn

logger = logging.getLogger(__name__)


class _LeafTracer(fx.Tracer):
    """A tracer that keeps the target module as one opaque call."""

    def __init__(self, leaf: str) -> None:
        super().__init__()
        self.leaf = leaf

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return qualified_name == self.leaf or super().is_leaf_module(module, qualified_name)


@dataclass
class ModelSplit:
    """`suffix(target_output, *extras)` gives the logits; `prefix(x)` gives the extras (if any)."""

    suffix: fx.GraphModule
    prefix: fx.GraphModule | None

    def extras(self, images: Tensor) -> tuple[Tensor, ...]:
        """Values computed before the target layer that the suffix also reads (skip paths)."""
        return () if self.prefix is None else tuple(self.prefix(images))


def split_at(model: nn.Module, path: str) -> ModelSplit | None:
    """Trace `model` and cut it after the module `path`; None when that is not possible."""
    try:
        graph = _LeafTracer(path).trace(model)
    except Exception as error:  # tracing fails on data-dependent control flow, among others
        logger.info("torch.fx cannot trace %s (%s)", type(model).__name__, error)
        return None
    nodes = list(graph.nodes)
    calls = [n for n in nodes if n.op == "call_module" and n.target == path]
    if len(calls) != 1:
        logger.info("target layer %s is called %d times in the traced graph", path, len(calls))
        return None
    target = calls[0]
    cut = nodes.index(target) + 1
    before, after = set(nodes[:cut]), nodes[cut:]
    needed: list[fx.Node] = []
    for node in after:
        for source in node.all_input_nodes:
            if source in before and source.op != "get_attr" and source not in needed:
                needed.append(source)
    if target not in needed:
        logger.info("the output does not depend on target layer %s", path)
        return None
    extras = [n for n in needed if n is not target]

    suffix_graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {target: suffix_graph.placeholder("cam_target")}
    for i, node in enumerate(extras):
        env[node] = suffix_graph.placeholder(f"cam_extra_{i}")
    for node in after:
        for source in node.all_input_nodes:
            if source.op == "get_attr" and source not in env:
                env[source] = suffix_graph.node_copy(source)
        env[node] = suffix_graph.node_copy(node, lambda n: env[n])
    suffix = fx.GraphModule(model, suffix_graph)

    prefix = None
    if extras:
        prefix_graph = fx.Graph()
        penv: dict[fx.Node, fx.Node] = {}
        for node in nodes[:cut]:
            penv[node] = prefix_graph.node_copy(node, lambda n: penv[n])
        prefix_graph.output(tuple(penv[n] for n in extras))
        prefix = fx.GraphModule(model, prefix_graph)
    return ModelSplit(suffix=suffix, prefix=prefix)
