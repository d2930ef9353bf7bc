"""Pointing at the line of a YAML file where a validation error is.

Profiles and bundle manifests are both YAML validated by pydantic; an operator
needs ``file:line: key.path: what is wrong`` for either, so both use these helpers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from installer.engine.safeparse import MAX_NODES, load_yaml


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that refuses a key given twice in one mapping; on libyaml's parser when PyYAML has it
    (a manifest of thousands of entries loads in seconds, not a minute).

    Plain YAML keeps the last one silently: a profile with two ``jupyterhub:`` blocks
    would lose the first block's settings without a word.
    """


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: SafeLoader says what is wrong with it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"the key {key!r} is given twice (also on line {first}); keep one", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load(text: str, source: object, *, max_bytes: int, max_nodes: int = MAX_NODES) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (raises ``yaml.YAMLError`` with the line), bounded.

    Raises:
        DocumentLimit: too large, too deep or too many values with aliases expanded.
    """
    return load_yaml(text, source, max_bytes=max_bytes, max_nodes=max_nodes, loader=_UniqueKeyLoader)


def compose(text: str) -> yaml.Node | None:
    """The YAML node tree of ``text`` (with line marks), or None when it does not parse."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error location without its validator and union tags, which are not keys of the file."""
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node on ``loc`` that exists in the YAML."""
    node, line = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def key_path(loc: tuple[Any, ...]) -> str:
    """``("jupyterhub", "images", 0, "gpus")`` -> ``jupyterhub.images[0].gpus``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def syntax_error(path: Path, exc: yaml.YAMLError) -> str:
    """``path:line: not valid YAML: problem`` for a parse error."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    return f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"
