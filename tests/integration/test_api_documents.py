"""The API documents the real server serves, and every frame of a real SIPp call checked against them.

``callcontrol serve`` (tests/integration/console_rig.py) serves ``/api/asyncapi.json``: it must be
a valid AsyncAPI 3.0 document (the official JSON Schema, tests/asyncapi_check.py) and exactly
what ``callcontrol api-schema --asyncapi --config`` prints for the same config. Then a plain
``websockets`` client logs in, subscribes, and a SIPp caller calls 1002 (a SIPp phone): every
frame the server sends (responses, errors, a dry run, the call's notifications through
ringing, connected, holding/held and terminated) must match the payload schema of the message
the document says it is. Last, the Origin allow-list of the WebSocket upgrade: a foreign
Origin gets 403, the console's own origin is let in.
"""
from __future__ import annotations

import asyncio
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.asyncapi_check import MessageValidator, asyncapi_errors
from tests.integration.console_rig import TIMEOUT, ConsoleRig, console_rig
from tests.integration.harness import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleRig]:
    with console_rig(tmp_path_factory.mktemp("api-docs")) as rig:
        yield rig


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
        assert resp.status == 200
        return resp.read()


def test_served_documents_are_valid_and_what_the_cli_prints(rig: ConsoleRig) -> None:
    served = http_get(f"{rig.http_url}/api/asyncapi.json")
    doc = orjson.loads(served)
    assert asyncapi_errors(doc) == []
    assert doc["servers"]["callcontrol"]["host"] == f"127.0.0.1:{rig.ws_port}"
    printed = subprocess.run(["callcontrol", "api-schema", "--asyncapi", "--config", str(rig.config)], cwd=ROOT,
                             capture_output=True, timeout=60, check=True).stdout
    assert printed == served
    schema = subprocess.run(["callcontrol", "api-schema", "--config", str(rig.config)], cwd=ROOT,
                            capture_output=True, timeout=60, check=True).stdout
    assert http_get(f"{rig.http_url}/api/schema.json") == schema
    page = http_get(f"{rig.http_url}/api/").decode()
    assert "CallControl.hold_call" in page and "The information about the caller." in page


class Wire:
    """A raw WebSocket client that checks every frame it receives against the served document."""

    def __init__(self, ws: ClientConnection, validator: MessageValidator) -> None:
        self.ws = ws
        self.v = validator
        self.cseq = 0
        self.sid: str | None = None
        self.notes: list[dict[str, Any]] = []
        self.checked = 0

    async def _frame(self) -> dict[str, Any]:
        frame = orjson.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
        if "action" in frame:
            assert self.v.errors("callStateNotification", frame) == [], frame
            self.notes.append(frame)
        self.checked += 1
        return frame

    async def request(self, service: str, method: str, params: dict[str, Any], *, expect: str = "response",
                      **extra: Any) -> dict[str, Any]:
        self.cseq += 1
        msg = {"cseq": self.cseq, "service": service, "method": method, "params": params, **extra}
        if self.sid is not None:
            msg["auth_info"] = {"session_id": self.sid}
        op = "".join(p if i == 0 else p.title() for i, p in enumerate(method.split("_")))
        assert self.v.errors(f"{op}Request", msg) == [], msg  # what we send is what the document says, too
        await self.ws.send(orjson.dumps(msg).decode())
        while True:
            frame = await self._frame()
            if frame.get("cseq") == self.cseq:
                break
        name = {"response": f"{op}Response", "error": "errorResponse", "dry_run": "dryRunResponse"}[expect]
        assert self.v.errors(name, frame) == [], frame
        assert self.v.reply_errors(op, frame) == []
        return frame

    async def until(self, tag_states: set[tuple[str, str]]) -> None:
        """Read notifications until every (party id, state) has been seen (bounded)."""
        async with asyncio.timeout(TIMEOUT):
            while not tag_states <= self.seen():
                await self._frame()

    def seen(self) -> set[tuple[str, str]]:
        out = set()
        for n in self.notes:
            info = n["result"]["call_info"]
            phone = info["caller"] if info["type"] == "outgoing" else info["callee"]
            out.add((phone["id"], info["state"]))
        return out

    def leg(self, phone_id: str) -> dict[str, Any]:
        for n in reversed(self.notes):
            info = n["result"]["call_info"]
            phone = info["caller"] if info["type"] == "outgoing" else info["callee"]
            if phone["id"] == phone_id:
                return info
        raise AssertionError(f"no leg of {phone_id}")


