"""Issue 12, points 1-6: what a console written from the seed's chapter 3 alone expects of
``callcontrol serve`` in the README's default setup (127.0.0.1 trusted: phones register and call
without digest).

One server for the module; three pjsua2 phones 1001, 1002, 1003 registered from their own ports
(tests/integration/pjsua_phone.py, auto-answering). The console is a plain ``websockets``
connection speaking the seed's JSON (no client library in between): every request and its
response, every notification in arrival order. Each test makes fresh calls and leaves none
behind (the phones reset, the server's active-call gauge back at 0).
"""
from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect

from callcontrol.api.models import SipCallInfo
from tests.integration import harness
from tests.integration.harness import SoftPhone, start_softphone

pytest.importorskip("pjsua2")

pytestmark = pytest.mark.integration

TIMEOUT = 15.0
PHONES = ("1001", "1002", "1003")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Server]:
    srv = harness.start_server(tmp_path_factory.mktemp("fidelity"), media="rtp_timeout = 30")  # 127.0.0.1 trusted
    try:
        yield srv
    finally:
        srv.proc.stop()


@pytest.fixture(scope="module")
def phone_pool(server: harness.Server) -> Iterator[dict[str, SoftPhone]]:
    pool: dict[str, SoftPhone] = {}
    try:
        for user in PHONES:
            pool[user] = start_softphone(user, f"secret{user}", server.sip_port, no_vad=True)
        yield pool
    finally:
        for phone in pool.values():
            phone.quit()


@pytest.fixture
def phones(server: harness.Server, phone_pool: dict[str, SoftPhone]) -> Iterator[dict[str, SoftPhone]]:
    for user, phone in phone_pool.items():
        if phone.proc.popen.poll() is not None:
            phone_pool[user] = start_softphone(user, f"secret{user}", server.sip_port, no_vad=True)
        phone_pool[user].clear()
    yield phone_pool
    for phone in phone_pool.values():
        if phone.proc.popen.poll() is None:
            phone.send(cmd="reset")
    for phone in phone_pool.values():
        if phone.proc.popen.poll() is None:
            phone.event("idle", timeout=15)
            phone.clear()
    deadline = time.monotonic() + 15
    while server.metric("callcontrol_calls_active") > 0:
        assert time.monotonic() < deadline, "the test left calls on the server"
        time.sleep(0.05)  # polling a counter under a deadline


# --------------------------------------------------------------------------- a console from the seed


@dataclass
class Console:
    """A WebSocket JSON-RPC console: requests by cseq, notifications kept in arrival order."""

    ws: ClientConnection
    session_id: str = ""
    infos: list[dict] = field(default_factory=list)
    taken: set[int] = field(default_factory=set)
    responses: dict[int, dict] = field(default_factory=dict)
    cseqs: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def _read(self, timeout: float) -> None:
        frame = orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if frame.get("action") == "update":
            info = frame["result"]["call_info"]
            SipCallInfo.model_validate(info)  # the shape the seed's SIPCallInfo describes
            self.infos.append(info)
        elif "cseq" in frame:
            self.responses[frame["cseq"]] = frame

    async def request(self, method: str, params: dict[str, Any], *, service: str = "CallControl",
                      aux: dict[str, Any] | None = None) -> dict:
        cseq = next(self.cseqs)
        envelope: dict[str, Any] = {"cseq": cseq, "service": service, "method": method, "params": params}
        if self.session_id:
            envelope["auth_info"] = {"session_id": self.session_id}
        if aux is not None:
            envelope["aux_info"] = aux
        await self.ws.send(orjson.dumps(envelope).decode())
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while cseq not in self.responses:
            await self._read(max(0.01, deadline - asyncio.get_running_loop().time()))
        return self.responses.pop(cseq)

    async def ok(self, method: str, params: dict[str, Any], **kw: Any) -> dict:
        resp = await self.request(method, params, **kw)
        assert resp["success"] == 1, resp
        return resp["result"]

    async def wait(self, pred: Callable[[dict], bool], what: str, timeout: float = TIMEOUT) -> dict:
        """The first notification not yet taken that satisfies ``pred`` (bounded wait)."""
        deadline = asyncio.get_running_loop().time() + timeout
        i = 0
        while True:
            while i < len(self.infos):
                if i not in self.taken and pred(self.infos[i]):
                    self.taken.add(i)
                    return self.infos[i]
                i += 1
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no notification {what} within {timeout}s; got "
                                     f"{[(n['call'], n['state']) for n in self.infos]}")
            try:
                await self._read(left)
            except TimeoutError:
                continue

    async def leg(self, state: str, **match: Any) -> dict:
        def pred(info: dict) -> bool:
            if info["state"] != state or info.get("event"):
                return False
            for key, value in match.items():
                actual = info["call"].get(key) if key in ("id", "tag") else (
                    info[key]["id"] if key in ("caller", "callee") else info.get(key))
                if actual != value:
                    return False
            return True
        return await self.wait(pred, f"{state} {match}")

    def index(self, info: dict) -> int:
        return next(i for i, x in enumerate(self.infos) if x is info)


