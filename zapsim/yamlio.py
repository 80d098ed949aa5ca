"""The one YAML reader of zapsim: safe types only, bounded work, duplicate keys refused.

Every config, workload, energy table and sweep file is read through
:func:`load_yaml`.  On top of ``yaml.SafeLoader`` (no Python objects) it
refuses, with a message naming the file, the line and what is allowed:

- a key given twice in one mapping (YAML would silently keep the last);
- more than :data:`MAX_ALIASES` alias references (a "billion laughs"
  document expands aliases exponentially; real configs use a handful);
- nesting deeper than :data:`MAX_DEPTH` (deep nesting overflows the
  recursion of everything that walks the result);
- a document whose aliases expand to more than :data:`MAX_EXPANDED_NODES`
  nodes (PyYAML shares an aliased object, but everything that walks or
  copies the result pays for every expansion);
- a file larger than :data:`MAX_BYTES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

MAX_ALIASES = 100
MAX_DEPTH = 64
MAX_BYTES = 16 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000


class _Refused(Exception):
    def __init__(self, line: int | None, problem: str):
        super().__init__(problem)
        self.line = line
        self.problem = problem


def _line(node: yaml.Node | None) -> int | None:
    return None if node is None or node.start_mark is None else node.start_mark.line + 1


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases, limits depth and refuses duplicate keys."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                ev = self.peek_event()
                raise _Refused(ev.start_mark.line + 1 if ev.start_mark else None,
                               f"more than {MAX_ALIASES} alias references (*name); expand them in the file")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                ev = self.peek_event()
                raise _Refused(ev.start_mark.line + 1 if ev.start_mark else None,
                               f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int | None] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = key_node.value
                    if key in seen:
                        raise _Refused(_line(key_node), f"key '{str(key)[:60]}' appears twice in one mapping "
                                       f"(first on line {seen[key]}); give each key once")
                    seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)


def _construct_map(loader: _BoundedLoader, node: yaml.MappingNode):
    data: dict = {}
    yield data
    data.update(loader.construct_mapping(node))


_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes of the document with every alias expanded, memoised so the count itself stays linear."""
    memo: dict[int, int] = {}
    # iterative post-order walk: a deep document must not overflow Python's stack here
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in memo:
            continue
        kids: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            kids = [n for kv in node.value for n in kv]
        if done or not kids:
            memo[id(node)] = min(1 + sum(memo[id(k)] for k in kids), MAX_EXPANDED_NODES + 1)
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in memo)
    return memo[id(root)]


def _bounded_node(loader: _BoundedLoader) -> yaml.Node | None:
    node = loader.get_single_node()
    if node is None:
        return None
    n = _expanded_size(node)
    if n > MAX_EXPANDED_NODES:
        raise _Refused(None, f"its aliases expand to {n:,} nodes, more than {MAX_EXPANDED_NODES:,} "
                       "(an alias bomb?); expand the aliases in the file")
    return node


def compose_yaml_text(text: str, source: str) -> yaml.Node | None:
    """The YAML node tree of ``text`` (for line numbers in messages), with the bounds of :func:`load_yaml_text`."""
    return _parse(text, source, construct=False)


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML ``text`` (from ``source``, used in messages) with the bounds above."""
    return _parse(text, source, construct=True)


def _parse(text: str, source: str, construct: bool) -> Any:
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: {len(text):,} bytes; a YAML file may hold at most {MAX_BYTES:,}")
    loader = _BoundedLoader(text)
    try:
        node = _bounded_node(loader)
        if node is None or not construct:
            return node
        return loader.construct_document(node)
    except _Refused as e:
        where = f"{source}, line {e.line}" if e.line else source
        raise ConfigError(f"{where}: {e.problem}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{source}: not valid YAML{where}: {str(problem)[:120]}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to read") from None
    except (ValueError, OverflowError) as e:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"{source}: a value cannot be read ({str(e)[:120]})") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Read and parse the YAML file ``path`` with the bounds above; errors name the file."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{p}: {size:,} bytes; a YAML file may hold at most {MAX_BYTES:,}")
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror or e})") from None
    return load_yaml_text(text, str(p))