async def test_every_frame_of_a_sipp_call_matches_the_served_schemas(rig: ConsoleRig) -> None:
    doc = orjson.loads(http_get(f"{rig.http_url}/api/asyncapi.json"))
    async with connect(rig.ws_url, open_timeout=TIMEOUT) as ws:
        wire = Wire(ws, MessageValidator(doc))
        login = await wire.request("Session", "login", {"login": "demo-corp", "password": "demo-corp-pass"})
        wire.sid = login["result"]["session_id"]
        await wire.request("CallControl", "enable_api_notifications",
                           {"event": "sip.call_control_notifications", "i_customer": 1})
        await wire.request("CallControl", "hold_call", {"call": {"id": "nope", "tag": "x"}}, expect="error")
        await wire.request("CallControl", "transfer_call", {"call": {"id": "x"}, "cld": "1003"},
                           aux_info={"dry_run": 1}, expect="dry_run")
        await wire.request("CallControl", "get_sip_calls_list", {"i_customer": 1})
        caller = rig.call("1002")
        await wire.until({("1002", "ringing"), ("1002", "connected"), ("sipp", "connected")})
        listed = await wire.request("CallControl", "get_sip_calls_list", {"i_customer": 1})
        assert len(listed["result"]["calls_list"]) == 2
        leg = wire.leg("1002")
        await wire.request("CallControl", "hold_call", {"call": leg["call"], "transport_id": leg["transport_id"]})
        await wire.until({("1002", "holding"), ("sipp", "held")})
        await wire.request("CallControl", "unhold_call", {"call": leg["call"]})
        await wire.until({("1002", "connected"), ("sipp", "connected")})
        await wire.request("CallControl", "terminate_call", {"call": leg["call"]})
        await wire.until({("1002", "terminated"), ("sipp", "terminated")})
        await wire.request("Session", "logout", {})
        assert rig.caller_done(caller) == 0, caller.stderr.read() if caller.stderr else ""
        states = [n["result"]["call_info"]["state"] for n in wire.notes]
        assert {"trying", "ringing", "connected", "holding", "held", "terminated"} <= set(states)
        assert wire.checked >= 20


async def test_a_foreign_origin_is_refused_the_consoles_own_is_not(rig: ConsoleRig) -> None:
    for origin in ("http://evil.example", f"http://127.0.0.1:{rig.http_port + 1}", "null"):
        with pytest.raises(InvalidStatus) as info:
            async with connect(rig.ws_url, origin=origin, open_timeout=TIMEOUT):  # type: ignore[arg-type]
                pass
        assert info.value.response.status_code == 403, origin
    for origin in (rig.http_url, f"http://localhost:{rig.http_port}"):
        async with connect(rig.ws_url, origin=origin, open_timeout=TIMEOUT) as ws:  # type: ignore[arg-type]
            await ws.send(orjson.dumps({"cseq": 1, "service": "Session", "method": "login",
                                        "params": {"login": "demo-corp", "password": "demo-corp-pass"}}).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["success"] == 1


def test_console_files_are_served_on_loopback(rig: ConsoleRig, tmp_path: Path) -> None:
    assert b"<html" in http_get(f"{rig.http_url}/console/").lower()
    assert b"export class CallControlClient" in http_get(f"{rig.http_url}/console/callcontrol.js")
