"""YAML read as nodes, which keep their line numbers, so every file the project reads
(config, supply catalog, registry, fleet) can name the line of a problem.

The one YAML reader of both programs, and a strict one: files are written by hand and
sometimes by someone hostile, so

* aliases (`*name`) are counted: one alias stands for a whole tree, and a few nested
  ones for billions of nodes (the "billion laughs") that every later pass walks, so
  what aliases add is bounded (`MAX_ALIAS_NODES`), and the file is refused as soon as
  they would add more, before anything is built; merge keys (`<<`) are refused;
* nesting is bounded (`MAX_DEPTH`, aliases counted as expanded): the composer and every
  later pass recurse once per level, and a few thousand `[` would end in a
  RecursionError with no file or line;
* only the plain YAML types are taken (string, number, boolean, null, timestamp, binary,
  mapping, list); a `!!python/...` or other tag, or a scalar its own tag cannot read
  (`!!int x`), is refused where it is written, by file, line and key.
"""

from __future__ import annotations

from typing import Any, Protocol

import yaml

from asr_core.errors import ConfigError

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "compose", "construct"]

# Deep enough for any file the project reads (the config nests five levels), shallow
# enough that the composer's recursion stays far from Python's limit.
MAX_DEPTH = 32
# The nodes aliases may add, over a whole document: far more than sharing a block of
# settings between a few entries needs, far less than a slow pass over the result costs.
MAX_ALIAS_NODES = 100_000

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp", "binary"))
_COLLECTION_TAGS = frozenset((_TAG + "map", _TAG + "seq"))


def _dotted(key: list[str | int]) -> str | None:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out or None


class _Mark(Protocol):
    """Where an event starts: PyYAML's pure and C loaders each have their own Mark."""

    line: int


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader's composer with the rules of the module docstring, checked per node."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source
        self.key: list[str | int] = []
        # per node (by id): how many nodes and levels it stands for, aliases expanded
        self.size: dict[int, tuple[int, int]] = {}
        self.alias_nodes = 0

    def _refuse(self, message: str, mark: _Mark | None) -> ConfigError:
        return ConfigError(message, path=self.source, line=mark.line + 1 if mark else None,
                           key=_dotted(self.key))

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # index: the key node for a mapping's value, the position for a list item, None
        # for a mapping's key (named by its own line, under its mapping's key path)
        pushed = isinstance(index, (int, yaml.ScalarNode))
        if pushed:
            self.key.append(index if isinstance(index, int) else str(index.value))
        try:
            event = self.peek_event()
            depth = len(self.key)
            if depth >= MAX_DEPTH:
                raise self._refuse(f"nested more than {MAX_DEPTH} levels deep; no file read here "
                                   "needs that many", event.start_mark)
            node = super().compose_node(parent, index)
            assert node is not None  # an event was peeked above, so a node was composed
            if isinstance(event, yaml.AliasEvent):
                nodes, levels = self.size[id(node)]
                self.alias_nodes += nodes
                if self.alias_nodes > MAX_ALIAS_NODES:
                    raise self._refuse(f"aliases (*{event.anchor} and others) stand for more than "
                                       f"{MAX_ALIAS_NODES} values; write the file out without them",
                                       event.start_mark)
                if depth + levels > MAX_DEPTH:
                    raise self._refuse(f"*{event.anchor} nests this more than {MAX_DEPTH} levels deep",
                                       event.start_mark)
                return node
            self._check(node)
            self._measure(node)
            return node
        finally:
            if pushed:
                self.key.pop()

    def _measure(self, node: yaml.Node) -> None:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        sizes = [self.size[id(c)] for c in children]
        self.size[id(node)] = (1 + sum(n for n, _ in sizes), 1 + max((lv for _, lv in sizes), default=0))

    def _check(self, node: yaml.Node) -> None:
        if node.tag == _TAG + "merge":
            raise self._refuse("merge keys (<<) are not accepted; write the keys out in full",
                               node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            if node.tag not in _SCALAR_TAGS:
                raise self._refuse(f"the tag {node.tag!r} is not accepted; write a plain value "
                                   "(text, number, true/false)", node.start_mark)
            try:
                # read now, where the line and key are known, not later in construct()
                self.construct_object(node)
            except (yaml.YAMLError, ValueError, TypeError, ArithmeticError, AttributeError):
                # the value itself is not repeated: it may be a secret
                raise self._refuse(f"this value cannot be read as {node.tag.removeprefix(_TAG)}; "
                                   "fix it (or its !! tag, if it has one)", node.start_mark) from None
            finally:
                self.constructed_objects.clear()
        elif node.tag not in _COLLECTION_TAGS:
            raise self._refuse(f"the tag {node.tag!r} is not accepted; write a plain mapping or list",
                               node.start_mark)


def compose(text: str, source: str) -> yaml.Node | None:
    """The document's node tree (None when empty); any problem names source, line and key."""
    loader = _StrictLoader(text, source)
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"not valid YAML: {exc.problem or exc}", path=source,
                          line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=source) from None
    finally:
        loader.dispose()


def construct(node: yaml.Node) -> object:
    """Plain Python data from a node tree that `compose` accepted (what yaml.safe_load
    would have returned)."""
    return yaml.SafeLoader("").construct_document(node)
