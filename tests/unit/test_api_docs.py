"""The API documents (AsyncAPI 3.0, JSON Schema, the HTML page) and what the HTTP side serves.

The served documents against the real server and a real call: tests/integration/test_api_documents.py.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcontrol.__main__ import main
from callcontrol.api.asyncapi import asyncapi_document, camel
from callcontrol.api.methods import METHODS, api_schema
from callcontrol.config import Config, ConfigError, HostPort, load_config
from callcontrol.web import add_routes, documents, web_settings
from callcontrol.web.api_page import render_api_page
from tests.asyncapi_check import MessageValidator, asyncapi_errors


def _all_properties(schema: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            out.append((f"{path}.{name}", prop))
        for key, value in schema.items():
            out += _all_properties(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            out += _all_properties(value, f"{path}[{i}]")
    return out


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    doc = asyncapi_document("ws://127.0.0.1:8445/ws")
    assert asyncapi_errors(doc) == []
    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["callcontrol"] == {**doc["servers"]["callcontrol"], "host": "127.0.0.1:8445",
                                             "protocol": "ws", "pathname": "/ws"}
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft7Validator.check_schema(schema)  # the AsyncAPI schema format is draft-07's
        assert "$defs" not in orjson.dumps(schema).decode(), name


def test_the_checker_refuses_broken_documents() -> None:
    doc = asyncapi_document()
    bad = copy.deepcopy(doc)
    bad["operations"]["holdCall"]["action"] = "call"
    assert asyncapi_errors(bad)
    bad = copy.deepcopy(doc)
    del bad["info"]["version"]
    assert asyncapi_errors(bad)
    bad = copy.deepcopy(doc)
    bad["operations"]["holdCall"]["messages"] = [{"$ref": "#/channels/callControl/messages/nope"}]
    assert any("does not resolve" in e for e in asyncapi_errors(bad))
    bad = copy.deepcopy(doc)
    bad["operations"]["holdCall"]["reply"]["messages"] = [{"$ref": "#/components/schemas/CallRef"}]
    assert any("is not one of" in e for e in asyncapi_errors(bad))


def test_every_method_is_an_operation_with_request_and_reply() -> None:
    doc = asyncapi_document()
    ops = doc["operations"]
    assert set(ops) == {camel(s.name) for s in METHODS.values()} | {"callStateNotification", "overflowNotice"}
    messages = doc["channels"]["callControl"]["messages"]
    for spec in METHODS.values():
        op = ops[camel(spec.name)]
        assert op["action"] == "receive" and op["title"] == spec.full_name
        assert op["summary"], f"{spec.full_name} has no summary (callcontrol.api.asyncapi.SUMMARIES)"
        request = messages[f"{camel(spec.name)}Request"]
        assert request["correlationId"] == {"$ref": "#/components/correlationIds/cseq"}
        replies = [m["$ref"].rsplit("/", 1)[1] for m in op["reply"]["messages"]]
        assert replies == [f"{camel(spec.name)}Response", "errorResponse", "dryRunResponse"]
    assert ops["callStateNotification"]["action"] == "send"


def test_every_property_has_a_description() -> None:
    for doc in (asyncapi_document(), api_schema()):
        props = _all_properties(doc)
        assert len(props) > 100
        missing = [path for path, prop in props if not prop.get("description")]
        assert missing == [], f"properties without a description: {missing}"
        assert not [p for p, prop in props if "\n" in prop.get("description", "")]


def test_descriptions_come_from_the_seed_tables() -> None:
    schemas = asyncapi_document()["components"]["schemas"]
    info = schemas["SipCallInfo"]["properties"]
    assert info["caller"]["description"] == "The information about the caller."
    assert "holding (returned to the party who holds)" in info["state"]["description"]
    assert schemas["TransferCallParams"]["properties"]["cld"]["description"] == \
        "The phone number of the transfer target."
    assert schemas["SipCallerInfo"]["properties"]["huntgroup_id"]["description"].startswith("The hunt group number")


def test_message_payloads_accept_real_frames_and_refuse_wrong_ones() -> None:
    from callcontrol.api.dispatcher import encode_error, encode_success
    from callcontrol.api.events import notification_frame, notification_tail
    from callcontrol.api.models import CallNotFound
    from callcontrol.model.callinfo import CallId, CallInfo, CallState, Party

    v = MessageValidator(asyncapi_document())
    info = CallInfo(CallId("i@h", "t"), CallState.RINGING, "10.0.0.1:5060", "incoming",
                    Party(id="1001", forwarder_list=("7",)), Party(id="1002"), start_time=0.0)
    note = orjson.loads(notification_frame(3, notification_tail(info.encoded())))
    assert v.errors("callStateNotification", note) == []
    note["result"]["call_info"]["colour"] = "red"
    assert v.errors("callStateNotification", note)
    login = orjson.loads(encode_success(1, {"session_id": "ab" * 16}))
    assert v.errors("loginResponse", login) == []
    assert v.errors("loginResponse", {**login, "result": {"success": 1}})  # no session_id
    error = orjson.loads(encode_error(2, CallNotFound({"call": "x"})))
    assert v.errors("errorResponse", error) == []
    assert v.reply_errors("holdCall", error) == []
    request = {"cseq": 1, "auth_info": {"session_id": "ab" * 16}, "service": "CallControl", "method": "hold_call",
               "params": {"call": {"id": "x", "tag": "y"}}}
    assert v.errors("holdCallRequest", request) == []
    assert v.errors("holdCallRequest", {**request, "method": "unhold_call"})
    assert v.errors("holdCallRequest", {k: x for k, x in request.items() if k != "auth_info"})
    assert v.errors("loginRequest", {"cseq": 1, "service": "Session", "method": "login",
                                     "params": {"login": "a", "password": "b"}}) == []


def test_the_api_page_shows_every_method_and_model() -> None:
    doc = asyncapi_document()
    page = render_api_page(doc)
    for spec in METHODS.values():
        assert f'id="op-{camel(spec.name)}"' in page
    assert 'id="schema-SipCallInfo"' in page and "The information about the caller." in page
    assert "<script" not in page and "http://" not in page.replace("http://json-schema", "")


# --------------------------------------------------------------------------- settings and serving


def _cfg(**sections: dict[str, Any]) -> Config:
    return Config.model_validate(sections)


def test_console_is_on_by_default_only_on_loopback() -> None:
    s = web_settings(Config())
    assert s.console is True
    assert s.allowed_origins == ("http://127.0.0.1:8446", "http://localhost:8446")
    assert s.ws_origins() == ["http://127.0.0.1:8446", "http://localhost:8446", None]
    assert s.ws_url == s.console_ws_url == "ws://127.0.0.1:8445/ws"
    wide = web_settings(_cfg(http={"listen": "0.0.0.0:8446"}, ws={"listen": "0.0.0.0:8445"}))
    assert wide.console is False and wide.allowed_origins == () and wide.ws_origins() == [None]
    assert wide.console_ws_url is None  # the page uses its own host name
    lan = web_settings(_cfg(http={"listen": "10.1.2.3:80"}))
    assert lan.console is False and lan.allowed_origins == ("http://10.1.2.3:80",)
    on = web_settings(_cfg(http={"listen": "0.0.0.0:8446"},
                           console={"enabled": True, "allowed_origins": ["https://pbx.example.com"],
                                    "ws_url": "wss://pbx.example.com/ws"}))
    assert on.console is True and on.allowed_origins == ("https://pbx.example.com",)
    assert on.ws_url == "wss://pbx.example.com/ws"
    off = web_settings(_cfg(console={"enabled": False}))
    assert off.console is False
    anyone = web_settings(_cfg(console={"allowed_origins": ["*"]}))
    assert anyone.ws_origins() is None
    assert web_settings(Config(), ws_port=9001).ws_url == "ws://127.0.0.1:9001/ws"
    v6 = web_settings(_cfg(http={"listen": "[::1]:8446"}))
    assert v6.allowed_origins == ("http://[::1]:8446", "http://localhost:8446")
    assert HostPort("::1", 1)


@pytest.mark.parametrize(("env", "message"), [
    ({"CALLCONTROL_CONSOLE__ALLOWED_ORIGINS": "http://pbx/console"},
     'console.allowed_origins[0]: expected an origin "http[s]://HOST[:PORT]" (no path) or "*", '
     'got "http://pbx/console"'),
    ({"CALLCONTROL_CONSOLE__WS_URL": "http://pbx/ws"},
     'console.ws_url: expected a "ws[s]://HOST:PORT/PATH" URL, got "http://pbx/ws"'),
    ({"CALLCONTROL_CONSOLE__ENABLED": "1"}, "console.enabled: expected true or false, got 1"),
    ({"CALLCONTROL_CONSOLE__ENABLED": "true", "CALLCONTROL_HTTP__LISTEN": "0.0.0.0:8446"},
     "console.enabled with http.listen 0.0.0.0:8446 needs console.allowed_origins"),
])
def test_bad_console_keys_are_one_line_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ=env, check_host=False)
    assert message in str(info.value) and "\n" not in str(info.value)


async def _get(settings: Any, *paths: str) -> list[tuple[int, dict[str, str], bytes]]:
    app = web.Application()
    add_routes(app, settings)
    out = []
    async with TestClient(TestServer(app)) as client:
        for path in paths:
            resp = await client.get(path, allow_redirects=False)
            out.append((resp.status, dict(resp.headers), await resp.read()))
    return out


async def test_documents_and_console_are_served() -> None:
    settings = web_settings(Config())
    asyncapi_json, schema_json, page = documents(settings.ws_url)
    got = await _get(settings, "/api/asyncapi.json", "/api/schema.json", "/api/", "/api", "/console/",
                     "/console/callcontrol.js", "/console/config.json", "/console/nothing")
    assert [g[0] for g in got] == [200, 200, 200, 301, 200, 200, 200, 404]
    assert got[0][2] == asyncapi_json and got[1][2] == schema_json and got[2][2] == page
    assert got[0][1]["Content-Type"].startswith("application/json")
    assert got[3][1]["Location"] == "/api/"
    csp = got[4][1]["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "connect-src 'self' ws://127.0.0.1:8445" in csp
    assert got[4][1]["X-Frame-Options"] == "DENY"
    assert got[5][1]["Content-Type"].startswith("text/javascript")
    assert orjson.loads(got[6][2]) == {"ws_url": "ws://127.0.0.1:8445/ws", "ws_port": 8445, "ws_scheme": "ws"}
    assert got[6][1]["Cache-Control"] == "no-store"


async def test_console_off_is_404_with_the_reason_and_docs_still_served() -> None:
    settings = web_settings(_cfg(console={"enabled": False}))
    got = await _get(settings, "/console/", "/console/callcontrol.js", "/console", "/api/asyncapi.json")
    assert [g[0] for g in got] == [404, 404, 404, 200]
    assert got[0][2].decode() == ("the console is off: set [console] enabled = true "
                                  "(docs/operations.md, \"Console and API documents\")\n")


def test_cli_prints_what_the_server_serves(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLCONTROL_CONFIG", raising=False)
    config = tmp_path / "c.toml"
    config.write_text(f'[ws]\nlisten = "127.0.0.1:9100"\n[store]\ndata_dir = "{tmp_path / "d"}"\n')
    cfg = load_config(config)
    asyncapi_json, schema_json, _ = documents(web_settings(cfg).ws_url)
    assert main(["api-schema", "--asyncapi", "--config", str(config)]) == 0
    assert capsysbinary.readouterr().out == asyncapi_json
    assert orjson.loads(asyncapi_json)["servers"]["callcontrol"]["host"] == "127.0.0.1:9100"
    assert main(["api-schema", "--config", str(config)]) == 0
    assert capsysbinary.readouterr().out == schema_json
    assert main(["api-schema", "--asyncapi", "--ws-listen", "nope"]) == 2
