"""Issue 5 end to end: the call-control methods drive real SIP calls through ``callcontrol serve``.

One server for the module. Loopback is untrusted: the three pjsua2 phones 1001/1002/1003
(tests/integration/pjsua_phone.py) register with digest. Accounts 1004/1005/1006 are added with the
directory CLI with a static contact at a SIPp port: 1004 answers (``cc_uas_answer.xml``, or
``cc_uas_answer_on_notify.xml``, ``cc_uas_hold_489.xml``, ``cc_uas_hold_notify.xml`` as a test
needs), 1005 is busy (``cc_uas_busy.xml``), 1006 rings until cancelled (``cc_uas_noanswer.xml``).
Each test makes fresh calls and leaves none behind (phones reset and the server's active-call
gauge back at 0 after each test). The API client is ``demo-corp`` subscribed to customer 1; each
test asserts what the phones saw on the wire (pjsua events, SIPp ``-trace_msg`` traces, SIPp's own
regexp checks) and the notifications in order, per the issue 5 behaviour contract (docs/spec.md,
"CallControl methods"). The first three tests check the peers themselves, without issue 5.
"""
from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from callcontrol.client import CallControlClient, CallNotFoundError, WrongParametersError
from tests.integration import harness
from tests.integration.harness import (
    QUIET_PORTS,
    SCENARIOS,
    SoftPhone,
    free_port,
    sip_start_line,
    sipp_messages,
    start_sipp_scenario,
    start_softphone,
    write_tone,
)

pytest.importorskip("pjsua2")

pytestmark = pytest.mark.integration

PHONES = ("1001", "1002", "1003")
SIPP_ACCOUNTS = ("1004", "1005", "1006")  # static contacts at SIPp ports
API_TERMINATED = "terminated by API"
HEARD = 10  # pjsua level (0-255, 0 = digital silence) above which a phone hears sound: tone ~36, MOH ~26


@dataclass
class Rig:
    """The module's server and where its SIPp phones listen."""

    srv: harness.Server
    sipp_ports: dict[str, int]
    tmp: Path

    @property
    def sip_port(self) -> int:
        return self.srv.sip_port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.srv.ws_port}/ws"

    def uri(self, number: str) -> str:
        return f"sip:{number}@127.0.0.1:{self.srv.sip_port}"

    def metric(self, name: str) -> float:
        return self.srv.metric(name)


def _start_rig(tmp: Path) -> Rig:
    sipp_ports = {number: free_port(QUIET_PORTS) for number in SIPP_ACCOUNTS}
    for number, port in sipp_ports.items():
        subprocess.run(["callcontrol", "directory", "--data-dir", str(tmp / "data"), "add", "account",
                        "--customer", "1", "--id", number, "--static-contact", f"sip:{number}@127.0.0.1:{port}",
                        "--password-stdin"], input=f"secret{number}\n", text=True,
                       check=True, capture_output=True, timeout=60)
    # Nothing trusted: the phones register and call with digest.
    srv = harness.start_server(tmp, trusted=(), media="rtp_timeout = 30")
    return Rig(srv, sipp_ports, tmp)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    for attempt in range(3):
        try:
            rig = _start_rig(tmp_path_factory.mktemp("cc"))
            break
        except RuntimeError as exc:  # a free port taken by another process meanwhile: pick others
            if attempt == 2 or "address already in use" not in str(exc):
                raise
    try:
        yield rig
    finally:
        rig.srv.proc.stop()


@pytest.fixture(scope="module")
def phone_pool(server: Rig) -> Iterator[dict[str, SoftPhone]]:
    pool: dict[str, SoftPhone] = {}
    try:
        for user in PHONES:
            pool[user] = start_softphone(user, f"secret{user}", server.sip_port, no_vad=True)
        yield pool
    finally:
        for phone in pool.values():
            phone.quit()


@pytest.fixture
def phones(server: Rig, phone_pool: dict[str, SoftPhone]) -> Iterator[dict[str, SoftPhone]]:
    """The module's phones, each reset after the test (calls hung up, options restored); then no call
    may be left on the server. A phone that died is started again."""
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


# --------------------------------------------------------------------------- the API side


