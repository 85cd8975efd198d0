"""Reading ``shipyard.yaml`` into a ``ProjectSpec`` with errors that point at the line.

PyYAML's node tree keeps every key's position; pydantic's errors carry a field
path. Joining the two gives ``shipyard.yaml:4:3: unknown key 'trian' — did you
mean 'train'?`` instead of a traceback.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from shipyard.errors import SpecError
from shipyard.spec.files import SPEC_FILE, read_spec
from shipyard.spec.schema import ProjectSpec


def _node_at(root: yaml.Node, loc: tuple[int | str, ...], *, key: bool) -> yaml.Node:
    """The deepest node along ``loc``: the last step's key if ``key``, else its value."""
    node = root
    for i, step in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            for key_node, value in node.value:
                if key_node.value == step:
                    if key and i == len(loc) - 1:
                        found: yaml.Node = key_node
                        return found
                    node = value
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                return node
            node = node.value[step]
        else:
            return node
    return node


def _duplicate_keys(node: yaml.Node, source: str, path: str = "") -> list[str]:
    """YAML keeps the last of two equal keys silently; a spec must not."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = str(key.value)
            where = f"{path}.{name}" if path else name
            if name in first_seen:
                mark, first = key.start_mark, first_seen[name].start_mark
                problems.append(
                    f"{source}:{mark.line + 1}:{mark.column + 1}: duplicate key '{where}' "
                    f"(first given on line {first.line + 1})"
                )
            else:
                first_seen[name] = key
            problems.extend(_duplicate_keys(value, source, where))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, source, f"{path}[{i}]"))
    return problems


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the mapping that ``loc`` points into."""
    current: Any = model
    for step in loc:
        field = current.model_fields.get(step) if isinstance(step, str) else None
        if field is None:
            return []
        annotation = field.annotation
        candidates = [
            a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)
        ]
        current = next((a for a in candidates if issubclass(a, BaseModel)), None)
        if current is None:
            return []
    return list(current.model_fields)


# pydantic reports a value that fits no member of ``str | int | float | bool`` once per member.
_SCALAR_MEMBERS = {"str", "int", "float", "bool"}


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    where = ".".join(str(p) for p in loc)
    if loc and loc[-1] in _SCALAR_MEMBERS:
        given = type(error.get("input")).__name__
        kind = {"list": "a list", "dict": "a mapping", "NoneType": "nothing"}.get(given, given)
        return f"{where.rsplit('.', 1)[0]}: expected a string, number or boolean, got {kind}"
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        parent = ".".join(str(p) for p in loc[:-1]) or "the top level"
        allowed = _fields_at(ProjectSpec, loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        suggestion = f" — did you mean '{close[0]}'?" if close else ""
        known = f" (allowed: {', '.join(allowed)})" if allowed and not close else ""
        return f"unknown key '{key}' in {parent}{suggestion}{known}"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    got = error.get("input")
    shown = f", got {got!r}" if isinstance(got, str | int | float | bool) else ""
    if "invalid model name" in message:
        shown = ""  # the message quotes the value already
    return f"{where}: {message[0].lower()}{message[1:]}{shown}"


def _load(text: str, loader_class: Any) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()


def _parse_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for error positions) and the data it holds, from one parse.

    libyaml, where PyYAML was built with it, parses a spec over ten times faster; a text it
    rejects is parsed again by PyYAML's own parser, whose errors say more and point better.
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return _load(text, fast)
        except yaml.YAMLError:
            pass
    return _load(text, yaml.SafeLoader)


def parse_spec(text: str, source: str = SPEC_FILE) -> ProjectSpec:
    """Parse and validate spec text; ``source`` names it in error messages."""
    try:
        root, data = _parse_yaml(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        at = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise SpecError(f"{at}: invalid YAML: {err.problem}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{source}: invalid YAML: {err}") from None
    if root is None or not isinstance(data, dict):
        raise SpecError(
            f"{source}: expected a mapping with at least a 'model' section",
            hint="`shipyard init` writes a starter; `shipyard spec schema` prints the schema",
        )
    duplicates = _duplicate_keys(root, source)
    if duplicates:
        raise SpecError("\n".join(duplicates), hint="keep one of each key")
    try:
        return ProjectSpec.model_validate(data)
    except ValidationError as err:
        lines: list[str] = []
        for error in err.errors():
            key = error["type"] == "extra_forbidden"
            node = _node_at(root, tuple(error["loc"]), key=key)
            mark = node.start_mark
            line = f"{source}:{mark.line + 1}:{mark.column + 1}: {_describe(dict(error))}"
            if line not in lines:
                lines.append(line)
        raise SpecError(
            "\n".join(lines), hint="`shipyard spec schema` prints every key the spec accepts"
        ) from None


def load_spec(path: Path) -> ProjectSpec:
    """Read and validate a ``shipyard.yaml`` file."""
    return parse_spec(read_spec(path), str(path))
