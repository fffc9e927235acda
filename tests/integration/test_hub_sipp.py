"""The WebSocket JSON-RPC hub of the real server (``callcontrol serve``), with a real SIPp call.

One server for the module. The call: a SIPp UAS registers as the demo account
1001 and a SIPp UAC (trusted address) calls 1001 through the server, so both
legs belong to customer 1 and to account 1001. Clients are the project's
``CallControlClient`` and, where the bytes on the wire matter (no ``cseq``,
malformed frames), a plain ``websockets`` connection.

What runs only in the unit tests (tests/unit/test_hub_*.py, a real websockets
server in-process with the memory backend) and why: idle-session expiry needs
the clock (``serve`` has no setting for the idle timeout: 30 min);
``sip.internal_server_error`` needs a failing backend; ``sip.call_control_disabled``
needs ``disabled_methods``, which ``serve`` has no setting for; a stalled client
overflowing its send queue needs ~10,000 notifications queued for it
(4,096 frames plus the kernel's socket buffers), about 1,300 calls here.
"""
from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

from callcontrol.api.models import SipCallInfo
from callcontrol.client import (
    AuthFailedError,
    CallControlClient,
    CallNotFoundError,
    ForbiddenError,
    Notification,
    SessionExpiredError,
    UnsupportedMethodError,
    WrongParametersError,
)
from tests.integration.harness import (
    SCENARIOS,
    Proc,
    free_port,
    register,
    run_sipp,
    start,
    start_sipp_uas,
)

pytestmark = pytest.mark.integration

TIMEOUT = 20.0  # bound of every wait for the server or a peer
STATES = ["trying", "ringing", "connected", "terminated"]
TIME_RE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
ACCOUNT = "1001"


@dataclass
class HubServer:
    proc: Proc
    sip_port: int
    ws_port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    @property
    def transport_id(self) -> str:
        return f"127.0.0.1:{self.sip_port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    tmp = tmp_path_factory.mktemp("hub-sipp")
    sip, ws, http = free_port(), free_port(), free_port()
    config = tmp / "callcontrol.toml"
    config.write_text(f"""
[sip]
listen = ["udp:127.0.0.1:{sip}", "tcp:127.0.0.1:{sip}"]
trusted = ["127.0.0.1/32"]
[ws]
listen = "127.0.0.1:{ws}"
[http]
listen = "127.0.0.1:{http}"
""")
    proc = start(["callcontrol", "serve", "--config", str(config), "--data-dir", str(tmp / "data")],
                 ready="ready", timeout=30)
    yield HubServer(proc, sip, ws)
    assert proc.stop() == 0, proc.stderr_text()


@contextlib.asynccontextmanager
async def client(url: str, login: str | None = None, password: str | None = None,
                 **kwargs: Any) -> AsyncIterator[CallControlClient]:
    async with CallControlClient.connect(url, request_timeout=TIMEOUT, **kwargs) as c:
        if login is not None and password is not None:
            await c.login(login, password)
        yield c


