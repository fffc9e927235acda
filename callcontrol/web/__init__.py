"""What the HTTP listener serves besides /health and /metrics: the API documents and the console.

``add_routes(app, settings)`` adds to the server's aiohttp application (``Server._start_http``):

- ``/api/`` (HTML), ``/api/asyncapi.json``, ``/api/schema.json``: the API described
  (``callcontrol.api.asyncapi``, ``callcontrol.api.methods.api_schema``); built once, at start;
- ``/console/``: the web attendant console (``static/``: plain HTML, CSS and ES modules,
  ``callcontrol.js`` being the JavaScript client), when ``settings.console`` is on;
  ``/console/config.json`` tells the page which WebSocket URL to use.

:func:`web_settings` derives the effective settings from the config: the console is on
when configured, or by default when the HTTP listener is on loopback; the origins allowed
to open the WebSocket API (also handed to the hub, which refuses other ``Origin`` values
with 403); the WebSocket URL. docs/operations.md, "Console and API documents".
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from callcontrol.api.asyncapi import asyncapi_document
from callcontrol.api.methods import api_schema
from callcontrol.config import Config, HostPort
from callcontrol.web.api_page import render_api_page

logger = logging.getLogger(__name__)

WILDCARD_HOSTS = ("0.0.0.0", "::", "")
STATIC_FILES: dict[str, str] = {  # served name -> content type
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "callcontrol.js": "text/javascript; charset=utf-8",
    "callcontrol.d.ts": "application/typescript; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class WebSettings:
    console: bool
    ws_url: str  # what the API document names and the console connects to
    console_ws_url: str | None  # None: the page builds it from its own host name (ws on a wildcard address)
    ws_port: int
    allowed_origins: tuple[str, ...]  # () with any_origin: no check
    any_origin: bool

    def ws_origins(self) -> list[str | None] | None:
        """The ``origins`` for the hub (``websockets``' check): None when every origin is allowed;
        else the allow-list and None (no Origin header: not a browser)."""
        if self.any_origin:
            return None
        return [*self.allowed_origins, None]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def own_origins(listen: HostPort, scheme: str = "http") -> list[str]:
    """The origins a browser shows for pages from ``listen``: none for a wildcard (unknown name)."""
    host, port = listen
    if host in WILDCARD_HOSTS:
        return []
    out = [f"{scheme}://{_url_host(host)}:{port}"]
    if is_loopback(host) and host != "localhost":
        out.append(f"{scheme}://localhost:{port}")
    return out


def web_settings(cfg: Config, *, ws_port: int | None = None, http_port: int | None = None) -> WebSettings:
    """The effective settings; ``ws_port``/``http_port``: the bound ports when the config said 0."""
    console = cfg.console
    ws_listen = HostPort(cfg.ws.listen.host, ws_port or cfg.ws.listen.port)
    http_listen = HostPort(cfg.http.listen.host, http_port or cfg.http.listen.port)
    scheme = "wss" if cfg.ws.certfile else "ws"
    derived = f"{scheme}://{_url_host(ws_listen.host)}:{ws_listen.port}/ws"
    enabled = console.enabled if console.enabled is not None else is_loopback(http_listen.host)
    origins = list(console.allowed_origins) or own_origins(http_listen)
    return WebSettings(
        console=enabled,
        ws_url=console.ws_url or derived,
        console_ws_url=console.ws_url or (None if ws_listen.host in WILDCARD_HOSTS else derived),
        ws_port=ws_listen.port,
        allowed_origins=tuple(o for o in origins if o != "*"),
        any_origin="*" in origins,
    )


def documents(ws_url: str) -> tuple[bytes, bytes, bytes]:
    """(asyncapi.json, schema.json, the HTML page): what ``callcontrol api-schema`` prints, too."""
    doc = asyncapi_document(ws_url)
    return (orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n",
            orjson.dumps(api_schema(), option=orjson.OPT_INDENT_2) + b"\n",
            render_api_page(doc).encode())


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _csp(settings: WebSettings) -> str:
    if settings.console_ws_url is not None:
        parts = urlsplit(settings.console_ws_url)
        connect = f"'self' {parts.scheme}://{parts.netloc}"
    else:
        connect = "'self' ws: wss:"  # the page's own host name, unknown here
    return (f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY"}


def add_routes(app: web.Application, settings: WebSettings) -> None:
    """Add the API documents, and the console when it is on, to ``app``."""
    asyncapi_json, schema_json, api_html = documents(settings.ws_url)
    page_headers = {**SECURITY_HEADERS, "Content-Security-Policy":
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"}

    def fixed(body: bytes, content_type: str, headers: dict[str, str] | None = None) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type=content_type.split(";")[0],
                                charset="utf-8" if "charset" in content_type else None, headers=headers)
        return handler

    async def to_slash(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(request.path + "/")

    app.router.add_get("/api", to_slash)
    app.router.add_get("/api/", fixed(api_html, "text/html; charset=utf-8", page_headers))
    app.router.add_get("/api/asyncapi.json", fixed(asyncapi_json, "application/json", SECURITY_HEADERS))
    app.router.add_get("/api/schema.json", fixed(schema_json, "application/json", SECURITY_HEADERS))
    if not settings.console:
        async def console_off(request: web.Request) -> web.Response:
            return web.Response(status=404, text="the console is off: set [console] enabled = true "
                                                 "(docs/operations.md, \"Console and API documents\")\n")
        app.router.add_get("/console", console_off)
        app.router.add_get("/console/{tail:.*}", console_off)
        return
    console_headers = {**SECURITY_HEADERS, "Content-Security-Policy": _csp(settings), "Cache-Control": "no-cache"}
    app.router.add_get("/console", to_slash)
    for name, content_type in STATIC_FILES.items():
        route = "/console/" if name == "index.html" else f"/console/{name}"
        app.router.add_get(route, fixed(_static(name), content_type, console_headers))
    config = orjson.dumps({"ws_url": settings.console_ws_url, "ws_port": settings.ws_port,
                           "ws_scheme": urlsplit(settings.ws_url).scheme})
    app.router.add_get("/console/config.json", fixed(config, "application/json",
                                                     {**console_headers, "Cache-Control": "no-store"}))
