"""The JavaScript client and its TypeScript declarations against the server's method table and models.

The client itself runs under Node against the real server: tests/integration/test_js_client.py.
A new API method must appear in callcontrol.js's METHODS (with its service) and in the .d.ts's
MethodName, and every interface of the .d.ts must have exactly the properties of its model.
"""
from __future__ import annotations

import re

from callcontrol.api import models
from callcontrol.api.asyncapi import camel
from callcontrol.api.methods import METHODS
from callcontrol.model.callinfo import CallState
from tests.integration.harness import ROOT

STATIC = ROOT / "callcontrol" / "web" / "static"
JS = (STATIC / "callcontrol.js").read_text()
DTS = (STATIC / "callcontrol.d.ts").read_text()


def test_the_js_method_table_is_the_servers() -> None:
    table = re.search(r"export const METHODS = Object\.freeze\(\{(.*?)\}\);", JS, re.S)
    assert table is not None
    js = dict(re.findall(r"^\s*(\w+): \"(\w+)\",$", table.group(1), re.M))
    assert js == {name: service for service, name in METHODS}
    for _, name in METHODS:
        assert re.search(rf"^  async {camel(name)}\(|^  {camel(name)}\(", JS, re.M), f"callcontrol.js: no {camel(name)}()"
        assert re.search(rf"^  {camel(name)}\(", DTS, re.M), f"callcontrol.d.ts: no {camel(name)}()"


def test_the_declarations_match_the_models() -> None:
    names = re.search(r"export type MethodName =(.*?);", DTS, re.S)
    assert names is not None
    assert set(re.findall(r'"(\w+)"', names.group(1))) == {name for _, name in METHODS}
    states = re.search(r"export type CallState =(.*?);", DTS, re.S)
    assert states is not None
    assert re.findall(r'"(\w+)"', states.group(1)) == [str(s) for s in CallState]
    for interface, model in (("CallRef", models.CallRef), ("ForwarderInfo", models.ForwarderInfo),
                             ("SipCallerInfo", models.SipCallerInfo), ("QueueInfo", models.QueueInfo),
                             ("SipCallInfo", models.SipCallInfo), ("CdrInfo", models.CdrInfo)):
        body = re.search(rf"export interface {interface} \{{(.*?)\n\}}", DTS, re.S)
        assert body is not None, interface
        props = re.findall(r"^  (\w+)(\??):", body.group(1), re.M)
        assert [p for p, _ in props] == list(model.model_fields), interface
        for prop, optional in props:
            required = model.model_fields[prop].is_required()
            assert (optional == "") == required, f"{interface}.{prop}: optional in the .d.ts iff it has a default"


def test_the_client_keeps_the_session_in_memory_only() -> None:
    for store in ("localStorage", "sessionStorage", "document.cookie", "indexedDB"):
        assert store not in JS
