"""Issue 13 end to end: ring groups, hunt lists and forwarding through ``callcontrol serve``.

One server for the module. Loopback is untrusted: three pjsua2 phones register 1001/1002/1003
with digest. The PBX is provisioned with ``callcontrol directory add ...`` against the server's
data dir, before it starts (and one forwarding while it runs: the server's directory watch
picks it up). A console (``demo-corp``, subscribed to customer 1) sees every notification;
each test checks what the phones saw (INVITEs, CANCEL as pjsua's 487 disconnect) and the
notifications' ``huntgroup_id`` / ``forwarder_list``, and the CDRs at the end. The IVR menu
660 is called by SIPp (``menu_caller_info.xml``: a DTMF digit as SIP INFO), its prompt served by
an HTTP server of this module.
"""
from __future__ import annotations

import asyncio
import functools
import http.server
import sqlite3
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from callcontrol.client import CallControlClient
from tests.integration import harness
from ivr.au import write_au
from tests.integration.harness import SCENARIOS, SoftPhone, free_port, start_softphone

pytest.importorskip("pjsua2")

pytestmark = pytest.mark.integration

PHONES = ("1001", "1002", "1003")

# What the module provisions before the server starts (the CLI forms).
PROVISION = (
    ["add", "ringgroup", "--customer", "1", "--number", "600", "--name", "Sales", "--members", "1001,1002",
     "--ring-time", "20"],
    ["add", "hunt", "--customer", "1", "--number", "610", "--name", "Night", "--members", "1001,1002",
     "--order", "follow", "--ring-time", "1"],
    ["add", "forwarding", "--account", "1002", "--when", "busy", "--to", "1001"],
    ["add", "forwarding", "--account", "1002", "--when", "noanswer", "--to", "1001", "--after", "1"],
)


def directory_cli(data_dir: Path, *argv: str) -> str:
    done = subprocess.run(["callcontrol", "directory", "--data-dir", str(data_dir), *argv], text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Rig:
    srv: harness.Server

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.srv.ws_port}/ws"

    def uri(self, number: str) -> str:
        return f"sip:{number}@127.0.0.1:{self.srv.sip_port}"


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTP server of prompt files (menu.au: 0.5 s of u-law); its base URL."""
    root = tmp_path_factory.mktemp("prompts")
    (root / "menu.au").write_bytes(write_au(b"\x7f" * 4000))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, prompts: str) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("pbx")
    for argv in PROVISION:
        directory_cli(tmp / "data", *argv)
    directory_cli(tmp / "data", "add", "menu", "--customer", "1", "--number", "660", "--prompt", f"{prompts}/menu",
                  "--choices", "1=1001;2=600", "--timeout", "5")
    srv = harness.start_server(tmp, trusted=(), media="rtp_timeout = 30")
    try:
        yield Rig(srv)
    finally:
        srv.proc.stop()


@pytest.fixture(scope="module")
def phone_pool(server: Rig) -> Iterator[dict[str, SoftPhone]]:
    pool: dict[str, SoftPhone] = {}
    try:
        for user in PHONES:
            pool[user] = start_softphone(user, f"secret{user}", server.srv.sip_port, no_vad=True)
        yield pool
    finally:
        for phone in pool.values():
            phone.quit()


@pytest.fixture
def phones(server: Rig, phone_pool: dict[str, SoftPhone]) -> Iterator[dict[str, SoftPhone]]:
    """The module's phones, reset after each test (calls hung up, options restored); then no
    call may be left on the server."""
    for phone in phone_pool.values():
        phone.clear()
    yield phone_pool
    for phone in phone_pool.values():
        phone.send(cmd="reset")
    for phone in phone_pool.values():
        phone.event("idle", timeout=15)
        phone.clear()
    deadline = time.monotonic() + 15
    while server.srv.metric("callcontrol_calls_active") > 0:
        assert time.monotonic() < deadline, "the test left calls on the server"
        time.sleep(0.05)  # polling a counter under a deadline


@dataclass
class Console:
    """A logged-in client subscribed to customer 1; every notification kept in arrival order."""

    client: CallControlClient
    infos: list[dict] = field(default_factory=list)

    async def until(self, done: Callable[[list[dict]], bool], what: str, timeout: float = 15.0) -> list[dict]:
        deadline = asyncio.get_running_loop().time() + timeout
        while not done(self.infos):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout}s; got {self.summary()}")
            try:
                n = await self.client.next_notification(timeout=left)
            except TimeoutError:
                continue
            if n.call_info is not None:
                self.infos.append(n.call_info)
        return self.infos

    def of_call(self, call_id: str) -> list[dict]:
        return [ci for ci in self.infos if ci["call"]["id"] == call_id]

    def summary(self) -> list[tuple[Any, ...]]:
        return [(ci["call"]["id"][-10:], ci["type"], ci["callee"]["id"], ci["state"], ci.get("reason"))
                for ci in self.infos]


@pytest_asyncio.fixture
async def console(server: Rig) -> AsyncIterator[Console]:
    async with CallControlClient.connect(server.url) as client:
        await client.login("demo-corp", "demo-corp-pass")
        await client.enable_api_notifications(i_customer=1)
        yield Console(client)


async def ev(phone: SoftPhone, name: str, timeout: float = 10.0, **match: object) -> dict:
    return await asyncio.to_thread(phone.event, name, timeout, **match)


async def req(phone: SoftPhone, reply: str, **cmd: object) -> dict:
    return await asyncio.to_thread(phone.request, reply, 10.0, **cmd)


def state_of(infos: list[dict], call_id: str, leg_type: str, callee: str) -> list[str]:
    return [ci["state"] for ci in infos if ci["call"]["id"] == call_id and ci["type"] == leg_type
            and ci["callee"]["id"] == callee]


async def hang_up(caller: SoftPhone, console: Console, call_id: str) -> None:
    caller.send(cmd="hangup")
    await ev(caller, "state", state="DISCONNECTED")
    await console.until(lambda infos: all(
        any(ci["state"] == "terminated" and ci["call"]["tag"] == tag for ci in infos)
        for tag in {ci["call"]["tag"] for ci in infos if ci["call"]["id"] == call_id}), "every leg terminated")


def cdrs_of(server: Rig, call_id: str, legs: int, timeout: float = 10.0) -> list[sqlite3.Row]:
    """The call's CDR rows (the call's own first) once all ``legs`` + 1 are written: the store
    writes them in batches, so poll under a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        db = sqlite3.connect(server.srv.data_dir / "callcontrol.sqlite3")
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute("SELECT * FROM cdrs WHERE call_id = ? ORDER BY id", (call_id,)).fetchall()
        finally:
            db.close()
        if len(rows) >= legs + 1:
            return rows
        assert time.monotonic() < deadline, f"{len(rows)} CDRs of {call_id} after {timeout}s"
        time.sleep(0.1)  # polling the store under a deadline


