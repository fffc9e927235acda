"""``GET /api/``: the AsyncAPI document rendered as one HTML page (no script, no external asset).

Rendered once from the document itself, so the page can say nothing the document does not:
the server, one section per method (request params, result, the errors), the notifications,
and a table per model with every property's type, whether it is required, its default and
its description.
"""
from __future__ import annotations

import html
import json
import logging
from typing import Any

logger = logging.getLogger(__name__)

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 2rem;color:#1d232a}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccd}h3{margin:1.6rem 0 .3rem}
code{background:#f1f3f6;padding:0 .25em;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
th,td{border:1px solid #d6dae0;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f6}td.t{white-space:nowrap;font-family:monospace;font-size:.9em}
nav{columns:3;font-size:.9em}nav a{display:block}.muted{color:#5b6570}
"""


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


class _Renderer:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.schemas: dict[str, Any] = doc["components"]["schemas"]
        self.messages: dict[str, Any] = next(iter(doc["channels"].values()))["messages"]
        self.out: list[str] = []

    def w(self, text: str) -> None:
        self.out.append(text)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[_ref_name(schema["$ref"])]
        return schema

    def type_text(self, schema: dict[str, Any]) -> str:
        """A property's type as HTML: links to models, literals, unions, constraints."""
        if "$ref" in schema:
            name = _ref_name(schema["$ref"])
            target = self.schemas.get(name, {})
            if "properties" in target:
                return f'<a href="#schema-{html.escape(name)}">{html.escape(name)}</a>'
            return self.type_text(target)
        if "const" in schema:
            return f"<code>{html.escape(_json(schema['const']))}</code>"
        if "enum" in schema:
            return " | ".join(f"<code>{html.escape(_json(v))}</code>" for v in schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return " | ".join(self.type_text(s) for s in schema[key])
        kind = schema.get("type")
        if kind == "array":
            return f"{self.type_text(schema.get('items', {}))}[]"
        if kind == "object" and "additionalProperties" in schema and "properties" not in schema:
            return "object"
        text = html.escape(str(kind)) if kind else "any"
        limits = []
        for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("minimum", "≥"),
                           ("maximum", "≤"), ("pattern", "pattern")):
            if key in schema:
                limits.append(f"{label} {html.escape(str(schema[key]))}")
        return text + (f' <span class="muted">({", ".join(limits)})</span>' if limits else "")

    def properties_table(self, schema: dict[str, Any]) -> None:
        schema = self.resolve(schema)
        props: dict[str, Any] = schema.get("properties", {})
        if not props:
            self.w('<p class="muted">No properties.</p>')
            return
        required = set(schema.get("required", []))
        self.w("<table><tr><th>property</th><th>type</th><th>required</th><th>default</th>"
               "<th>description</th></tr>")
        for name, prop in props.items():
            default = f"<code>{html.escape(_json(prop['default']))}</code>" if "default" in prop else ""
            self.w(f"<tr><td><code>{html.escape(name)}</code></td><td class=t>{self.type_text(prop)}</td>"
                   f"<td>{'yes' if name in required else ''}</td><td>{default}</td>"
                   f"<td>{html.escape(prop.get('description', ''))}</td></tr>")
        self.w("</table>")

    def render(self) -> str:
        doc = self.doc
        info = doc["info"]
        server = next(iter(doc["servers"].values()))
        url = f"{server['protocol']}://{server['host']}{server.get('pathname', '')}"
        ops = doc["operations"]
        self.w(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(info['title'])}"
               f"</title><meta name=viewport content='width=device-width'><style>{_CSS}</style></head><body>")
        self.w(f"<h1>{html.escape(info['title'])}</h1><p class=muted>version {html.escape(info['version'])} · "
               f"AsyncAPI {html.escape(doc['asyncapi'])} · <a href=asyncapi.json>asyncapi.json</a> · "
               f"<a href=schema.json>schema.json</a></p>")
        self.w(f"<p>Server: <code>{html.escape(url)}</code>. {html.escape(server.get('description', ''))}</p>")
        self.w(f"<p>{html.escape(info.get('description', ''))}</p>")
        self.w("<h2>Methods</h2><nav>")
        for op_id, op in ops.items():
            self.w(f'<a href="#op-{html.escape(op_id)}">{html.escape(op["title"])}</a>')
        self.w("</nav>")
        for op_id, op in ops.items():
            self.w(f'<h3 id="op-{html.escape(op_id)}">{html.escape(op["title"])}</h3>'
                   f"<p>{html.escape(op.get('summary', ''))} <span class=muted>"
                   f"{html.escape(op.get('description', ''))}</span></p>")
            for ref in op["messages"]:
                payload = self.resolve(self.messages[_ref_name(ref["$ref"])]["payload"])
                props = payload.get("properties", {})
                if "params" in props:
                    self.w("<p><b>params</b></p>")
                    self.properties_table(props["params"])
                else:
                    self.properties_table(payload)
            for ref in op.get("reply", {}).get("messages", [])[:1]:
                payload = self.resolve(self.messages[_ref_name(ref["$ref"])]["payload"])
                self.w("<p><b>result</b></p>")
                self.properties_table(payload["properties"]["result"])
        self.w("<h2>Errors</h2><p>Every request may be answered with <code>{cseq, error: {code, message, "
               "details}, success: 0}</code>.</p>")
        self.properties_table({"$ref": "#/components/schemas/ErrorBody"})
        self.w("<h2>Models</h2>")
        for name, schema in self.schemas.items():
            if "properties" not in schema or name.endswith(("Request", "Response", "Frame")):
                continue
            self.w(f'<h3 id="schema-{html.escape(name)}">{html.escape(name)}</h3>')
            if schema.get("description"):
                self.w(f"<p>{html.escape(schema['description'])}</p>")
            self.properties_table(schema)
        self.w("</body></html>")
        return "\n".join(self.out)


def _json(value: Any) -> str:
    return json.dumps(value)


def render_api_page(doc: dict[str, Any]) -> str:
    """The HTML page of an AsyncAPI document made by ``callcontrol.api.asyncapi``."""
    return _Renderer(doc).render()
