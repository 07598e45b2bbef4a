"""YAML read as nodes, which keep their line numbers, so every file the project reads
(config, supply catalog, registry, fleet) can name the line of a problem."""

from __future__ import annotations

import yaml

from asr_agent.errors import ConfigError


def compose(text: str, source: str) -> yaml.Node | None:
    """The document's node tree (None when empty); a syntax error names source and line."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"not valid YAML: {exc.problem or exc}", path=source,
                          line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=source) from None


def construct(node: yaml.Node) -> object:
    """Plain Python data from a node tree (what yaml.safe_load would have returned)."""
    return yaml.SafeLoader("").construct_document(node)