def leg_cdrs(rows: list[sqlite3.Row]) -> dict[str, sqlite3.Row]:
    """The legs' rows by callee (leg A's by "A")."""
    return {("A" if r["leg_type"] == "outgoing" else r["callee"]): r for r in rows if r["leg_tag"] is not None}


# --------------------------------------------------------------------------- ring group 600


async def test_ring_group_rings_both_first_answer_wins_other_gets_cancel(server: Rig, console: Console,
                                                                         phones: dict[str, SoftPhone]) -> None:
    p1, p2, p3 = (phones[n] for n in PHONES)
    for p in (p1, p2):
        await req(p, "set", cmd="set", auto_answer=False)
    calling = await req(p3, "calling", cmd="call", uri=server.uri("600"))
    call_id = calling["sip_call_id"]
    in1 = await ev(p1, "incoming")
    in2 = await ev(p2, "incoming")
    assert "sip:1003@" in in1["from"] and "sip:1003@" in in2["from"]
    p2.send(cmd="answer", call=in2["call"])
    await ev(p3, "state", call=calling["call"], state="CONFIRMED")
    gone = await ev(p1, "state", call=in1["call"], state="DISCONNECTED")
    assert gone["code"] == 487  # the server's CANCEL: Request Terminated
    infos = await console.until(lambda infos: state_of(infos, call_id, "incoming", "1001")[-1:] == ["terminated"]
                                and state_of(infos, call_id, "incoming", "1002")[-1:] == ["connected"]
                                and state_of(infos, call_id, "outgoing", "600")[-1:] == ["connected"],
                                "ring group legs")
    legs = [ci for ci in infos if ci["call"]["id"] == call_id]
    assert {ci["callee"]["huntgroup_id"] for ci in legs} == {"600"}  # every leg, every notification
    assert {ci["callee"]["id"] for ci in legs} == {"600", "1001", "1002"}
    assert [ci["reason"] for ci in legs if ci["callee"]["id"] == "1001" and ci["state"] == "terminated"] == [
        "answered elsewhere"]
    # get_sip_calls_list shows the same.
    listed = await console.client.get_sip_calls_list(i_customer=1)
    mine = [ci for ci in listed if ci["call"]["id"] == call_id]
    assert {ci["callee"]["huntgroup_id"] for ci in mine} == {"600"} and len(mine) == 2
    await hang_up(p3, console, call_id)
    rows = leg_cdrs(await asyncio.to_thread(cdrs_of, server, call_id, 3))
    assert {name: r["huntgroup_id"] for name, r in rows.items()} == {"A": "600", "1001": "600", "1002": "600"}
    assert (rows["1001"]["sip_code"], rows["1002"]["sip_code"]) == (487, 200)