@dataclass
class Api:
    """A logged-in client subscribed to customer 1, with every notification kept in arrival order."""

    client: CallControlClient
    infos: list[dict] = field(default_factory=list)
    taken: set[int] = field(default_factory=set)

    async def _pull(self, timeout: float) -> None:
        n = await self.client.next_notification(timeout=timeout)
        if n.call_info is not None:
            self.infos.append(n.call_info)

    async def wait(self, pred: Callable[[dict], bool], timeout: float = 10.0, what: str = "") -> dict:
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
                raise AssertionError(f"no notification {what} within {timeout}s; got {self.summary()}")
            try:
                await self._pull(left)
            except TimeoutError:
                continue

    async def leg(self, state: str, timeout: float = 10.0, **match: Any) -> dict:
        """A notification of a leg reaching ``state``; ``match`` on id/tag/type/caller/callee/reason."""
        def pred(ci: dict) -> bool:
            if ci["state"] != state:
                return False
            for key, value in match.items():
                if key in ("id", "tag"):
                    actual = ci["call"].get(key)
                elif key in ("caller", "callee"):
                    actual = ci[key]["id"]
                else:
                    actual = ci.get(key)
                if actual != value:
                    return False
            return True
        return await self.wait(pred, timeout, f"{state} {match}")

    def states(self, call: dict) -> list[str]:
        """The states notified so far for leg ``call`` ({id, tag}), in order."""
        return [ci["state"] for ci in self.infos
                if ci["call"]["id"] == call["id"] and ci["call"].get("tag") == call.get("tag")]

    def legs_of(self, call_id: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for ci in self.infos:
            if ci["call"]["id"] == call_id:
                out.setdefault(ci["call"]["tag"], []).append(ci)
        return out

    def summary(self) -> list[tuple[str, str, str, Any]]:
        return [(ci["call"]["id"][-14:], ci["call"].get("tag"), ci["state"], ci.get("reason")) for ci in self.infos]


@pytest_asyncio.fixture
async def api(server: Rig) -> AsyncIterator[Api]:
    async with CallControlClient.connect(server.url) as client:
        await client.login("demo-corp", "demo-corp-pass")
        await client.enable_api_notifications(i_customer=1)
        yield Api(client)


def ref(ci: dict) -> dict:
    return {"id": ci["call"]["id"], "tag": ci["call"]["tag"]}


async def ev(phone: SoftPhone, name: str, timeout: float = 10.0, **match: object) -> dict:
    return await asyncio.to_thread(phone.event, name, timeout, **match)


async def req(phone: SoftPhone, reply: str, **cmd: object) -> dict:
    return await asyncio.to_thread(phone.request, reply, 10.0, **cmd)


async def poll_level(phone: SoftPhone, call: object, done: Callable[[dict], bool], what: str,
                     timeout: float = 10.0) -> dict:
    """Ask the phone for its audio level and RTP counters on ``call`` until ``done`` says so (bounded)."""
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        cmd: dict[str, object] = {"cmd": "level"}
        if call is not None:
            cmd["call"] = call
        last = await req(phone, "level", **cmd)
        if done(last):
            return last
        await asyncio.sleep(0.1)  # polling a level under a deadline
    raise AssertionError(f"phone {phone.user}: {what}: {last}")


async def wait_heard(phone: SoftPhone, call: object = None, above: int = HEARD, timeout: float = 10.0) -> dict:
    """The phone's received audio level on ``call`` goes above ``above``."""
    return await poll_level(phone, call, lambda level: level["rx_level"] > above, f"heard nothing above {above}",
                            timeout)


async def wait_packets(phone: SoftPhone, call: object, rx: int, timeout: float = 10.0) -> dict:
    """The phone's received RTP packet counter on ``call`` reaches ``rx``."""
    return await poll_level(phone, call, lambda level: level["rx"] >= rx, f"fewer than {rx} RTP packets", timeout)


async def wait_rtp(phone: SoftPhone, call: object = None, timeout: float = 10.0) -> dict:
    """The phone both sends and receives RTP on ``call`` (10 more packets each way than now)."""
    first: dict = {}

    def flowing(level: dict) -> bool:
        if not first:
            first.update(level)
        return level["rx"] > first["rx"] + 10 and level["tx"] > first["tx"] + 10

    return await poll_level(phone, call, flowing, "no RTP both ways", timeout)


@dataclass
class PhoneCall:
    """A call one phone made through the server: the phone's call index and the two legs' CallInfo."""

    index: int
    a: dict  # the caller phone's leg (type outgoing)
    b: dict  # the callee's leg (type incoming)


async def phone_call(server: Rig, api: Api, caller: SoftPhone, callee: str,
                     answered: bool = True) -> PhoneCall:
    """``caller`` dials ``callee``; wait for both legs connected (or ringing when not ``answered``)."""
    calling = await req(caller, "calling", cmd="call", uri=server.uri(callee))
    call_id = calling["sip_call_id"]  # leg A's SIP Call-ID is the call's id
    state = "connected" if answered else "ringing"
    a = await api.leg(state, id=call_id, type="outgoing")
    b = await api.leg(state, id=call_id, type="incoming")
    if answered:
        await ev(caller, "state", call=calling["call"], state="CONFIRMED")
    return PhoneCall(calling["call"], a, b)


@contextmanager
def sipp_phone(server: Rig, number: str, scenario: str) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """SIPp running ``scenario`` for one call at ``number``'s static contact, echoing RTP, tracing
    every message; yields (process, trace file). Killed if still running at the end."""
    trace = server.tmp / f"{scenario}-{time.monotonic_ns()}.log"
    errors = trace.with_suffix(".errors")
    popen = start_sipp_scenario(server.sipp_ports[number], "u1", 1, SCENARIOS / scenario, "-rtp_echo",
                                "-mp", str(free_port()), "-trace_msg", "-message_file", str(trace),
                                "-trace_err", "-error_file", str(errors))
    try:
        yield popen, trace
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)


async def sipp_done(popen: subprocess.Popen[str], trace: Path, timeout: float = 15.0) -> None:
    """Wait (bounded) for the SIPp phone to finish its one call; fail with its errors unless it passed."""
    try:
        code = await asyncio.to_thread(popen.wait, timeout)
    except subprocess.TimeoutExpired:
        code = None
    if code != 0:
        errors = trace.with_suffix(".errors")
        text = errors.read_text(errors="replace")[-2000:] if errors.exists() else ""
        got = [sip_start_line(m) for _, m in sipp_messages(trace)]
        raise AssertionError(f"SIPp scenario {'did not finish' if code is None else f'exit {code}'}: "
                             f"{text} messages: {got}")


