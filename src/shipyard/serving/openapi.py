"""The server's OpenAPI document and a self-contained page that lists it (no CDN needed)."""

from __future__ import annotations

from typing import Any

from shipyard import __version__

_ERROR = {
    "description": "what was wrong",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {
            "type": "string",
            "enum": [
                "BOOL",
                "UINT8",
                "UINT16",
                "UINT32",
                "UINT64",
                "INT8",
                "INT16",
                "INT32",
                "INT64",
                "FP16",
                "FP32",
                "FP64",
                "BYTES",
            ],
        },
        "data": {"type": "array"},
    },
}


def _op(
    summary: str, *, body: dict[str, Any] | None = None, codes: tuple[int, ...] = ()
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "OK"}}}
    for code in codes:
        operation["responses"][str(code)] = _ERROR
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def openapi(model: str) -> dict[str, Any]:
    """OpenAPI 3.1 for the endpoints this server answers (``model`` names the served model)."""
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "example": model,
    }
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
    infer_body = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "inputs": {"type": "array", "items": _TENSOR, "minItems": 1},
        },
    }
    v1_body = {
        "type": "object",
        "properties": {
            "instances": {"type": "array", "minItems": 1},
            "inputs": {"type": "array", "minItems": 1},
        },
    }
    feedback_body = {
        "type": "object",
        "required": ["request_id", "label"],
        "properties": {
            "request_id": {"type": "string", "description": "the answer's x-request-id"},
            "label": {
                "description": "the true class or value; a list for a request of several rows",
                "oneOf": [
                    {"type": ["integer", "number", "string"]},
                    {"type": "array", "items": {"type": ["integer", "number", "string"]}},
                ],
            },
        },
    }
    feedback = _op(
        "Feedback: the true label of an answered request, joined to its logged prediction",
        body=feedback_body,
        codes=(400, 404, 409),
    )
    infer = _op(
        "Open Inference Protocol V2: infer", body=infer_body, codes=(400, 404, 408, 413, 500, 503)
    )
    paths: dict[str, Any] = {
        "/v2/health/live": {"get": _op("Liveness")},
        "/v2/health/ready": {"get": _op("Readiness", codes=(503,))},
        "/healthz": {"get": _op("Health")},
        "/v2": {"get": _op("Server metadata")},
        "/v2/models/{name}": {"get": {**_op("Model metadata", codes=(404,)), "parameters": [name]}},
        "/v2/models/{name}/ready": {
            "get": {**_op("Model readiness", codes=(404, 503)), "parameters": [name]}
        },
        "/v2/models/{name}/infer": {"post": {**infer, "parameters": [name]}},
        "/v2/models/{name}/versions/{version}/infer": {
            "post": {**infer, "parameters": [name, version]}
        },
        "/v1/models/{name}:predict": {
            "post": {
                **_op("KServe V1: predict", body=v1_body, codes=(400, 404, 408, 413, 500, 503)),
                "parameters": [name],
            }
        },
        "/v1/models/{name}/feedback": {"post": {**feedback, "parameters": [name]}},
        "/v2/models/{name}/feedback": {"post": {**feedback, "parameters": [name]}},
        "/metrics": {"get": _op("Prometheus metrics")},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"Shipyard model server: {model}", "version": __version__},
        "paths": paths,
    }


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shipyard model server</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:60rem}code{background:#f3f3f3;
padding:0 .3em}li{margin:.3em 0}.m{display:inline-block;width:4em;font-weight:bold}</style></head>
<body><h1 id="title">Shipyard model server</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Endpoints:</p><ul id="ops"></ul>
<script>
fetch('/openapi.json').then(r => r.json()).then(doc => {
  document.getElementById('title').textContent = doc.info.title;
  const ul = document.getElementById('ops');
  for (const [path, ops] of Object.entries(doc.paths))
  for (const [method, op] of Object.entries(ops)) {
    const li = document.createElement('li');
    li.innerHTML = '<span class="m">' + method.toUpperCase() + '</span><code></code> ';
    li.querySelector('code').textContent = path;
    li.append(op.summary);
    ul.append(li);
  }
});
</script></body></html>
"""
