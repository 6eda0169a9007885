"""YAML loading that remembers where every key and value came from, for error messages with line numbers.

Mappings load as :class:`MarkedDict` and sequences as :class:`MarkedList`; both record the 1-based line of
the container, of each key and of each value. Scalars stay plain Python values: their line is read from the
container that holds them. Duplicate keys are an error (PyYAML would silently keep the last one, hiding a
mistake in a policy file).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, SequenceNode


class MarkedDict(dict[Any, Any]):
    """A mapping from YAML with the lines of itself (``line``), its keys and its values."""

    line: int
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]


class MarkedList(list[Any]):
    """A sequence from YAML with the lines of itself (``line``) and of each item."""

    line: int
    item_lines: list[int]


class LineLoader(yaml.SafeLoader):
    """SafeLoader that builds :class:`MarkedDict` / :class:`MarkedList` containers."""


def _construct_map(loader: LineLoader, node: MappingNode) -> Iterator[MarkedDict]:
    data = MarkedDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    data.value_lines = {}
    # Yield first so that recursive (anchored) structures resolve, as PyYAML's own constructors do.
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise ConstructorError(None, None, "a mapping key must be a plain value", key_node.start_mark)
        if key in data:
            raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1
        data.value_lines[key] = value_node.start_mark.line + 1


def _construct_seq(loader: LineLoader, node: SequenceNode) -> Iterator[MarkedList]:
    data = MarkedList()
    data.line = node.start_mark.line + 1
    data.item_lines = []
    yield data
    for child in node.value:
        data.append(loader.construct_object(child, deep=True))
        data.item_lines.append(child.start_mark.line + 1)


LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_marked(text: str) -> Any:
    """Parse one YAML document with :class:`LineLoader`; PyYAML errors propagate (they carry a mark)."""
    # Safe: LineLoader derives from SafeLoader and only adds container constructors.
    return yaml.load(text, Loader=LineLoader)