@pytest_asyncio.fixture
async def console_factory(server: harness.Server) -> AsyncIterator[Callable[..., Any]]:
    opened: list[ClientConnection] = []

    async def open_console(login: str, password: str, **subscribe: int) -> Console:
        ws = await connect(f"ws://127.0.0.1:{server.ws_port}/ws", open_timeout=TIMEOUT)
        opened.append(ws)
        console = Console(ws)
        result = await console.ok("login", {"login": login, "password": password}, service="Session")
        console.session_id = result["session_id"]
        if subscribe:
            await console.ok("enable_api_notifications", {"event": "sip.call_control_notifications", **subscribe})
        return console

    yield open_console
    for ws in opened:
        await ws.close()


def ref(info: dict) -> dict:
    return {"call": dict(info["call"]), "transport_id": info["transport_id"]}


def peer(info: dict) -> dict:
    """The other end of a leg as its phone sees it: the caller of an incoming leg, the callee of an outgoing one."""
    return info["caller"] if info["type"] == "incoming" else info["callee"]


async def ev(phone: SoftPhone, name: str, timeout: float = 10.0, **match: object) -> dict:
    return await asyncio.to_thread(phone.event, name, timeout, **match)


async def req(phone: SoftPhone, reply: str, **cmd: object) -> dict:
    return await asyncio.to_thread(phone.request, reply, 10.0, **cmd)


def uri(server: harness.Server, number: str) -> str:
    return f"sip:{number}@127.0.0.1:{server.sip_port}"


@dataclass
class PhoneCall:
    calling: dict  # the caller phone's "calling" event
    confirmed: dict  # its CONFIRMED state event (carries the phone's own tag)
    answered: dict  # the callee phone's CONFIRMED state event
    a: dict  # leg A (the caller phone's dialog), connected
    b: dict  # leg B (the callee phone's dialog), connected


async def phone_call(server: harness.Server, console: Console, caller: SoftPhone, callee: SoftPhone) -> PhoneCall:
    calling = await req(caller, "calling", cmd="call", uri=uri(server, callee.user))
    call_id = calling["sip_call_id"]
    a = await console.leg("connected", id=call_id, type="outgoing")
    b = await console.leg("connected", id=call_id, type="incoming")
    confirmed = await ev(caller, "state", call=calling["call"], state="CONFIRMED")
    answered = await ev(callee, "state", state="CONFIRMED")
    return PhoneCall(calling, confirmed, answered, a, b)


# --------------------------------------------------------------------------- 1, 2: whose call, who is who


