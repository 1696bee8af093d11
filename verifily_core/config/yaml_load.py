"""YAML reading with a bound on what aliases can expand to: the one loader for every YAML we read.

Why: YAML anchors and aliases let a few hundred bytes stand for billions of nodes ("billion
laughs": nine levels of nine aliases). ``yaml.safe_load`` builds such a document cheaply, as shared
objects, but everything that walks it afterwards (validation, diffing two configs, printing an
error that quotes the value) expands it, and a 1 KB config can then take gigabytes of memory or a
312 MB error message. So the composed node graph is measured first, counting a node once per path
that reaches it, and a document over :data:`MAX_NODES` is refused before anything is constructed.
Configs, frozen ``config.yaml`` files of run folders and ``--set`` values all load through here.
"""

from __future__ import annotations

from typing import Any, Dict

import yaml

MAX_NODES = 10_000  # a full training config is a few hundred nodes


class YamlTooLargeError(yaml.YAMLError):
    """A document whose aliases expand past :data:`MAX_NODES` nodes, or refer to themselves."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` for one document, refusing alias expansion past :data:`MAX_NODES` nodes."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: Dict[int, int], open_nodes: set[int]) -> int:
    """Nodes in the document with every alias expanded; each shared node is measured once."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise YamlTooLargeError("an alias refers to the node that contains it (recursive YAML)")
    open_nodes.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes, open_nodes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(
            _expanded_size(k, sizes, open_nodes) + _expanded_size(v, sizes, open_nodes) for k, v in node.value
        )
    open_nodes.discard(key)
    if size > MAX_NODES:
        raise YamlTooLargeError(
            f"anchors and aliases expand to more than {MAX_NODES:,} nodes (an alias bomb?); refused"
        )
    sizes[key] = size
    return size