async def raw(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(url, compression=None, open_timeout=TIMEOUT, **kwargs)


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    return orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def assert_still_serving(url: str) -> None:
    async with client(url, "demo-corp", "demo-corp-pass") as c:
        assert await c.get_sip_calls_list(i_customer=1) == []


# --------------------------------------------------------------------------- helpers for the call


class CuttableProxy:
    """A TCP relay in front of the WebSocket port: ``cut()`` drops every relayed
    connection at once, as a broken network would, and holds new ones until
    ``reopen()``; the server and the client each see their socket die."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.gate = asyncio.Event()
        self.gate.set()
        self.writers: list[asyncio.StreamWriter] = []
        self.accepted = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/ws"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.append(writer)
        try:
            await asyncio.wait_for(self.gate.wait(), TIMEOUT * 2)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            self.writers.append(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    def cut(self) -> None:
        self.gate.clear()
        writers, self.writers = self.writers, []
        for w in writers:
            w.transport.abort()

    def reopen(self) -> None:
        self.gate.set()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def hang_up(sipp_port: int, call_id: str) -> None:
    """Press the SIPp caller's hang-up button: an INFO in its call (matched by Call-ID), sent straight to it.

    Its scenario (hub_uac_hangup_on_info.xml) then sends BYE to the server."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.sendto((
            f"INFO sip:sipp@127.0.0.1:{sipp_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKhangup{port}\r\n"
            f"From: <sip:{ACCOUNT}@127.0.0.1>;tag=hangup\r\nTo: <sip:sipp@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INFO\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode(), ("127.0.0.1", sipp_port))


@dataclass
class Watch:
    """The notifications one client received, by leg."""

    client: CallControlClient
    notes: list[Notification] = field(default_factory=list)

    def states(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for n in self.notes:
            assert n.call_info is not None
            out.setdefault(n.call_info["call"]["tag"], []).append(n.call_info["state"])
        return out

    def last(self, state: str) -> dict[str, dict[str, Any]]:
        """Leg tag -> its latest call_info in ``state``."""
        return {n.call_info["call"]["tag"]: n.call_info for n in self.notes
                if n.call_info is not None and n.call_info["state"] == state}

    async def until(self, state: str, legs: int = 2) -> None:
        """Read until ``legs`` legs have reached ``state``."""
        async with asyncio.timeout(TIMEOUT):
            while sum(state in s for s in self.states().values()) < legs:
                note = await self.client.next_notification()
                assert note.action == "update", note.raw  # never overflow/resync here
                self.notes.append(note)

    async def until_count(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while len(self.notes) < count:
                note = await self.client.next_notification()
                assert note.action == "update", note.raw
                self.notes.append(note)


async def assert_nothing_queued(c: CallControlClient) -> None:
    """After a request/response round trip: anything the server had queued for ``c`` has arrived."""
    await c.get_sip_calls_list(i_customer=3)
    with pytest.raises(TimeoutError):
        note = await c.next_notification(timeout=0.05)
        pytest.fail(f"unexpected notification {note.raw}")


def check_call_info(info: dict[str, Any], server: HubServer) -> None:
    """SPEC's SIPCallInfo: exactly the model's fields, state-specific times, formats."""
    SipCallInfo.model_validate(info)  # extra="forbid": no field outside the SPEC
    assert set(info["call"]) == {"id", "tag"} and info["call"]["id"] and info["call"]["tag"]
    assert info["transport_id"] == server.transport_id
    for party in ("caller", "callee"):
        assert isinstance(info[party]["id"], str) and isinstance(info[party]["forwarder_list"], list)
    state = info["state"]
    if state in ("trying", "ringing", "early"):
        assert re.fullmatch(TIME_RE, info["start_time"]), info
        assert "connect_time" not in info
    if state == "connected":
        assert re.fullmatch(TIME_RE, info["connect_time"]), info
    if state == "terminated":
        assert isinstance(info["duration"], int) and info["duration"] >= 0, info
        assert isinstance(info["reason"], str) and info["reason"], info
        assert "reason_code" in info, info
    else:
        assert {"duration", "reason", "reason_code"}.isdisjoint(info), info


# --------------------------------------------------------------------------- the call


async def test_call_notifications_listing_isolation_and_resume(server: HubServer) -> None:
    """SIPp calls account 1001 (registered: another SIPp) through the server.

    Customer 1's subscribers (demo-corp, account 1001, one with per-request
    credentials and one without cseq) get both legs trying → ringing →
    connected → terminated with SPEC fields and seq 1..8; the calls list shows
    the live legs; customer 3 sees nothing and can control nothing; a client
    whose connection is cut mid-call resumes and gets what it missed, in order,
    without duplicates."""
    sipp_port, phone_port = free_port(), free_port()
    reply = await asyncio.to_thread(register, server.sip_port, phone_port, ACCOUNT)
    assert reply.startswith("SIP/2.0 200 "), reply
    proxy = CuttableProxy(server.ws_port)
    await proxy.start()
    uas = start_sipp_uas(phone_port, "u1", 1)
    sipp: asyncio.Task[Any] | None = None
    call_id: str | None = None
    try:
        async with client(server.url, "demo-corp", "demo-corp-pass") as corp, \
                client(server.url, "1001", "secret1001") as acct, \
                client(server.url, "other-corp", "other-corp-pass") as other, \
                client(server.url) as creds, \
                client(proxy.url, "demo-corp", "demo-corp-pass", open_timeout=TIMEOUT * 2,
                       reconnect_delay=(0.05, 0.2)) as dropper:
            await corp.enable_api_notifications(i_customer=1)
            await acct.enable_api_notifications(i_account=1)
            await other.enable_api_notifications(i_customer=3)
            creds.use_credentials("demo-corp", "demo-corp-pass")  # auth_info {login, password}
            await creds.enable_api_notifications(i_customer=1)
            await dropper.enable_api_notifications(i_customer=1)
            # No cseq: no answer, but it runs (its notifications arrive below).
            nocseq = await raw(server.url)
            await nocseq.send(orjson.dumps({"cseq": 1, "service": "Session", "method": "login", "params": {
                "login": "demo-corp", "password": "demo-corp-pass"}}).decode())
            nocseq_sid = (await recv_json(nocseq))["result"]["session_id"]
            await nocseq.send(orjson.dumps({
                "auth_info": {"session_id": nocseq_sid}, "service": "CallControl",
                "method": "enable_api_notifications",
                "params": {"event": "sip.call_control_notifications", "i_customer": 1}}).decode())

            # The same on the wire, without the client library (which also drops duplicates itself).
            wire = await raw(server.url)
            await wire.send(orjson.dumps({"cseq": 1, "service": "Session", "method": "login", "params": {
                "login": "1001", "password": "secret1001"}}).decode())
            wire_sid = (await recv_json(wire))["result"]["session_id"]
            await wire.send(orjson.dumps({
                "cseq": 2, "auth_info": {"session_id": wire_sid}, "service": "CallControl",
                "method": "enable_api_notifications",
                "params": {"event": "sip.call_control_notifications", "i_account": 1}}).decode())
            assert (await recv_json(wire))["success"] == 1

            sipp = asyncio.create_task(asyncio.to_thread(run_sipp, [
                f"127.0.0.1:{server.sip_port}", "-sf", str(SCENARIOS / "hub_uac_hangup_on_info.xml"),
                "-s", ACCOUNT, "-m", "1", "-t", "u1", "-p", str(sipp_port)], 60))

            # The dropper sees the call start, then its network fails.
            d = Watch(dropper)
            await d.until_count(1)
            assert d.notes[0].state == "trying"
            proxy.cut()
            wire_frames = [await recv_json(wire)]
            assert wire_frames[0]["seq"] == 1
            await wire.close()

            c = Watch(corp)
            await c.until("connected")
            a = Watch(acct)
            await a.until("connected")
            legs = c.last("connected")
            by_type = {info["type"]: info for info in legs.values()}
            leg_a, leg_b = by_type["outgoing"], by_type["incoming"]
            call_id = leg_a["call"]["id"]
            assert leg_b["call"]["id"] == call_id  # one call, two parts
            ref_a = {"id": call_id, "tag": leg_a["call"]["tag"]}

            # ---- mid-call: listing by each key, each form of auth_info
            for lister, kw in ((corp, {"i_customer": 1}), (acct, {"i_account": 1}), (creds, {"i_customer": 1}),
                               (corp, {"i_main_office": 1})):
                listed = await lister.get_sip_calls_list(**kw)
                assert sorted((x["call"]["tag"], x["state"]) for x in listed) == sorted(
                    (tag, "connected") for tag in legs), (kw, listed)
                for x in listed:
                    check_call_info(x, server)
            # ---- isolation: customer 3 cannot list, subscribe to or control customer 1's call
            assert await other.get_sip_calls_list(i_customer=3) == []
            assert await other.get_sip_calls_list(i_customer=1) == []
            assert await other.get_sip_calls_list(i_account=1) == []
            with pytest.raises(ForbiddenError):
                await other.enable_api_notifications(i_customer=1)
            for method, extra in (("terminate_call", {}), ("hold_call", {}), ("answer_call", {}),
                                  ("transfer_call", {"cld": "3001"}), ("start_dtmf_detect", {})):
                for transport in ({}, {"transport_id": server.transport_id}):
                    with pytest.raises(CallNotFoundError) as err:
                        await other.request("CallControl", method, {"call": ref_a, **transport, **extra})
                    assert err.value.message == "Not found"
            # ---- errors on the call's own legs and on legs that do not exist
            with pytest.raises(CallNotFoundError):
                await corp.terminate_call({"id": call_id, "tag": "no-such-tag"}, server.transport_id)
            with pytest.raises(CallNotFoundError):
                await corp.terminate_call({"id": "no-such-call@127.0.0.1", "tag": "x"})
            with pytest.raises(CallNotFoundError):
                await corp.terminate_call(ref_a, "127.0.0.1:1")  # a transport that is not ours
            # dry_run validates and runs nothing: the call goes on until the caller hangs up.
            result = await corp.request("CallControl", "terminate_call",
                                        {"call": ref_a, "transport_id": server.transport_id}, dry_run=True)
            assert result["dry_run"] == 1 and result["params"]["call"] == ref_a
            with pytest.raises(WrongParametersError) as wrong:
                await corp.request("CallControl", "terminate_call", {"transport_id": server.transport_id},
                                   dry_run=True)
            assert wrong.value.details == [{"field": "params.call", "message": "Field required"}]
            # Without cseq a command is answered by nothing, and the connection goes on.
            await nocseq.send(orjson.dumps({
                "auth_info": {"session_id": nocseq_sid}, "service": "CallControl", "method": "terminate_call",
                "params": {"call": {"id": "no-such-call@127.0.0.1"}}}).decode())

            # ---- the dropper comes back: its client resumes with the last seq it saw
            assert [n.seq for n in d.notes] == [1]
            proxy.reopen()
            await d.until_count(len(c.notes))  # replayed: everything it missed so far
            assert dropper.reconnects == 1
            wire = await raw(server.url)
            await wire.send(orjson.dumps({"cseq": "r", "service": "Session", "method": "resume",
                                          "params": {"session_id": wire_sid, "last_seq": 1}}).decode())
            resumed = await recv_json(wire)  # the answer comes before the replayed frames
            assert resumed == {"cseq": "r", "result": {"replayed": len(c.notes) - 1, "last_seq": len(c.notes),
                                                       "success": 1}, "success": 1}
            wire_frames += [await recv_json(wire) for _ in range(len(c.notes) - 1)]

            hang_up(sipp_port, call_id)
            await c.until("terminated")
            await a.until("terminated")
            await d.until("terminated")
            result = await sipp
            sipp = None
            creds_notes = Watch(creds)
            await creds_notes.until("terminated")
            nocseq_frames = [await recv_json(nocseq) for _ in range(len(c.notes))]
            wire_frames += [await recv_json(wire) for _ in range(len(c.notes) - len(wire_frames))]
            await wire.close()
            await nocseq.close()
            await assert_nothing_queued(other)
            await assert_nothing_queued(corp)
        uas_code = await asyncio.to_thread(uas.wait, TIMEOUT)
    finally:
        await proxy.close()
        if sipp is not None and call_id is not None:
            hang_up(sipp_port, call_id)  # a failed test must not leave SIPp waiting 60 s in the call
        if uas.poll() is None:
            uas.kill()
    assert result.returncode == 0 and result.successful == 1, result.output[-3000:]
    assert uas_code == 0

    # Per leg, in order; nothing else; seq 1..8 on every subscribed connection.
    assert c.states() == {leg_a["call"]["tag"]: STATES, leg_b["call"]["tag"]: STATES}
    infos = [n.call_info for n in c.notes]
    assert [n.seq for n in c.notes] == list(range(1, 9))
    for info in infos:
        assert info is not None
        check_call_info(info, server)
    # The account's subscription covers both legs of its call: the same stream.
    assert [n.call_info for n in a.notes] == infos and [n.seq for n in a.notes] == list(range(1, 9))
    assert [n.call_info for n in creds_notes.notes] == infos
    # The dropped client: everything, once, in order (seq 2.. replayed after the resume).
    assert [n.seq for n in d.notes] == list(range(1, 9))
    assert [n.call_info for n in d.notes] == infos
    # Resumed on the wire: seq 1 live, 2..6 (up to both "connected") replayed, 7..8 live; each once.
    assert [f["seq"] for f in wire_frames] == list(range(1, 9))
    assert [f["result"]["call_info"] for f in wire_frames] == infos
    # The cseq-less subscription ran; no frame answered either cseq-less request.
    assert [f.get("action") for f in nocseq_frames] == ["update"] * 8, nocseq_frames
    assert [f["result"]["call_info"] for f in nocseq_frames] == infos

    terminated = {info["type"]: info for info in c.last("terminated").values()}
    for info in terminated.values():
        assert info["reason"] == "caller hung up"  # not the dry-run terminate
        assert info["caller"]["id"] == "sipp" and "account_id" not in info["caller"]
        assert info["callee"]["id"] == ACCOUNT and info["callee"]["account_id"] == ACCOUNT
    assert terminated["outgoing"]["call"]["tag"] == leg_a["call"]["tag"]


# --------------------------------------------------------------------------- sessions and errors


async def test_login_logout_bad_password_and_expired_session(server: HubServer) -> None:
    async with client(server.url, reconnect=False) as c:
        with pytest.raises(AuthFailedError) as bad:
            await c.login("demo-corp", "wrong-password")
        assert bad.value.message == "Authentication failed"
        with pytest.raises(AuthFailedError):
            await c.login("nobody", "x")
        sid = await c.login("demo-corp", "demo-corp-pass")
        assert len(sid) == 32 and int(sid, 16) >= 0
        await c.enable_api_notifications(i_customer=1)
        await c.logout()
        c.session_id = sid  # the ended session, sent again
        with pytest.raises(SessionExpiredError):
            await c.get_sip_calls_list(i_customer=1)
        c.session_id = "f" * 32  # never issued
        with pytest.raises(SessionExpiredError):
            await c.get_sip_calls_list(i_customer=1)
        c.session_id = None
        with pytest.raises(AuthFailedError):  # no auth_info at all
            await c.get_sip_calls_list(i_customer=1)
        # auth_info {login, password[, domain]} instead of a session
        c.use_credentials("1001", "secret1001", "callcontrol")
        assert await c.get_sip_calls_list(i_account=1) == []
        c.use_credentials("1001", "wrong")
        with pytest.raises(AuthFailedError):
            await c.get_sip_calls_list(i_account=1)


async def test_each_error_code_from_the_real_server(server: HubServer) -> None:
    async with client(server.url, "demo-corp", "demo-corp-pass") as c:
        with pytest.raises(UnsupportedMethodError) as err:
            await c.request("CallControl", "no_such_method", {})
        assert err.value.message == "Unsupported method"
        with pytest.raises(UnsupportedMethodError):
            await c.request("NoSuchService", "login", {})
        with pytest.raises(WrongParametersError) as wrong:
            await c.request("CallControl", "enable_api_notifications", {"i_customer": "x"})
        assert err.value.code == "sip.unsupported_method"
        assert wrong.value.message == "Bad parameters"
        assert {d["field"] for d in wrong.value.details} == {"params.event", "params.i_customer"}
        with pytest.raises(CallNotFoundError):
            await c.hold_call({"id": "nothing-here@127.0.0.1", "tag": "1"}, server.transport_id)
        with pytest.raises(ForbiddenError) as forbidden:
            await c.enable_api_notifications(i_customer=3)
        assert forbidden.value.code == "auth.forbidden"
        # dry_run: validated, not run (no call is placed, nothing to list afterwards).
        result = await c.request("CallControl", "originate_advanced_call",
                                 {"bill_id": "1001", "caller_id": "1001", "callee_id": "1002"}, dry_run=True)
        assert result["dry_run"] == 1 and result["params"]["callee_auto_pickup"] in ("N", False)
        assert await c.get_sip_calls_list(i_customer=1) == []
    ws = await raw(server.url)
    try:
        await ws.send("{not json")
        resp = await recv_json(ws)
        assert resp["cseq"] is None and resp["error"]["code"] == "internal_error"
        assert resp["error"]["message"] == "Internal server error"
    finally:
        await ws.close()


# --------------------------------------------------------------------------- frames


@pytest.mark.parametrize("frame,reason", [
    ("{oops", "frame is not valid JSON"),
    ('{"cseq": 1, "service": "Session",}', "frame is not valid JSON"),  # the seed's trailing comma
    ('[{"cseq": 1, "service": "Session", "method": "login"}]', "frame is a JSON list"),
    ("17", "frame is a JSON int"),
    (b'{"cseq": 1, "service": "Session", "method": "login"}', "binary frames are not accepted"),
])
async def test_malformed_frames_get_internal_error_and_the_connection_goes_on(
        server: HubServer, frame: str | bytes, reason: str) -> None:
    ws = await raw(server.url)
    try:
        await ws.send(frame)
        resp = await recv_json(ws)
        assert resp["cseq"] is None and resp["success"] == 0
        assert resp["error"]["code"] == "internal_error" and resp["error"]["details"]["reason"].startswith(reason)
        await ws.send(orjson.dumps({"cseq": "after", "service": "Session", "method": "login",
                                    "params": {"login": "demo-corp", "password": "demo-corp-pass"}}).decode())
        resp = await recv_json(ws)
        assert resp["cseq"] == "after" and resp["success"] == 1
    finally:
        await ws.close()


async def test_10_mib_frame_closes_that_connection_only(server: HubServer) -> None:
    async with client(server.url, "demo-corp", "demo-corp-pass") as bystander:
        await bystander.enable_api_notifications(i_customer=1)
        big = await raw(server.url, max_size=None)
        await big.send('{"cseq": 1, "pad": "' + "x" * (10 * 1024 * 1024) + '"}')
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(big.recv(), TIMEOUT)
        assert big.close_code == 1009  # message too big
        assert await bystander.get_sip_calls_list(i_customer=1) == []
        assert bystander.reconnects == 0
    await assert_still_serving(server.url)


async def test_garbage_on_many_connections_then_normal_service(server: HubServer) -> None:
    conns = [await raw(server.url) for _ in range(5)]
    try:
        frames: list[str | bytes] = ["{", "[]", "null", b"\x00\xff", '{"cseq": 2}']
        for ws in conns:
            for frame in frames:
                await ws.send(frame)
        for ws in conns:
            got = [await recv_json(ws) for _ in frames]
            assert sorted(r["error"]["code"] for r in got) == sorted(["internal_error"] * 4
                                                                     + ["sip.unsupported_method"])
    finally:
        for ws in conns:
            await ws.close()
    await assert_still_serving(server.url)