async def test_a_registered_phones_own_call_belongs_to_its_account(server: harness.Server, console_factory,
                                                                  phones: dict[str, SoftPhone]) -> None:
    """Point 1 (and 2): 1002, registered from a trusted address, dials 1001. Its extension's console
    (logged in as 1002, subscribed to i_account 2) sees the call with 1002 as the account caller;
    get_sip_calls_list {"i_account": 2} returns both legs; every party carries display_id and
    centrex_id, in notifications and in the list."""
    extension = await console_factory("1002", "secret1002", i_account=2)
    office = await console_factory("demo-corp", "demo-corp-pass", i_customer=1)
    call = await phone_call(server, extension, phones["1002"], phones["1001"])
    me = {"account_id": "1002", "centrex_id": "1", "display_id": "1002", "extension_id": "1002",
          "forwarder_list": [], "id": "1002"}
    other = {"account_id": "1001", "centrex_id": "1", "display_id": "1001", "extension_id": "1001",
             "forwarder_list": [], "id": "1001"}
    for leg in (call.a, call.b):
        assert {k: leg["caller"].get(k) for k in me} == me, leg
        assert {k: leg["callee"].get(k) for k in other} == other, leg
    first = next(i for i in extension.infos if i["call"] == call.a["call"])
    assert (first["state"], first["caller"]["account_id"]) == ("trying", "1002")  # from the first one on
    listed = (await extension.ok("get_sip_calls_list", {"i_account": 2}))["calls_list"]
    assert sorted(x["type"] for x in listed) == ["incoming", "outgoing"]
    for x in listed:
        SipCallInfo.model_validate(x)
        assert x["caller"]["centrex_id"] == x["callee"]["centrex_id"] == "1"
        assert x["caller"]["display_id"] == "1002" and x["callee"]["display_id"] == "1001"
    await office.leg("connected", id=call.a["call"]["id"], type="outgoing", caller="1002")
    phones["1002"].send(cmd="hangup", call=call.calling["call"])
    await extension.leg("terminated", tag=call.a["call"]["tag"])
    await extension.leg("terminated", tag=call.b["call"]["tag"])
    assert (await extension.ok("get_sip_calls_list", {"i_account": 2}))["calls_list"] == []


# --------------------------------------------------------------------------- 3: the call remote tag


async def test_every_command_addresses_a_leg_by_the_phones_own_dialog(server: harness.Server, console_factory,
                                                                      phones: dict[str, SoftPhone]) -> None:
    """Point 3: the console knows the legs from the phones (pjsua's own Call-ID and tag): leg A by
    the call's Call-ID and 1002's From tag, leg B by 1001's Call-ID and its To tag. Hold, unhold
    and terminate reach the legs; notifications keep naming each leg as at its first one."""
    console = await console_factory("demo-corp", "demo-corp-pass", i_customer=1)
    call = await phone_call(server, console, phones["1002"], phones["1001"])
    tag_a, tag_b = call.confirmed.get("tag"), call.answered.get("tag")
    assert tag_a and tag_b and {tag_a, tag_b}.isdisjoint({call.a["call"]["tag"], call.b["call"]["tag"]})
    by_phone_a = {"id": call.calling["sip_call_id"], "tag": tag_a}
    by_phone_b = {"id": call.answered["sip_call_id"], "tag": tag_b}
    assert by_phone_b["id"] != call.a["call"]["id"]  # leg B's dialog has its own Call-ID
    await console.ok("hold_call", {"call": by_phone_a, "transport_id": call.a["transport_id"]})
    await console.leg("holding", tag=call.a["call"]["tag"], id=call.a["call"]["id"])
    await console.leg("held", tag=call.b["call"]["tag"], id=call.b["call"]["id"])
    await console.ok("unhold_call", {"call": by_phone_b})
    await console.leg("connected", tag=call.a["call"]["tag"])
    await console.leg("connected", tag=call.b["call"]["tag"])
    await console.ok("terminate_call", {"call": {"id": call.b["call"]["id"], "tag": tag_b}})
    await ev(phones["1001"], "state", state="DISCONNECTED")
    for leg in (call.a, call.b):
        await console.leg("terminated", tag=leg["call"]["tag"], id=leg["call"]["id"])
    assert {(i["call"]["id"], i["call"]["tag"]) for i in console.infos} == {
        (call.a["call"]["id"], call.a["call"]["tag"]), (call.b["call"]["id"], call.b["call"]["tag"])}
    resp = await console.request("hold_call", {"call": by_phone_a})
    assert resp["error"]["code"] == "sip.call_not_found"  # ended: gone by every name


# --------------------------------------------------------------------------- 4: parties left behind