# --------------------------------------------------------------------------- hunt list 610


async def test_hunt_rings_1001_then_1002_after_the_ring_time(server: Rig, console: Console,
                                                            phones: dict[str, SoftPhone]) -> None:
    p1, p2, p3 = (phones[n] for n in PHONES)
    await req(p1, "set", cmd="set", auto_answer=False)
    calling = await req(p3, "calling", cmd="call", uri=server.uri("610"))
    call_id = calling["sip_call_id"]
    in1 = await ev(p1, "incoming")
    assert p2.seen("incoming") == []  # 1002 waits for its turn
    gone = await ev(p1, "state", call=in1["call"], state="DISCONNECTED")  # 1 s ring time, then CANCEL
    assert gone["code"] == 487
    await ev(p2, "incoming")  # auto-answers
    await ev(p3, "state", call=calling["call"], state="CONFIRMED")
    infos = await console.until(lambda infos: state_of(infos, call_id, "incoming", "1002")[-1:] == ["connected"],
                                "1002 connected")
    legs = [ci for ci in infos if ci["call"]["id"] == call_id]
    assert {ci["callee"]["huntgroup_id"] for ci in legs} == {"610"}
    assert [ci["reason"] for ci in legs if ci["callee"]["id"] == "1001" and ci["state"] == "terminated"] == [
        "no answer"]
    await hang_up(p3, console, call_id)


# --------------------------------------------------------------------------- forwarding


async def test_forwarding_always_added_while_running_carries_the_forwarder(
        server: Rig, console: Console, phones: dict[str, SoftPhone]) -> None:
    p1, p2, p3 = (phones[n] for n in PHONES)
    directory_cli(server.srv.data_dir, "add", "forwarding", "--account", "1003", "--when", "always", "--to", "1001")
    server.srv.proc.wait_for_log("PBX numbers, 3 forwardings")  # the directory watch reloaded it
    try:
        calling = await req(p2, "calling", cmd="call", uri=server.uri("1003"))
        call_id = calling["sip_call_id"]
        await ev(p1, "incoming")
        await ev(p2, "state", call=calling["call"], state="CONFIRMED")
        infos = await console.until(lambda infos: state_of(infos, call_id, "incoming", "1001")[-1:] == ["connected"]
                                    and state_of(infos, call_id, "outgoing", "1001")[-1:] == ["connected"],
                                    "the forwarded call connected")
        legs = [ci for ci in infos if ci["call"]["id"] == call_id]
        assert {str(ci["callee"]["forwarder_list"]) for ci in legs} == {"[{'id': '1003'}]"}
        assert p3.seen("incoming") == []  # 1003 itself never rang
        await hang_up(p2, console, call_id)
        rows = leg_cdrs(await asyncio.to_thread(cdrs_of, server, call_id, 2))
        assert {name: r["forwarders"] for name, r in rows.items()} == {"A": "1003", "1001": "1003"}
    finally:
        directory_cli(server.srv.data_dir, "remove", "forwarding", "--account", "1003")
        server.srv.proc.wait_for_log("PBX numbers, 2 forwardings")


