"""The client library against the real hub: methods, typed errors, notifications, reconnect + resume."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callcontrol.api.methods import METHODS
from callcontrol.client import (
    CallControlClient,
    CallNotFoundError,
    ConnectionLost,
    ForbiddenError,
    Notification,
    OriginatedCall,
    UnsupportedMethodError,
    WrongParametersError,
)
from callcontrol.model.callinfo import CallState
from callcontrol.ws.hub import Connection
from tests.unit.hub_harness import (  # noqa: F401  (fixtures)
    TIMEOUT,
    HubEnv,
    env_fixture,
    hub_env,
)


def _server_side(env: HubEnv, client: CallControlClient) -> Connection:
    port = client._ws.local_address[1]  # type: ignore[union-attr]
    return next(c for c in env.hub.connections if c.ws.remote_address[1] == port)


async def _drop(env: HubEnv, client: CallControlClient) -> None:
    conn = _server_side(env, client)
    conn.ws.transport.abort()
    await asyncio.wait_for(conn.closed.wait(), TIMEOUT)


async def _updates(c: CallControlClient, n: int) -> list[Notification]:
    out = []
    async with asyncio.timeout(TIMEOUT):
        async for note in c.notifications():
            out.append(note)
            if len(out) == n:
                return out
    raise AssertionError("unreachable")


async def test_methods_results_and_notifications(env: HubEnv) -> None:
    env.backend.add(env.leg("k1", "a", caller=1, callee=2, state=CallState.CONNECTED))
    async with CallControlClient.connect(env.url) as c:
        sid = await c.login("demo-corp", "demo-corp-pass")
        assert len(sid) == 32 and c.session_id == sid
        calls = await c.get_sip_calls_list(i_customer=1)
        assert [x["call"] for x in calls] == [{"id": "k1", "tag": "a"}]
        await c.enable_api_notifications(i_customer=1)
        await c.hold_call(calls[0]["call"], calls[0]["transport_id"])
        await c.unhold_call({"id": "k1", "tag": "a"})
        (held, connected) = await _updates(c, 2)
        assert (held.action, held.seq, held.state) == ("update", 1, "holding")
        assert (connected.seq, connected.state) == (2, "connected")
        call = await c.originate_advanced_call("1001", "1001", "1002", callee_auto_pickup=True)
        assert isinstance(call, OriginatedCall) and set(call) == {"id"}
        (trying,) = await _updates(c, 1)
        assert trying.call_info["call"]["id"] == call["id"] and trying.state == "trying"  # type: ignore[index]
        await c.play_prompt({"id": "k1", "tag": "a"}, "http://127.0.0.1/x", order=3, repeat=2)
        await c.stop_play_prompt({"id": "k1", "tag": "a"}, order=3)
        await c.start_dtmf_detect({"id": "k1", "tag": "a"})
        await c.stop_dtmf_detect({"id": "k1", "tag": "a"})
        await c.answer_call({"id": "k1", "tag": "a"}, callee_answer_mode="Invite")
        await c.terminate_call({"id": "k1", "tag": "a"})
        assert [m for m, _ in env.backend.actions] == [
            "hold_call", "unhold_call", "originate_advanced_call", "play_prompt", "stop_play_prompt",
            "start_dtmf_detect", "stop_dtmf_detect", "answer_call", "terminate_call"]
        await c.disable_api_notifications(i_customer=1)
        result = await c.request("CallControl", "terminate_call", {"call": {"id": "x"}}, dry_run=True)
        assert result["dry_run"] == 1
        await c.logout()
        assert c.session_id is None


async def test_typed_errors_carry_code_message_details(env: HubEnv) -> None:
    async with CallControlClient.connect(env.url) as c:
        await c.login("other-corp", "other-corp-pass")
        with pytest.raises(CallNotFoundError) as info:
            await c.terminate_call({"id": "nope", "tag": "x"})
        assert (info.value.code, info.value.message) == ("sip.call_not_found", "Not found")
        with pytest.raises(WrongParametersError) as wrong:
            await c.play_prompt({"id": "x"}, "gopher://x")
        assert wrong.value.details == [{"field": "params.url",
                                        "message": "Input should be an http:// or https:// URL without extension"}]
        with pytest.raises(ForbiddenError):
            await c.enable_api_notifications(i_customer=1)
        with pytest.raises(UnsupportedMethodError):
            await c.request("CallControl", "nope")


async def test_credentials_mode_and_fire_and_forget(env: HubEnv) -> None:
    env.backend.add(env.leg("k1", "a", caller=1, callee=2, state=CallState.CONNECTED))
    async with CallControlClient.connect(env.url) as c:
        c.use_credentials("admin", "admin-pass")
        await c.enable_api_notifications(i_account=1)
        await c.send_without_cseq("CallControl", "hold_call", {"call": {"id": "k1", "tag": "a"}})
        (note,) = await _updates(c, 1)
        assert note.state == "holding"


async def test_reconnect_resumes_without_gaps(env: HubEnv) -> None:
    async with CallControlClient.connect(env.url, reconnect_delay=(0.01, 0.1)) as c:
        await c.login("demo-corp", "demo-corp-pass")
        await c.enable_api_notifications(i_customer=1)
        env.backend.add(env.leg("r0", "a", caller=1, callee=None))
        assert [n.seq for n in await _updates(c, 1)] == [1]
        await _drop(env, c)
        for i in range(1, 4):
            env.backend.add(env.leg(f"r{i}", "a", caller=1, callee=None))
        got = await _updates(c, 3)
        assert [(n.seq, n.call_info["call"]["id"]) for n in got] == [  # type: ignore[index]
            (2, "r1"), (3, "r2"), (4, "r3")]
        assert c.reconnects == 1
        env.backend.add(env.leg("r4", "a", caller=1, callee=None))
        assert [n.seq for n in await _updates(c, 1)] == [5]
        assert len(await c.get_sip_calls_list(i_customer=1)) == 5


async def test_requests_in_flight_fail_and_later_ones_wait_for_the_reconnect(env: HubEnv) -> None:
    gate = asyncio.Event()

    async def slow(params: object, scope: object) -> None:
        await asyncio.wait_for(gate.wait(), TIMEOUT)

    env.backend.add(env.leg("k1", "a", caller=1, callee=2))
    env.backend.answer = slow  # type: ignore[method-assign,assignment]
    async with CallControlClient.connect(env.url, reconnect_delay=(0.01, 0.1)) as c:
        await c.login("admin", "admin-pass")
        pending = asyncio.create_task(c.answer_call({"id": "k1", "tag": "a"}))
        async with asyncio.timeout(TIMEOUT):
            while not c._pending:
                await asyncio.sleep(0)
        await _drop(env, c)
        with pytest.raises(ConnectionLost):
            await pending
        gate.set()
        assert len(await c.get_sip_calls_list(i_customer=1)) == 1  # after the reconnect


async def test_expired_session_logs_in_again_resubscribes_and_says_resync(env: HubEnv) -> None:
    async with CallControlClient.connect(env.url, reconnect_delay=(0.01, 0.1)) as c:
        old = await c.login("demo-corp", "demo-corp-pass")
        await c.enable_api_notifications(i_customer=1)
        env.api.sessions.end(env.api.sessions.get(old))  # type: ignore[arg-type]
        await _drop(env, c)
        (marker,) = await _updates(c, 1)
        assert marker.action == "resync" and "session expired" in marker.raw["reason"]
        assert c.session_id != old
        env.backend.add(env.leg("x1", "a", caller=2, callee=None))
        (note,) = await _updates(c, 1)
        assert (note.seq, note.call_info["call"]["id"]) == (1, "x1")  # type: ignore[index]


async def test_resync_marker_when_the_buffer_no_longer_has_the_gap(data_dir: Path) -> None:
    async with hub_env(data_dir, replay_buffer=2) as env, \
            CallControlClient.connect(env.url, reconnect_delay=(0.01, 0.1)) as c:
        await c.login("demo-corp", "demo-corp-pass")
        await c.enable_api_notifications(i_customer=1)
        await _drop(env, c)
        for i in range(4):
            env.backend.add(env.leg(f"g{i}", "a", caller=1, callee=None))
        (marker,) = await _updates(c, 1)
        assert marker.action == "resync"
        assert len(await c.get_sip_calls_list(i_customer=1)) == 4
        env.backend.add(env.leg("g4", "a", caller=1, callee=None))
        (note,) = await _updates(c, 1)
        assert note.seq == 5


async def test_closing_stops_reconnecting(env: HubEnv) -> None:
    c = await CallControlClient.connect(env.url, reconnect_delay=(0.01, 0.1))
    await c.login("admin", "admin-pass")
    await c.close()
    assert not c.connected
    with pytest.raises((ConnectionLost, TimeoutError)):
        await c.request("CallControl", "get_sip_calls_list", {"i_customer": 1}, timeout=0.2)


def test_every_api_method_has_a_client_method() -> None:
    for _service, name in METHODS:
        assert callable(getattr(CallControlClient, name, None)), name