def received(trace: Path) -> list[str]:
    """The messages the SIPp phone received, in order."""
    return [m for d, m in sipp_messages(trace) if d == "received"]


def requests_of(messages: list[str], method: str) -> list[str]:
    return [m for m in messages if sip_start_line(m).startswith(method + " ")]


def header(message: str, name: str) -> str | None:
    for line in message.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() == name.lower():
            return value.strip()
    return None


def _tag(name_addr: str) -> str:
    return name_addr.split(";tag=", 1)[1].split(";", 1)[0]


def assert_auto_answer_headers(incoming: dict) -> None:
    assert incoming["alert_info"] is not None and "info=autoanswer" in incoming["alert_info"].lower(), incoming
    assert incoming["call_info"] is not None and "answer-after=0" in incoming["call_info"], incoming


# --------------------------------------------------------------------------- sanity of the peers


async def test_sipp_answering_phone_takes_a_passed_through_hold(server: Rig, api: Api,
                                                                phones: dict[str, SoftPhone]) -> None:
    """The peers themselves (works without issue 5): pjsua 1001 calls SIPp 1004 (cc_uas_answer),
    holds and resumes (re-INVITEs relayed by the B2BUA), hangs up; RTP echoed back."""
    p1001 = phones["1001"]
    with sipp_phone(server, "1004", "cc_uas_answer.xml") as (sipp, trace):
        call = await phone_call(server, api, p1001, "1004")
        await wait_rtp(p1001, call.index)
        p1001.send(cmd="hold", call=call.index)
        await api.leg("holding", id=call.a["call"]["id"], tag=call.a["call"]["tag"])
        await api.leg("held", tag=call.b["call"]["tag"])
        await ev(p1001, "media", call=call.index, status="local_hold")
        p1001.send(cmd="unhold", call=call.index)
        await api.leg("connected", tag=call.a["call"]["tag"])
        await ev(p1001, "media", call=call.index, status="active")
        p1001.send(cmd="hangup", call=call.index)
        await ev(p1001, "state", call=call.index, state="DISCONNECTED")
        await sipp_done(sipp, trace)
    invites = requests_of(received(trace), "INVITE")
    assert len(invites) == 3
    assert "a=sendonly" in invites[1] and "a=sendonly" not in invites[2]
    assert len(requests_of(received(trace), "BYE")) == 1


async def test_sipp_busy_and_ringing_phones_through_the_b2bua(server: Rig, api: Api,
                                                             phones: dict[str, SoftPhone]) -> None:
    """The peers themselves (works without issue 5): 1005 answers 486 after ringing; 1006 rings
    until the caller gives up (CANCEL, 487)."""
    p1001 = phones["1001"]
    with sipp_phone(server, "1005", "cc_uas_busy.xml") as (sipp, trace):
        c = await req(p1001, "calling", cmd="call", uri=server.uri("1005"))
        st = await ev(p1001, "state", call=c["call"], state="DISCONNECTED")
        assert st["code"] == 486
        await sipp_done(sipp, trace)
    with sipp_phone(server, "1006", "cc_uas_noanswer.xml") as (sipp, trace):
        call = await phone_call(server, api, p1001, "1006", answered=False)
        p1001.send(cmd="hangup", call=call.index)
        await ev(p1001, "state", call=call.index, state="DISCONNECTED")
        await sipp_done(sipp, trace)
    assert len(requests_of(received(trace), "CANCEL")) == 1


