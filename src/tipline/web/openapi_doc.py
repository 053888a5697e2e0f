"""Finishing touches on the OpenAPI document, so that every ``$ref`` in it resolves.

Request bodies declared by hand (``openapi_extra``, for routes that read JSON and multipart themselves) embed
a pydantic JSON schema whose nested models sit under a local ``$defs`` with ``#/$defs/Name`` references.
Those references point at the document's root, where there is no ``$defs``, so generated clients cannot
follow them. :func:`hoist_defs` moves every such definition to ``components.schemas`` and rewrites the
references.
"""

from __future__ import annotations

from typing import Any

LOCAL_DEFS = "#/$defs/"
COMPONENTS = "#/components/schemas/"


def _collect(node: Any, found: dict[str, Any]) -> None:
    if isinstance(node, dict):
        defs = node.pop("$defs", None)
        if isinstance(defs, dict):
            for name, schema in defs.items():
                found.setdefault(name, schema)
                _collect(schema, found)
        for value in node.values():
            _collect(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect(value, found)


def _rewrite(node: Any) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(LOCAL_DEFS):
            node["$ref"] = COMPONENTS + ref[len(LOCAL_DEFS) :]
        for value in node.values():
            _rewrite(value)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value)


def hoist_defs(document: dict[str, Any]) -> dict[str, Any]:
    """Move nested ``$defs`` into ``components.schemas`` and point their references there (in place).

    A name already in ``components.schemas`` keeps the component (FastAPI wrote it from the same model)."""
    found: dict[str, Any] = {}
    _collect(document.get("paths", {}), found)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _collect(schemas, found)
    for name, schema in found.items():
        schemas.setdefault(name, schema)
    _rewrite(document)
    return document
