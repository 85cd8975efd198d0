"""The control plane's OpenAPI document, generated from the operations' declarations:
paths, the scope each needs, query parameters, and request schemas from the body types."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shipyard import __version__

if TYPE_CHECKING:
    from shipyard.controlplane.api import Operation

_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "hint": {"type": ["string", "null"]},
        "exit_code": {"type": "integer"},
    },
    "required": ["error"],
}
_REFUSED = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _operation(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    from shipyard.controlplane.api import adapter

    responses: dict[str, Any] = {str(op.status): {"description": "OK"}}
    for code in (401, 403, *op.codes):
        responses[str(code)] = {"description": "refused", "content": _REFUSED}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", op.path)
    ] + [{"name": name, "in": "query", "schema": {"type": kind}} for name, kind in op.query]
    doc: dict[str, Any] = {
        "summary": op.summary,
        "description": f"Needs a token with the `{op.scope}` scope.",
        "security": [{"bearer": [op.scope]}],
        "x-scope": op.scope,
        "responses": responses,
    }
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        schema = adapter(op.body).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[op.body.__name__] = schema
        doc["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}
            },
        }
    elif op.method == "PUT" and op.raw:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    return doc


def openapi(operations: Iterable[Operation]) -> dict[str, Any]:
    """OpenAPI 3.1 for ``/api/v1``."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(f"/api/v1{op.path}", {})[op.method.lower()] = _operation(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shipyard control plane", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `shipyard tokens create NAME --scope …`; "
                    "scopes: read, register, deploy, admin (every token may read).",
                }
            },
        },
    }