async def test_the_transferee_is_told_its_new_party(server: harness.Server, console_factory,
                                                    phones: dict[str, SoftPhone]) -> None:
    """Point 4: 1002 calls 1001; the console transfers 1002 (the transferor) to 1003: 1001's leg
    gets a notification naming 1003, and get_sip_calls_list shows it."""
    console = await console_factory("demo-corp", "demo-corp-pass", i_customer=1)
    transferee = await console_factory("1001", "secret1001", i_account=1)
    call = await phone_call(server, console, phones["1002"], phones["1001"])
    assert peer(call.b)["id"] == "1002"
    await console.ok("transfer_call", {**ref(call.a), "cld": "1003"})
    await console.leg("terminated", tag=call.a["call"]["tag"], reason="blind transfer")
    told = await console.wait(lambda i: i["call"] == call.b["call"] and peer(i)["id"] == "1003",
                              "1001's leg naming 1003")
    assert told["state"] == "connected" and told["callee"]["id"] == "1001"
    assert peer(told)["account_id"] == "1003" and peer(told)["centrex_id"] == "1"
    await transferee.wait(lambda i: i["call"] == call.b["call"] and peer(i)["id"] == "1003", "the same, for 1001")
    listed = (await console.ok("get_sip_calls_list", {"i_customer": 1}))["calls_list"]
    mine = [x for x in listed if x["call"] == call.b["call"]]
    assert len(mine) == 1 and peer(mine[0])["id"] == "1003"


async def test_after_join_calls_both_remaining_parties_name_each_other(server: harness.Server, console_factory,
                                                                       phones: dict[str, SoftPhone]) -> None:
    """Point 4: 1001 calls 1002, holds it, calls 1003; join_calls: 1002's and 1003's legs name
    each other."""
    console = await console_factory("demo-corp", "demo-corp-pass", i_customer=1)
    p1001 = phones["1001"]
    first = await phone_call(server, console, p1001, phones["1002"])
    p1001.send(cmd="hold", call=first.calling["call"])
    await console.leg("holding", tag=first.a["call"]["tag"])
    await console.leg("held", tag=first.b["call"]["tag"])
    await ev(p1001, "media", call=first.calling["call"], status="local_hold")
    second = await phone_call(server, console, p1001, phones["1003"])
    await console.ok("join_calls", {"call": first.a["call"], "to_call": second.a["call"]})
    for x in (first.a, second.a):
        await console.leg("terminated", tag=x["call"]["tag"], reason="attended transfer")
    one = await console.wait(lambda i: i["call"] == first.b["call"] and peer(i)["id"] == "1003", "1002 names 1003")
    two = await console.wait(lambda i: i["call"] == second.b["call"] and peer(i)["id"] == "1002", "1003 names 1002")
    assert one["state"] == two["state"] == "connected"  # 1002's hold ended with the join
    listed = {(x["call"]["tag"], peer(x)["id"]) for x in
              (await console.ok("get_sip_calls_list", {"i_customer": 1}))["calls_list"]}
    assert listed == {(first.b["call"]["tag"], "1003"), (second.b["call"]["tag"], "1002")}


async def test_the_ivr_subscribers_see_the_caller_move_on(server: harness.Server, console_factory,
                                                         phones: dict[str, SoftPhone]) -> None:
    """Point 4: 1003 calls the IVR (7000); the IVR application (subscribed to i_ivr_an 1) transfers
    the caller to 1002 and gets a notification of the caller's leg with 1002 as its callee; its
    list no longer shows the leg."""
    app = await console_factory("demo-corp", "demo-corp-pass", i_ivr_an=1)
    calling = await req(phones["1003"], "calling", cmd="call", uri=uri(server, "7000"))
    caller = await app.leg("connected", id=calling["sip_call_id"])
    assert caller["callee"]["access_number"] == "7000" and caller["callee"]["centrex_id"] == "1"
    await ev(phones["1003"], "state", call=calling["call"], state="CONFIRMED")
    await app.ok("transfer_call", {**ref(caller), "cld": "1002"})
    moved = await app.wait(lambda i: i["call"] == caller["call"] and i["callee"]["id"] == "1002",
                           "the caller's leg moving on to 1002")
    assert moved["state"] == "connected" and moved["caller"]["id"] == "1003"
    assert "access_number" not in moved["callee"]
    assert (await app.ok("get_sip_calls_list", {"i_ivr_an": 1}))["calls_list"] == []


