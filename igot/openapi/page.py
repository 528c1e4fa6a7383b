"""The API contract as one HTML page, rendered on the server from the OpenAPI document.

Plain HTML with a little CSS of our own and no script: the page works offline, behind a strict content
security policy, and loads nothing from anywhere else. Every value from the document is escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from html import escape
from typing import Any

from igot.openapi.schemas import RET_MEANINGS

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1d1d1f}
h1{margin-bottom:0}h2{margin-top:2em;border-bottom:1px solid #ddd}code{background:#f3f3f5;padding:0 .25em}
table{border-collapse:collapse;width:100%;margin:.4em 0}td,th{border:1px solid #e2e2e6;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f7f7f9}.op{border:1px solid #ddd;border-radius:6px;
padding:.6em 1em;margin:1em 0}.method{display:inline-block;min-width:4em;font-weight:700;color:#fff;
border-radius:4px;text-align:center;margin-right:.5em}.get{background:#2f7d32}.post{background:#1f5fa8}
.head{background:#6b6b6b}.path{font-family:monospace;font-size:1.05em}h4{margin:.6em 0 .2em}
"""
_CODE = re.compile(r"`([^`]+)`")


def _inline(value: str) -> str:
    """Escaped text with `code` spans, the only markup the document's descriptions use."""
    return _CODE.sub(r"<code>\1</code>", escape(value))


def _schema_summary(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "oneOf" in schema:
        return " or ".join(_schema_summary(part) for part in schema["oneOf"])
    if "const" in schema:
        return f"<code>{escape(json.dumps(schema['const']))}</code>"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(json.dumps(value))}</code>" for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "object" and schema.get("properties"):
        return "object {" + ", ".join(escape(name) for name in schema["properties"]) + "}"
    words = [" or ".join(kind) if isinstance(kind, list) else str(kind)]
    if kind == "array" and isinstance(schema.get("items"), dict):
        words.append("of " + _schema_summary(schema["items"]))
    for limit in ("minLength", "maxLength", "minimum", "maximum", "pattern", "format"):
        if limit in schema:
            words.append(f"{limit} <code>{escape(str(schema[limit]))}</code>")
    return " ".join(words)


def _table(header: tuple[str, ...], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _parameters(spec: dict[str, Any], document: dict[str, Any]) -> str:
    rows = []
    for item in spec.get("parameters", []):
        if "$ref" in item:
            item = document["components"]["parameters"][item["$ref"].rsplit("/", 1)[-1]]
        rows.append(
            (
                f"<code>{escape(item['name'])}</code>",
                escape(item["in"]),
                "yes" if item.get("required") else "",
                _schema_summary(item.get("schema", {})),
                _inline(item.get("description", "")),
            )
        )
    for requirement in spec.get("security", []):
        for name in requirement:
            scheme = document["components"]["securitySchemes"][name]
            where = f"query <code>{escape(scheme['name'])}</code>" if scheme["type"] == "apiKey" else ""
            rows.append(
                (escape(name), where or "header <code>Authorization: Bearer</code>", "one of", "", "")
            )
    if not rows:
        return ""
    return "<h4>Parameters</h4>" + _table(("name", "in", "required", "schema", ""), rows)


def _body(spec: dict[str, Any]) -> str:
    body = spec.get("requestBody")
    if not body:
        return ""
    rows = [
        (f"<code>{escape(media)}</code>", _schema_summary(item["schema"]))
        for media, item in body["content"].items()
    ]
    return "<h4>Request body</h4>" + _table(("content type", "schema"), rows)


def _responses(spec: dict[str, Any]) -> str:
    rows = []
    for status, item in spec["responses"].items():
        content = item.get("content", {})
        schemas = ", ".join(
            f"<code>{escape(media)}</code> {_schema_summary(media_item['schema'])}"
            for media, media_item in content.items()
        )
        rows.append((escape(status), _inline(item["description"]), schemas))
    return "<h4>Responses</h4>" + _table(("HTTP", "meaning", "body"), rows)


def _operation(method: str, path: str, spec: dict[str, Any], document: dict[str, Any]) -> str:
    return (
        f'<div class="op" id="{escape(spec["operationId"])}">'
        f'<span class="method {escape(method)}">{escape(method.upper())}</span>'
        f'<span class="path">{escape(path)}</span><p>{_inline(spec["summary"])}</p>'
        f"{_parameters(spec, document)}{_body(spec)}{_responses(spec)}</div>"
    )


def _schemas(document: dict[str, Any]) -> str:
    parts = []
    for name, schema in document["components"]["schemas"].items():
        rows = [
            (
                f"<code>{escape(field)}</code>",
                "yes" if field in schema.get("required", []) else "",
                _schema_summary(item),
                _inline(item.get("description", "")),
            )
            for field, item in schema.get("properties", {}).items()
        ]
        table = _table(("field", "required", "schema", ""), rows) if rows else _schema_summary(schema)
        parts.append(f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>{table}')
    return "".join(parts)


def render_page(document: dict[str, Any]) -> str:
    info = document["info"]
    rets = _table(("ret", "meaning"), [(str(int(ret)), escape(text)) for ret, text in RET_MEANINGS.items()])
    sections = []
    for tag in document["tags"]:
        operations = [
            _operation(method, path, spec, document)
            for path, methods in document["paths"].items()
            for method, spec in methods.items()
            if tag["name"] in spec["tags"]
        ]
        sections.append(
            f"<h2>{escape(tag['name'])}</h2><p>{_inline(tag['description'])}</p>{''.join(operations)}"
        )
    intro = _inline(info["description"].split("\n\n", 1)[0])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(info['title'])} API</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(info['title'])} API</h1><p>version {escape(info['version'])} · "
        '<a href="/openapi.json">openapi.json</a></p>'
        f"<p>{intro}</p><h2>Status words</h2>{rets}{''.join(sections)}"
        f"<h2>Schemas</h2>{_schemas(document)}</body></html>"
    )