async def test_softphone_peer_features_directly(server: Rig, phones: dict[str, SoftPhone]) -> None:
    """The pjsua2 phone's own commands, phone to phone without the server in the path: ringing
    and ``answer``, auto-answer on the headers, ``incoming_code``, hold offers, audio levels and
    recording, blind REFER and REFER with Replaces."""
    p1, p2, p3 = phones["1001"], phones["1002"], phones["1003"]

    def direct(phone: SoftPhone) -> str:
        return f"sip:{phone.user}@127.0.0.1:{phone.port}"

    # ring, then answer by command
    for p, opts in ((p2, {"auto_answer": "headers"}), (p3, {"incoming_code": 486})):
        p.send(cmd="set", **opts)
        await ev(p, "set")
    c = await req(p1, "calling", cmd="call", uri=direct(p2))
    inc = await ev(p2, "incoming")
    assert inc["alert_info"] is None and inc["auto_answer_requested"] is False
    await ev(p1, "state", call=c["call"], state="EARLY", code=180)
    p2.send(cmd="answer", call=inc["call"])
    await ev(p1, "state", call=c["call"], state="CONFIRMED")
    # hold / unhold: the held phone sees the offers; audio levels follow the player
    p1.send(cmd="hold", call=c["call"])
    assert (await ev(p2, "offer", call=inc["call"]))["direction"] == "sendonly"
    await ev(p1, "media", call=c["call"], status="local_hold")
    p1.send(cmd="unhold", call=c["call"])
    assert (await ev(p2, "offer", call=inc["call"]))["direction"] == "sendrecv"
    await ev(p1, "media", call=c["call"], status="active")
    rec = server.tmp / "direct.wav"
    p2.send(cmd="record", call=inc["call"], wav=str(rec))
    assert (await req(p2, "level", cmd="level", call=inc["call"]))["rx_level"] < HEARD
    p1.send(cmd="play", call=c["call"], wav=str(_tone(server)))
    heard = await wait_heard(p2, inc["call"])
    await wait_packets(p2, inc["call"], heard["rx"] + 25)
    recorded = await req(p2, "recorded", cmd="stop_record", call=inc["call"])
    assert recorded["seconds"] >= 0.4 and recorded["max_rms"] > 0.1, recorded
    p1.send(cmd="stop_play", call=c["call"])
    # auto-answer when asked by the headers; a busy phone
    c2 = await req(p1, "calling", cmd="call", uri=direct(p2),
                   headers={"Call-Info": "<sip:127.0.0.1>;answer-after=0"})
    inc2 = await ev(p2, "incoming", auto_answer_requested=True)
    assert "answer-after=0" in inc2["call_info"]
    await ev(p1, "state", call=c2["call"], state="CONFIRMED")
    c3 = await req(p1, "calling", cmd="call", uri=direct(p3))
    await ev(p1, "state", call=c3["call"], state="DISCONNECTED", code=486)
    # REFER with Replaces: 1001 asks 1002 (first call) to replace 1001's second call with 1002
    p1.send(cmd="xfer_replaces", call=c["call"], dest=c2["call"])
    assert (await ev(p1, "transfer_status", call=c["call"], final=True))["code"] == 200
    replacing = await ev(p2, "replaced")  # 1002 called itself with Replaces and took the call over
    assert replacing["call"] == inc2["call"]
    p1.send(cmd="hangup", call=c["call"])
    await ev(p1, "state", call=c["call"], state="DISCONNECTED")
    # blind REFER: 1003 is told to call 1002
    for p, opts in ((p2, {"auto_answer": True}), (p3, {"incoming_code": 0})):
        p.send(cmd="set", **opts)
        await ev(p, "set")
    c4 = await req(p1, "calling", cmd="call", uri=direct(p3))
    await ev(p1, "state", call=c4["call"], state="CONFIRMED")
    p1.send(cmd="xfer", call=c4["call"], uri=direct(p2))
    assert (await ev(p3, "transfer_request"))["uri"] == direct(p2)
    assert (await ev(p1, "transfer_status", call=c4["call"], final=True))["code"] == 200
    referred = await ev(p2, "incoming")
    assert referred["referred_by"] is not None and "1001" in referred["referred_by"]
    await ev(p3, "state", state="CONFIRMED", call=(await ev(p3, "state", state="CALLING"))["call"])


# --------------------------------------------------------------------------- originate_advanced_call


