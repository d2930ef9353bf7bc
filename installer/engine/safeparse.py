"""Bounded parsing of YAML and JSON the installer did not write: bundles, profiles, values files.

A document from a USB disk or an operator's file can be built to hurt the parser or
whatever walks the result: thousands of nested ``[`` (a ``RecursionError`` deep in
the YAML composer or in our own recursive code), or an alias "bomb" (a few hundred
bytes whose anchors expand to billions of nodes when walked or validated). Every
such document goes through :func:`load_yaml` or :func:`load_json`, which check its
size, its nesting depth and its node count *with aliases expanded* before building
it, and raise :class:`DocumentLimit` naming the source instead.

The YAML check runs on the parser's event stream (iterative, no recursion, no objects
built) and stops at the first limit crossed, so the cost is bounded by the limits,
not by what the document claims to expand to.
"""

from __future__ import annotations

import json
from typing import Any, Final

import yaml

MAX_DEPTH: Final = 64
"""Deepest nesting accepted; real manifests, profiles, chart values and image indexes stay under 20."""
MAX_NODES: Final = 200_000
"""Most nodes (scalars, lists, mappings, counting every alias as the node it repeats) in one document."""

_EVENT_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (ten times faster); the events are the same."""


class DocumentLimit(ValueError):
    """A document is larger, deeper or expands to more nodes than the installer accepts."""


def _size_check(data: str | bytes, source: object, max_bytes: int) -> None:
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        msg = f"{source}: {size} bytes, over the {max_bytes} byte limit for this file"
        raise DocumentLimit(msg)


def check_yaml(text: str | bytes, source: object, *, max_bytes: int, max_depth: int = MAX_DEPTH,
               max_nodes: int = MAX_NODES) -> None:
    """Raise :class:`DocumentLimit` if ``text`` crosses a limit; ``yaml.YAMLError`` if it is not YAML."""
    _size_check(text, source, max_bytes)
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, depth below it)
    stack: list[list[Any]] = [[0, 0, None]]  # per open collection: nodes so far, deepest child, anchor
    total = 0
    for event in yaml.parse(text, Loader=_EVENT_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) > max_depth:
                msg = f"{source}: nested deeper than {max_depth} levels (line {event.start_mark.line + 1})"
                raise DocumentLimit(msg)
            stack.append([1, 0, event.anchor])
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            nodes, below, anchor = stack.pop()
            size, depth = nodes, below + 1
        elif isinstance(event, yaml.ScalarEvent):
            size, depth, anchor = 1, 0, event.anchor
        elif isinstance(event, yaml.AliasEvent):
            if any(frame[2] == event.anchor for frame in stack):
                msg = f"{source}: alias *{event.anchor} refers to a value that contains it (line {event.start_mark.line + 1})"
                raise DocumentLimit(msg)
            size, depth = anchors.get(event.anchor, (1, 0))
            anchor = None
            if len(stack) - 1 + depth > max_depth:
                msg = (f"{source}: alias *{event.anchor} nests deeper than {max_depth} levels "
                       f"(line {event.start_mark.line + 1})")
                raise DocumentLimit(msg)
        else:
            continue
        if anchor is not None:
            anchors[anchor] = (size, depth)
        parent = stack[-1]
        parent[0] += size
        parent[1] = max(parent[1], depth)
        total += size if isinstance(event, yaml.AliasEvent) else 1
        if total > max_nodes:
            msg = f"{source}: more than {max_nodes} values (aliases expanded); not a file the installer writes or reads"
            raise DocumentLimit(msg)


def load_yaml(text: str | bytes, source: object, *, max_bytes: int, max_depth: int = MAX_DEPTH,
              max_nodes: int = MAX_NODES, loader: Any = yaml.SafeLoader) -> Any:
    """``yaml.load(text, loader)`` once :func:`check_yaml` passed.

    Raises:
        DocumentLimit: a limit is crossed (the message names ``source``).
        yaml.YAMLError: not valid YAML (the caller formats it with the line).
    """
    check_yaml(text, source, max_bytes=max_bytes, max_depth=max_depth, max_nodes=max_nodes)
    return yaml.load(text, Loader=loader)  # noqa: S506 - callers pass SafeLoader, BaseLoader or a subclass


def load_json(data: str | bytes, source: object, *, max_bytes: int, max_depth: int = MAX_DEPTH,
              max_nodes: int = MAX_NODES) -> Any:
    """``json.loads(data)`` within the same limits.

    Raises:
        DocumentLimit: a limit is crossed (the message names ``source``).
        ValueError: not valid JSON.
    """
    _size_check(data, source, max_bytes)
    too_deep = f"{source}: nested deeper than {max_depth} levels"
    try:
        document = json.loads(data)
    except RecursionError:  # the C decoder recurses per level; it stops itself at Python's limit
        raise DocumentLimit(too_deep) from None
    nodes, pending = 0, [(document, 0)]
    while pending:  # iterative, so neither this walk nor the limits depend on the stack
        value, depth = pending.pop()
        nodes += 1
        if nodes > max_nodes:
            msg = f"{source}: more than {max_nodes} values; not a file the installer writes or reads"
            raise DocumentLimit(msg)
        if isinstance(value, (dict, list)):
            if depth >= max_depth:
                raise DocumentLimit(too_deep)
            pending.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return document