# --------------------------------------------------------------------------- 5: unknown params


async def test_unknown_params_are_served_and_listed_by_dry_run(server: harness.Server, console_factory,
                                                               phones: dict[str, SoftPhone]) -> None:
    """Point 5: a console that copies params between calls (``event`` into get_sip_calls_list, a
    whole notification's ``call`` object) is served; dry_run lists what was ignored; missing or
    wrongly typed known params still get sip.wrong_parameters with details."""
    console = await console_factory("demo-corp", "demo-corp-pass")
    subscription = {"event": "sip.call_control_notifications", "i_customer": 1}
    await console.ok("enable_api_notifications", subscription)
    assert (await console.ok("get_sip_calls_list", subscription))["calls_list"] == []
    call = await phone_call(server, console, phones["1002"], phones["1001"])
    copied = {"call": {**call.a["call"], "state": "connected"}, "transport_id": call.a["transport_id"],
              "type": call.a["type"], **subscription}
    dry = await console.ok("hold_call", copied, aux={"dry_run": 1})
    assert dry["ignored"] == ["params.call.state", "params.type", "params.event", "params.i_customer"]
    assert dry["params"] == ref(call.a)
    await console.ok("hold_call", copied)
    await console.leg("holding", tag=call.a["call"]["tag"])
    bad = await console.request("unhold_call", {"call": {"tag": call.a["call"]["tag"]}, "transport_id": 5,
                                                **subscription})
    assert bad["error"]["code"] == "sip.wrong_parameters"
    assert {d["field"] for d in bad["error"]["details"]} == {"params.call.id", "params.transport_id"}
    await console.ok("unhold_call", copied)
    await console.leg("connected", tag=call.a["call"]["tag"])


# --------------------------------------------------------------------------- 6: hold order and times


async def _second_after(stamp: str) -> None:
    """Until the wall clock shows a later second than ``stamp`` (YYYY-MM-DD HH:MM:SS, UTC): so that a
    hold's start and the answer differ in the seconds notifications carry (at most 1 s)."""
    deadline = time.monotonic() + 3
    while time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()) <= stamp:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)  # polling the clock under a deadline


async def test_holding_comes_before_held_and_connect_time_is_the_hold_start(
        server: harness.Server, console_factory, phones: dict[str, SoftPhone]) -> None:
    """Point 6: the server's hold (hold_call on a phone without Allow-Events: hold) and a phone's
    own hold: ``holding`` (who holds) is notified before ``held``; their connect_time is when the
    hold began, and ``connected`` after the unhold carries the answer time again."""
    console = await console_factory("demo-corp", "demo-corp-pass", i_customer=1)
    call = await phone_call(server, console, phones["1002"], phones["1001"])
    answered = call.a["connect_time"]
    await _second_after(answered)
    await console.ok("hold_call", ref(call.b))  # 1001 holds
    holding = await console.leg("holding", tag=call.b["call"]["tag"])
    held = await console.leg("held", tag=call.a["call"]["tag"])
    assert console.index(holding) < console.index(held)
    assert holding["connect_time"] > answered and held["connect_time"] > answered
    await console.ok("unhold_call", ref(call.b))
    for leg in (call.a, call.b):
        back = await console.leg("connected", tag=leg["call"]["tag"])
        assert back["connect_time"] == answered
    # 1002's phone holds by itself (its sendonly re-INVITE, relayed)
    await _second_after(holding["connect_time"])
    phones["1002"].send(cmd="hold", call=call.calling["call"])
    holding2 = await console.leg("holding", tag=call.a["call"]["tag"])
    held2 = await console.leg("held", tag=call.b["call"]["tag"])
    assert console.index(holding2) < console.index(held2)
    assert holding2["connect_time"] > holding["connect_time"] and held2["connect_time"] >= holding2["connect_time"]
    listed = {x["call"]["tag"]: x for x in (await console.ok("get_sip_calls_list", {"i_customer": 1}))["calls_list"]}
    assert listed[call.b["call"]["tag"]]["connect_time"] == held2["connect_time"]
