"""JSON in and out, through orjson.

Records are frozen dataclasses; orjson writes them directly (fields in
declaration order, tuples as arrays), so there is one serialisation for the
store, the CLI's ``--json`` and the REST API, and no ``to_dict`` copies to keep
in step. orjson is also several times faster than the standard library, which
keeps ``models versions --json`` on 10,000 versions well under a second.
"""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any, *, indent: bool = False, sort_keys: bool = False) -> bytes:
    """Encode ``value`` (dataclasses included) as UTF-8 JSON."""
    option = orjson.OPT_INDENT_2 if indent else 0
    if sort_keys:
        option |= orjson.OPT_SORT_KEYS
    return orjson.dumps(value, option=option)


def loads(data: bytes | str) -> Any:
    """Decode JSON."""
    return orjson.loads(data)


def to_data(value: Any) -> Any:
    """Plain dicts and lists for ``value`` — what a JSON reader of it would get."""
    return orjson.loads(orjson.dumps(value))