async def test_originate_with_auto_pickup(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    p1001, p1002 = phones["1001"], phones["1002"]
    p1001.send(cmd="set", auto_answer="headers")  # answers only when asked to by the headers
    await ev(p1001, "set")
    call = await api.client.originate_advanced_call("1001", "1001", "1002", callee_auto_pickup=True)
    assert set(call) == {"id"}
    x = call["id"]

    incoming = await ev(p1001, "incoming")
    assert_auto_answer_headers(incoming)
    assert "sip:1002@" in incoming["from"]  # A sees the callee as the caller

    a = await api.leg("connected", id=x)
    b = await api.leg("connected", id=x + "~10", timeout=15)
    assert f"tag={a['call']['tag']}" in incoming["from"]  # the leg's tag is the server's tag in A's dialog
    offer = incoming["sdp"]  # the server's own offer: PCMU, PCMA, telephone-event
    assert "m=audio" in offer and offer.split("m=audio", 1)[1].split("\r\n")[0].split()[2:] == ["0", "8", "101"], offer
    incoming_b = await ev(p1002, "incoming")
    assert "sip:1001@" in incoming_b["from"] and f"tag={b['call']['tag']}" in incoming_b["from"]
    assert a["type"] == b["type"] == "incoming"
    assert (a["caller"]["id"], a["callee"]["id"]) == ("1002", "1001")
    assert (b["caller"]["id"], b["callee"]["id"]) == ("1001", "1002")
    assert api.states(ref(a)) == ["trying", "ringing", "connected"]
    assert api.states(ref(b)) == ["trying", "ringing", "connected"]
    # leg B starts only once A answered
    first_b = next(i for i, ci in enumerate(api.infos) if ci["call"]["id"] == x + "~10")
    a_connected = next(i for i, ci in enumerate(api.infos) if ci["call"]["id"] == x and ci["state"] == "connected")
    assert a_connected < first_b

    await ev(p1001, "state", state="CONFIRMED")
    await ev(p1002, "state", state="CONFIRMED")
    await wait_rtp(p1001)
    await wait_rtp(p1002)


async def test_originate_without_auto_pickup_sends_no_auto_answer_headers(
        server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    call = await api.client.originate_advanced_call("1001", "1001", "1002")
    incoming = await ev(phones["1001"], "incoming")
    assert incoming["alert_info"] is None and incoming["call_info"] is None, incoming
    await api.leg("connected", id=call["id"])  # the phone answers by itself (auto_answer on)
    await api.leg("connected", id=call["id"] + "~10", timeout=15)


async def test_originate_to_busy_callee(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    p1001 = phones["1001"]
    with sipp_phone(server, "1005", "cc_uas_busy.xml") as (sipp, trace):
        call = await api.client.originate_advanced_call("1001", "1001", "1005")
        x = call["id"]
        await api.leg("connected", id=x)
        b = await api.leg("terminated", id=x + "~10", timeout=15)
        assert (b["reason"], b["reason_code"]) == ("Busy Here", 486)
        a = await api.leg("terminated", id=x)
        assert (a["reason"], a["reason_code"]) == ("Busy Here", 486)
        await ev(p1001, "state", state="DISCONNECTED")  # the server's BYE
        await sipp_done(sipp, trace)
    invite = requests_of(received(trace), "INVITE")[0]
    assert "sip:1001@" in (header(invite, "From") or "")  # B sees A's number as the caller


async def test_originate_when_caller_is_busy_never_calls_the_callee(
        server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    p1001, p1002 = phones["1001"], phones["1002"]
    p1001.send(cmd="set", incoming_code=486)
    await ev(p1001, "set")
    call = await api.client.originate_advanced_call("1001", "1001", "1002")
    a = await api.leg("terminated", id=call["id"])
    assert (a["reason"], a["reason_code"]) == ("Busy Here", 486)
    assert api.states(ref(a)) == ["trying", "terminated"]
    assert not [ci for ci in api.infos if ci["call"]["id"] == call["id"] + "~10"]
    assert await api.client.get_sip_calls_list(i_customer=1) == []
    assert await asyncio.to_thread(p1002.seen, "incoming") == []


async def test_originate_with_a_bill_id_of_another_customer_is_refused(server: Rig, api: Api) -> None:
    with pytest.raises(WrongParametersError) as err:
        await api.client.originate_advanced_call("3001", "1001", "1002")
    assert "bill_id" in str(err.value.details)


# --------------------------------------------------------------------------- answer_call


async def test_answer_call_invite_mode(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    """CANCEL the ringing INVITE, INVITE again with the auto-answer headers; the leg is not ended."""
    p1001, p1002 = phones["1001"], phones["1002"]
    p1002.send(cmd="set", auto_answer="headers")
    await ev(p1002, "set")
    call = await phone_call(server, api, p1001, "1002", answered=False)
    first = await ev(p1002, "incoming")
    assert first["alert_info"] is None
    await api.client.answer_call(ref(call.b), callee_answer_mode="Invite")
    await ev(p1002, "state", call=first["call"], state="DISCONNECTED", code=487)  # CANCELled
    second = await ev(p1002, "incoming")
    assert_auto_answer_headers(second)
    assert second["sip_call_id"] == first["sip_call_id"]  # same dialog identity, higher CSeq
    assert _tag(second["from"]) == _tag(first["from"]) == call.b["call"]["tag"]
    assert int(second["cseq"].split()[0]) > int(first["cseq"].split()[0])
    await api.leg("connected", tag=call.b["call"]["tag"])
    await api.leg("connected", tag=call.a["call"]["tag"])
    await ev(p1001, "state", call=call.index, state="CONFIRMED")
    assert "terminated" not in api.states(ref(call.b))
    await wait_rtp(p1001, call.index)


async def test_answer_call_invite_mode_on_originate_leg_a(server: Rig, api: Api,
                                                          phones: dict[str, SoftPhone]) -> None:
    p1001 = phones["1001"]
    p1001.send(cmd="set", auto_answer="headers")
    await ev(p1001, "set")
    call = await api.client.originate_advanced_call("1001", "1001", "1002")
    a = await api.leg("ringing", id=call["id"])
    await api.client.answer_call(ref(a), callee_answer_mode="Invite")
    assert_auto_answer_headers(await ev(p1001, "incoming", auto_answer_requested=True))
    await api.leg("connected", id=call["id"])
    await api.leg("connected", id=call["id"] + "~10", timeout=15)
    assert api.states(ref(a)) == ["trying", "ringing", "connected"]


async def test_answer_call_notify_mode(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    """The ringing phone advertised ``Allow-Events: talk``: the default mode is Notify, an in-dialog
    NOTIFY Event: talk in the early dialog, and the phone answers."""
    p1001 = phones["1001"]
    with sipp_phone(server, "1004", "cc_uas_answer_on_notify.xml") as (sipp, trace):
        call = await phone_call(server, api, p1001, "1004", answered=False)
        await api.client.answer_call(ref(call.b))  # no mode: Notify, since the 180 had Allow-Events: talk
        await api.leg("connected", tag=call.b["call"]["tag"])
        await api.leg("connected", tag=call.a["call"]["tag"])
        await ev(p1001, "state", call=call.index, state="CONFIRMED")
        await wait_rtp(p1001, call.index)
        p1001.send(cmd="hangup", call=call.index)
        await sipp_done(sipp, trace)  # the NOTIFY carried Event: talk
    got = received(trace)
    notify = requests_of(got, "NOTIFY")
    assert len(notify) == 1 and header(notify[0], "Event") == "talk"
    invite = requests_of(got, "INVITE")[0]
    assert header(notify[0], "Call-ID") == header(invite, "Call-ID")  # in the INVITE's (early) dialog
    assert len(requests_of(got, "CANCEL")) == 0 and len(requests_of(got, "INVITE")) == 1
    assert api.states(ref(call.b)) == ["trying", "ringing", "connected"]


async def test_answer_call_notify_mode_without_allow_events_talk_is_refused(
        server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    p1002 = phones["1002"]
    p1002.send(cmd="set", auto_answer=False)
    await ev(p1002, "set")
    call = await phone_call(server, api, phones["1001"], "1002", answered=False)
    with pytest.raises(WrongParametersError) as err:
        await api.client.answer_call(ref(call.b), callee_answer_mode="Notify")
    assert "callee_answer_mode" in str(err.value.details)
    assert api.states(ref(call.b)) == ["trying", "ringing"]


async def test_answer_call_on_a_connected_leg_is_refused(server: Rig, api: Api,
                                                         phones: dict[str, SoftPhone]) -> None:
    call = await phone_call(server, api, phones["1001"], "1002")
    with pytest.raises(WrongParametersError):
        await api.client.answer_call(ref(call.b), callee_answer_mode="Invite")


# --------------------------------------------------------------------------- terminate_call


async def test_terminate_connected_call(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    p1001, p1002 = phones["1001"], phones["1002"]
    call = await phone_call(server, api, p1001, "1002")
    await api.client.terminate_call(ref(call.b))
    await ev(p1002, "state", state="DISCONNECTED")  # BYE to the targeted leg's phone
    await ev(p1001, "state", call=call.index, state="DISCONNECTED")  # and to the other one
    for leg in (call.a, call.b):
        t = await api.leg("terminated", tag=leg["call"]["tag"])
        assert (t["reason"], t.get("reason_code")) == (API_TERMINATED, None)


async def test_terminate_ringing_leg_cancels_it(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    p1001 = phones["1001"]
    with sipp_phone(server, "1006", "cc_uas_noanswer.xml") as (sipp, trace):
        call = await phone_call(server, api, p1001, "1006", answered=False)
        await api.client.terminate_call(ref(call.b))
        await sipp_done(sipp, trace)  # the scenario ends only after a CANCEL
        await ev(p1001, "state", call=call.index, state="DISCONNECTED")
        t = await api.leg("terminated", tag=call.b["call"]["tag"])
        assert t["reason"] == API_TERMINATED
        await api.leg("terminated", tag=call.a["call"]["tag"])
    assert len(requests_of(received(trace), "CANCEL")) == 1


async def test_terminate_unanswered_caller_leg_declines_it(server: Rig, api: Api,
                                                           phones: dict[str, SoftPhone]) -> None:
    p1001, p1002 = phones["1001"], phones["1002"]
    p1002.send(cmd="set", auto_answer=False)
    await ev(p1002, "set")
    call = await phone_call(server, api, p1001, "1002", answered=False)
    await api.client.terminate_call(ref(call.a))
    st = await ev(p1001, "state", call=call.index, state="DISCONNECTED")
    assert st["code"] == 603
    await ev(p1002, "state", state="DISCONNECTED", code=487)  # leg B cancelled
    for leg in (call.a, call.b):
        t = await api.leg("terminated", tag=leg["call"]["tag"])
        assert t["reason"] == API_TERMINATED


# --------------------------------------------------------------------------- hold / unhold


async def test_hold_fallback_after_489_plays_music_on_hold(server: Rig, api: Api,
                                                          phones: dict[str, SoftPhone]) -> None:
    """X = SIPp 1004 (Allow-Events: talk, hold; NOTIFY -> 489); P = pjsua 1002 hears the MOH."""
    p1002 = phones["1002"]
    with sipp_phone(server, "1004", "cc_uas_hold_489.xml") as (sipp, trace):
        call = await phone_call(server, api, p1002, "1004")
        x, p = call.b, call.a
        await wait_rtp(p1002, call.index)
        assert (await req(p1002, "level", cmd="level", call=call.index))["rx_level"] < HEARD  # echoed silence

        await api.client.hold_call(ref(x))
        offer = await ev(p1002, "offer", call=call.index)
        assert offer["direction"] == "sendonly"
        await api.leg("holding", tag=x["call"]["tag"])
        await api.leg("held", tag=p["call"]["tag"])
        rec = server.tmp / f"moh-{time.monotonic_ns()}.wav"
        p1002.send(cmd="record", call=call.index, wav=str(rec))
        heard = await wait_heard(p1002, call.index)  # the music on hold arrives
        await wait_packets(p1002, call.index, heard["rx"] + 25)  # and half a second more of it
        recorded = await req(p1002, "recorded", cmd="stop_record", call=call.index)
        assert recorded["seconds"] >= 0.4 and recorded["max_rms"] > 0.02, recorded

        await api.client.unhold_call(ref(x))
        offer = await ev(p1002, "offer", call=call.index)
        assert offer["direction"] == "sendrecv"
        await api.leg("connected", tag=x["call"]["tag"])
        await api.leg("connected", tag=p["call"]["tag"])
        assert api.states(ref(x)) == ["trying", "ringing", "connected", "holding", "connected"]
        assert api.states(ref(p)) == ["trying", "ringing", "connected", "held", "connected"]

        p1002.send(cmd="hangup", call=call.index)
        await sipp_done(sipp, trace)  # NOTIFY hold/talk, inactive and sendrecv re-INVITEs checked
    got = received(trace)
    notifies = requests_of(got, "NOTIFY")
    # hold asked the phone first; the unhold may ask it too (Event: talk) or not, since the
    # server holds the call itself by then
    assert [header(n, "Event") for n in notifies] in (["hold"], ["hold", "talk"])
    reinvites = requests_of(got, "INVITE")[1:]
    assert len(reinvites) == 2 and "a=inactive" in reinvites[0] and "a=sendrecv" in reinvites[1]


async def test_hold_by_notify_on_a_phone_that_accepts_it(server: Rig, api: Api,
                                                        phones: dict[str, SoftPhone]) -> None:
    """X = SIPp 1004 advertising ``Allow-Events: hold`` and answering the NOTIFY 200: the phone holds
    by itself (its re-INVITE sendonly, relayed to P), and the server plays no music; unhold likewise
    with NOTIFY Event: talk and the phone's sendrecv re-INVITE."""
    p1002 = phones["1002"]
    with sipp_phone(server, "1004", "cc_uas_hold_notify.xml") as (sipp, trace):
        call = await phone_call(server, api, p1002, "1004")
        x, p = call.b, call.a
        await api.client.hold_call(ref(x))
        assert (await ev(p1002, "offer", call=call.index))["direction"] == "sendonly"  # the phone's own
        await api.leg("holding", tag=x["call"]["tag"])
        await api.leg("held", tag=p["call"]["tag"])
        await api.client.unhold_call(ref(x))
        assert (await ev(p1002, "offer", call=call.index))["direction"] == "sendrecv"
        await api.leg("connected", tag=x["call"]["tag"])
        await api.leg("connected", tag=p["call"]["tag"])
        p1002.send(cmd="hangup", call=call.index)
        await sipp_done(sipp, trace)
    got = received(trace)
    assert [header(n, "Event") for n in requests_of(got, "NOTIFY")] == ["hold", "talk"]
    assert len(requests_of(got, "INVITE")) == 1  # no server re-INVITE: no fallback
    assert api.states(ref(x)) == ["trying", "ringing", "connected", "holding", "connected"]


async def test_hold_fallback_on_a_phone_without_hold_events(server: Rig, api: Api,
                                                            phones: dict[str, SoftPhone]) -> None:
    """X = pjsua 1001 (no Allow-Events hold): the server holds both sides itself."""
    p1001, p1002 = phones["1001"], phones["1002"]
    call = await phone_call(server, api, p1001, "1002")
    await ev(p1002, "state", state="CONFIRMED")
    await api.client.hold_call(ref(call.a))
    assert (await ev(p1001, "offer", call=call.index))["direction"] == "inactive"
    assert (await ev(p1002, "offer"))["direction"] == "sendonly"
    await api.leg("holding", tag=call.a["call"]["tag"])
    await api.leg("held", tag=call.b["call"]["tag"])
    await wait_heard(p1002)
    await api.client.unhold_call(ref(call.a))
    assert (await ev(p1001, "offer", call=call.index))["direction"] == "sendrecv"
    assert (await ev(p1002, "offer"))["direction"] == "sendrecv"
    await api.leg("connected", tag=call.a["call"]["tag"])
    await api.leg("connected", tag=call.b["call"]["tag"])


async def test_hold_of_a_ringing_leg_is_refused(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    p1002 = phones["1002"]
    p1002.send(cmd="set", auto_answer=False)
    await ev(p1002, "set")
    call = await phone_call(server, api, phones["1001"], "1002", answered=False)
    with pytest.raises(WrongParametersError):
        await api.client.hold_call(ref(call.b))
    with pytest.raises(WrongParametersError):
        await api.client.unhold_call(ref(call.b))


# --------------------------------------------------------------------------- transfer_call


async def test_blind_transfer(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    p1001, p1002, p1003 = phones["1001"], phones["1002"], phones["1003"]
    call = await phone_call(server, api, p1001, "1002")
    x, p = call.a, call.b
    p1003.send(cmd="set", play=str(_tone(server)))
    await ev(p1003, "set")
    await api.client.transfer_call(ref(x), "1003")
    await ev(p1001, "state", call=call.index, state="DISCONNECTED")  # the transferor's BYE
    t = await api.leg("terminated", tag=x["call"]["tag"])
    assert (t["reason"], t.get("reason_code")) == ("blind transfer", None)
    await ev(p1003, "incoming")
    new = await api.leg("connected", id=p["call"]["id"], callee="1003", timeout=15)
    assert new["call"]["tag"] not in (x["call"]["tag"], p["call"]["tag"])
    assert new["type"] == "incoming"
    assert api.states(ref(new)) == ["trying", "ringing", "connected"]
    await ev(p1002, "offer")  # the transferee re-INVITEd towards the new party
    await wait_heard(p1002)  # 1003's tone reaches 1002
    await wait_rtp(p1003)
    assert "terminated" not in api.states(ref(p))


async def test_blind_transfer_to_a_busy_number_fails(server: Rig, api: Api,
                                                     phones: dict[str, SoftPhone]) -> None:
    p1001, p1002 = phones["1001"], phones["1002"]
    with sipp_phone(server, "1005", "cc_uas_busy.xml") as (sipp, trace):
        call = await phone_call(server, api, p1001, "1002")
        await api.client.transfer_call(ref(call.a), "1005")
        await api.leg("terminated", tag=call.a["call"]["tag"], reason="blind transfer")
        new = await api.leg("terminated", id=call.a["call"]["id"], callee="1005", timeout=15)
        assert (new["reason"], new["reason_code"]) == ("Busy Here", 486)
        t = await api.leg("terminated", tag=call.b["call"]["tag"])
        assert t["reason"] == "transfer failed"
        await ev(p1002, "state", state="DISCONNECTED")  # the transferee's BYE
        await sipp_done(sipp, trace)


async def test_phone_refer_blind_transfer(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    p1001, p1002, p1003 = phones["1001"], phones["1002"], phones["1003"]
    call = await phone_call(server, api, p1001, "1002")
    p1001.send(cmd="xfer", call=call.index, uri=server.uri("1003"))
    final = await ev(p1001, "transfer_status", call=call.index, final=True, timeout=15)
    assert final["code"] == 200  # 202 Accepted, then NOTIFY sipfrag 100 Trying, then 200
    progress = await asyncio.to_thread(p1001.seen, "transfer_status", call=call.index)
    assert (100, "Trying") in [(e["code"], e["reason"]) for e in progress], progress
    await ev(p1001, "state", call=call.index, state="DISCONNECTED")
    t = await api.leg("terminated", tag=call.a["call"]["tag"])
    assert t["reason"] == "blind transfer"
    await ev(p1003, "incoming")
    new = await api.leg("connected", id=call.a["call"]["id"], callee="1003", timeout=15)
    assert api.states(ref(new)) == ["trying", "ringing", "connected"]
    await ev(p1002, "offer")
    await wait_rtp(p1002)
    await wait_rtp(p1003)


# --------------------------------------------------------------------------- join_calls


async def _two_calls_of_1001(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> tuple[PhoneCall, PhoneCall]:
    """1001 calls 1002, holds it, calls 1003: one transferor with two legs."""
    p1001 = phones["1001"]
    first = await phone_call(server, api, p1001, "1002")
    p1001.send(cmd="hold", call=first.index)
    await api.leg("holding", tag=first.a["call"]["tag"])
    await ev(p1001, "media", call=first.index, status="local_hold")
    second = await phone_call(server, api, p1001, "1003")
    return first, second


async def _assert_joined(api: Api, phones: dict[str, SoftPhone], first: PhoneCall, second: PhoneCall) -> None:
    p1001, p1002, p1003 = phones["1001"], phones["1002"], phones["1003"]
    await ev(p1001, "state", call=first.index, state="DISCONNECTED")
    await ev(p1001, "state", call=second.index, state="DISCONNECTED")
    for x in (first.a, second.a):
        t = await api.leg("terminated", tag=x["call"]["tag"])
        assert t["reason"] == "attended transfer"
    await ev(p1002, "offer")  # both remote parties re-INVITEd with each other's media
    await ev(p1003, "offer")
    await wait_heard(p1003)  # 1002's tone reaches 1003
    await wait_rtp(p1002)
    for p in (first.b, second.b):
        assert "terminated" not in api.states(ref(p))
    p1002.send(cmd="hangup")
    await ev(p1003, "state", state="DISCONNECTED")  # one hangs up, the other gets BYE


async def test_join_calls(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    phones["1002"].send(cmd="set", play=str(_tone(server)))
    await ev(phones["1002"], "set")
    first, second = await _two_calls_of_1001(server, api, phones)
    await api.client.join_calls(ref(first.a), ref(second.a))
    await _assert_joined(api, phones, first, second)


async def test_phone_refer_with_replaces_joins(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    phones["1002"].send(cmd="set", play=str(_tone(server)))
    await ev(phones["1002"], "set")
    first, second = await _two_calls_of_1001(server, api, phones)
    p1001 = phones["1001"]
    p1001.send(cmd="xfer_replaces", call=first.index, dest=second.index)
    final = await ev(p1001, "transfer_status", call=first.index, final=True, timeout=15)
    assert final["code"] == 200
    await _assert_joined(api, phones, first, second)


async def test_join_of_two_transferors_is_refused(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    with sipp_phone(server, "1004", "cc_uas_answer.xml"):
        first = await phone_call(server, api, phones["1001"], "1002")
        second = await phone_call(server, api, phones["1003"], "1004")
        with pytest.raises(WrongParametersError) as err:
            await api.client.join_calls(ref(first.a), ref(second.a))
        assert "to_call" in str(err.value.details)
        phones["1003"].send(cmd="hangup", call=second.index)
        await ev(phones["1003"], "state", call=second.index, state="DISCONNECTED")


# --------------------------------------------------------------------------- tenants


async def test_other_tenant_cannot_touch_the_call(server: Rig, api: Api, phones: dict[str, SoftPhone]) -> None:
    call = await phone_call(server, api, phones["1001"], "1002")
    async with CallControlClient.connect(server.url) as other:
        await other.login("other-corp", "other-corp-pass")
        for method in (other.hold_call, other.unhold_call, other.terminate_call):
            with pytest.raises(CallNotFoundError):
                await method(ref(call.a))
        with pytest.raises(CallNotFoundError):
            await other.transfer_call(ref(call.a), "1003")
        with pytest.raises(CallNotFoundError):
            await other.join_calls(ref(call.a), ref(call.b))
        with pytest.raises(CallNotFoundError):
            await other.answer_call(ref(call.b), callee_answer_mode="Invite")
    assert api.states(ref(call.a)) == ["trying", "ringing", "connected"]


def _tone(server: Rig) -> Path:
    path = server.tmp / "tone.wav"
    if not path.exists():
        write_tone(path)
    return path