async def test_busy_forwarding(server: Rig, console: Console, phones: dict[str, SoftPhone]) -> None:
    p1, p2, p3 = (phones[n] for n in PHONES)
    await req(p2, "set", cmd="set", incoming_code=486)
    calling = await req(p3, "calling", cmd="call", uri=server.uri("1002"))
    call_id = calling["sip_call_id"]
    await ev(p2, "incoming")
    await ev(p1, "incoming")  # 1002 was busy: forwarded to 1001, which answers
    await ev(p3, "state", call=calling["call"], state="CONFIRMED")
    infos = await console.until(lambda infos: state_of(infos, call_id, "incoming", "1001")[-1:] == ["connected"]
                                and state_of(infos, call_id, "outgoing", "1001")[-1:] == ["connected"],
                                "1001 connected")
    legs = [ci for ci in infos if ci["call"]["id"] == call_id]
    to_1001 = [ci for ci in legs if ci["type"] == "incoming" and ci["callee"]["id"] == "1001"]
    assert {str(ci["callee"]["forwarder_list"]) for ci in to_1001} == {"[{'id': '1002'}]"}
    to_1002 = [ci for ci in legs if ci["type"] == "incoming" and ci["callee"]["id"] == "1002"]
    assert to_1002[-1]["state"] == "terminated" and to_1002[-1]["reason"] == "Busy Here"
    a_connected = [ci for ci in legs if ci["type"] == "outgoing" and ci["state"] == "connected"]
    assert a_connected[0]["callee"]["id"] == "1001" and a_connected[0]["callee"]["forwarder_list"] == [{"id": "1002"}]
    await hang_up(p3, console, call_id)
    rows = leg_cdrs(await asyncio.to_thread(cdrs_of, server, call_id, 3))
    assert (rows["1002"]["forwarders"], rows["1002"]["sip_code"], rows["1002"]["hangup_side"]) == (None, 486, "callee")
    assert (rows["1001"]["forwarders"], rows["A"]["forwarders"]) == ("1002", "1002")


async def test_noanswer_forwarding(server: Rig, console: Console, phones: dict[str, SoftPhone]) -> None:
    p1, p2, p3 = (phones[n] for n in PHONES)
    await req(p2, "set", cmd="set", auto_answer=False)
    calling = await req(p3, "calling", cmd="call", uri=server.uri("1002"))
    call_id = calling["sip_call_id"]
    in2 = await ev(p2, "incoming")
    gone = await ev(p2, "state", call=in2["call"], state="DISCONNECTED")  # rang 1 s: CANCEL
    assert gone["code"] == 487
    await ev(p1, "incoming")
    await ev(p3, "state", call=calling["call"], state="CONFIRMED")
    infos = await console.until(lambda infos: state_of(infos, call_id, "incoming", "1001")[-1:] == ["connected"],
                                "1001 connected")
    to_1001 = [ci for ci in infos if ci["call"]["id"] == call_id and ci["callee"]["id"] == "1001"]
    assert {str(ci["callee"]["forwarder_list"]) for ci in to_1001} == {"[{'id': '1002'}]"}
    await hang_up(p3, console, call_id)


# --------------------------------------------------------------------------- IVR menu 660


async def test_menu_routes_on_a_dtmf_digit(server: Rig, console: Console, phones: dict[str, SoftPhone],
                                           tmp_path: Path) -> None:
    p1 = phones["1001"]
    port = server.srv.sip_port
    trace = tmp_path / "menu_messages.log"
    sipp = subprocess.Popen(
        ["sipp", f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "menu_caller_info.xml"), "-s", "660",
         "-key", "caller", "1003", "-key", "digit", "1", "-au", "1003", "-ap", "secret1003",
         "-auth_uri", f"660@127.0.0.1:{port}", "-m", "1", "-i", "127.0.0.1", "-p", str(free_port()),
         "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_msg", "-message_file", str(trace)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        incoming = await ev(p1, "incoming", timeout=15)  # digit 1: the menu places the call to 1001
        assert "sip:1003@" in incoming["from"]
        await ev(p1, "state", call=incoming["call"], state="CONFIRMED")
        infos = await console.until(lambda infos: any(
            ci["type"] == "incoming" and ci["callee"]["id"] == "1001" and ci["state"] == "connected" for ci in infos),
            "1001 connected")
        call_id = next(ci["call"]["id"] for ci in infos if ci["callee"]["id"] == "660")
        digits = [ci for ci in infos if ci.get("event") == "dtmf_digit_detected" and ci["call"]["id"] == call_id]
        assert [(ci["digit"], ci["dtmf_method"]) for ci in digits] == [("1", "info")]
        assert digits[0]["callee"]["id"] == "660"
        # The caller hangs up once bridged (after the server's re-INVITE): 1001 gets the BYE.
        await ev(p1, "state", call=incoming["call"], state="DISCONNECTED", timeout=15)
        code = await asyncio.to_thread(sipp.wait, 30)
        assert code == 0, sipp.stderr.read() if sipp.stderr else ""
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
    wire = trace.read_text()
    assert "Signal=1" in wire and "SIP/2.0 407 " in wire
