"""Notifications through real connections: format, seq, coverage, resume, overflow."""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from callcontrol.api.models import Notification
from callcontrol.model.callinfo import CallState
from callcontrol.ws.hub import ConnState
from tests.unit.hub_harness import (  # noqa: F401  (fixtures)
    TIMEOUT,
    HubEnv,
    RawClient,
    env_fixture,
    error_code,
    hub_env,
)

HEAD = '{"action":"update","event":"sip.call_control_notifications","seq":'


async def test_notification_frame_format_and_per_connection_seq(env: HubEnv) -> None:
    one = await env.logged_in("demo-corp", "demo-corp-pass")
    two = await env.logged_in("admin", "admin-pass")
    await one.subscribe(i_customer=1)
    await two.subscribe(i_account=2)
    info = env.backend.add(env.leg("n1", "a", caller=1, callee=2))
    raw = await asyncio.wait_for(one.ws.recv(), TIMEOUT)
    assert raw.startswith(HEAD + '1,"result":{"call_info":')
    msg = orjson.loads(raw)
    Notification.model_validate(msg)
    assert msg["result"]["call_info"] == orjson.loads(info.encoded())
    assert (await two.notification())["seq"] == 1
    env.backend.add(env.leg("n2", "a", caller=3, callee=None))
    env.backend.add(env.leg("n1", "a", caller=1, callee=2, state=CallState.CONNECTED))
    assert (await one.notification())["seq"] == 2
    assert (await one.notification())["seq"] == 3
    second = await two.notification()  # two is not subscribed to account 3: its seq is its own
    assert second["seq"] == 2 and second["result"]["call_info"]["state"] == "connected"


async def test_one_notification_per_leg_however_many_keys_cover_it(env: HubEnv) -> None:
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    await c.subscribe(i_account=1, i_customer=1, i_main_office=1)
    env.backend.add(env.leg("d1", "a", caller=1, callee=2))
    env.backend.add(env.leg("d2", "a", caller=3, callee=None))
    first, second = await c.notification(), await c.notification()
    assert (first["seq"], first["result"]["call_info"]["call"]["id"]) == (1, "d1")
    assert (second["seq"], second["result"]["call_info"]["call"]["id"]) == (2, "d2")


async def test_coverage_by_each_key(env: HubEnv) -> None:
    main = await env.logged_in("demo-corp", "demo-corp-pass")
    other = await env.logged_in("other-corp", "other-corp-pass")
    await main.subscribe(i_main_office=1)
    await other.subscribe(i_customer=3)
    ivr = await env.logged_in("admin", "admin-pass")
    await ivr.subscribe(i_ivr_an=1)
    env.backend.add(env.leg("k1", "a", caller=4, callee=None))      # branch phone calls out
    env.backend.add(env.leg("k2", "a", caller=None, callee_ivr=1))  # outside caller to IVR 7000
    env.backend.add(env.leg("k3", "a", caller=5, callee=1))         # other corp calls 1001
    got = [(await main.notification())["result"]["call_info"]["call"]["id"] for _ in range(3)]
    assert got == ["k1", "k2", "k3"]
    assert (await ivr.notification())["result"]["call_info"]["callee"]["access_number"] == "7000"
    assert (await other.notification())["result"]["call_info"]["call"]["id"] == "k3"
    # Nothing else reached ivr/other: the next leg each sees is the next one published for it.
    env.backend.add(env.leg("k4", "a", caller=5, callee=None))
    env.backend.add(env.leg("k5", "a", caller=None, callee_ivr=1))
    assert (await other.notification())["result"]["call_info"]["call"]["id"] == "k4"
    assert (await ivr.notification())["result"]["call_info"]["call"]["id"] == "k5"


async def test_disable_stops_only_that_key(env: HubEnv) -> None:
    c = await env.logged_in("admin", "admin-pass")
    await c.subscribe(i_account=1)
    await c.subscribe(i_account=5)
    resp = await c.cc("disable_api_notifications", {"event": "sip.call_control_notifications", "i_account": 1})
    assert resp["result"] == {"success": 1}
    env.backend.add(env.leg("u1", "a", caller=1, callee=None))
    env.backend.add(env.leg("u2", "a", caller=5, callee=None))
    note = await c.notification()
    assert (note["seq"], note["result"]["call_info"]["call"]["id"]) == (1, "u2")
    assert env.api.router.subscriber_count(("i_account", 1)) == 0
    # Disabling what is not subscribed is harmless.
    resp = await c.cc("disable_api_notifications", {"event": "sip.call_control_notifications", "i_ivr_an": 1})
    assert resp["success"] == 1


async def test_credential_subscriptions_end_with_their_connection(env: HubEnv) -> None:
    c = await env.client()
    conn_before = set(env.hub.connections)
    resp = await c.subscribe(i_customer=1, auth={"login": "admin", "password": "admin-pass"})
    assert resp["success"] == 1 and env.api.router.subscriber_count(("i_customer", 1)) == 1
    server_side = next(iter(env.hub.connections))
    assert conn_before == env.hub.connections
    await c.ws.close()
    await asyncio.wait_for(server_side.closed.wait(), TIMEOUT)
    assert env.api.router.subscriber_count(("i_customer", 1)) == 0


# ---------------------------------------------------------------------- resume


async def _drop(env: HubEnv, c: RawClient) -> None:
    conns = list(env.hub.connections)
    await c.ws.close()
    async with asyncio.timeout(TIMEOUT):
        for conn in conns:
            if conn.ws.remote_address[1] == c.ws.local_address[1]:
                await conn.closed.wait()


async def test_resume_replays_missed_notifications_then_goes_live(env: HubEnv) -> None:
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    sid = c.session_id
    await c.subscribe(i_customer=1)
    for i in range(3):
        env.backend.add(env.leg(f"r{i}", "a", caller=1, callee=None))
    assert [(await c.notification())["seq"] for _ in range(3)] == [1, 2, 3]
    await _drop(env, c)
    env.backend.add(env.leg("r3", "a", caller=2, callee=None))
    env.backend.add(env.leg("r4", "a", caller=3, callee=None))

    d = await env.client()
    resp = await d.request("Session", "resume", {"session_id": sid, "last_seq": 2}, auth=None)
    assert resp["result"] == {"replayed": 3, "last_seq": 5, "success": 1}
    replay = [await d.notification() for _ in range(3)]
    assert [(n["seq"], n["result"]["call_info"]["call"]["id"]) for n in replay] == [(3, "r2"), (4, "r3"),
                                                                                    (5, "r4")]
    assert d.order[0] == ("response", resp["cseq"])  # the response comes first
    env.backend.add(env.leg("r5", "a", caller=1, callee=None))
    live = await d.notification()
    assert (live["seq"], live["result"]["call_info"]["call"]["id"]) == (6, "r5")
    # Nothing missed: resuming at the head replays nothing.
    resp = await d.request("Session", "resume", {"session_id": sid, "last_seq": 6}, auth=None)
    assert resp["result"] == {"replayed": 0, "last_seq": 6, "success": 1}


async def test_resume_past_the_buffer_asks_for_resync_and_keeps_subscriptions(data_dir: Path) -> None:
    async with hub_env(data_dir, replay_buffer=2) as env:
        c = await env.logged_in("demo-corp", "demo-corp-pass")
        sid = c.session_id
        await c.subscribe(i_customer=1)
        env.backend.add(env.leg("s0", "a", caller=1, callee=None))
        assert (await c.notification())["seq"] == 1
        await _drop(env, c)
        for i in range(1, 5):
            env.backend.add(env.leg(f"s{i}", "a", caller=1, callee=None))
        d = await env.client()
        resp = await d.request("Session", "resume", {"session_id": sid, "last_seq": 1}, auth=None)
        assert error_code(resp) == "session.resync_required"
        assert resp["error"]["message"] == "Resync required"
        details = resp["error"]["details"]
        assert details["resync_with"] == "CallControl.get_sip_calls_list"
        assert (details["last_seq"], details["oldest_seq"]) == (5, 4)
        env.backend.add(env.leg("s5", "a", caller=1, callee=None))
        live = await d.notification()
        assert (live["seq"], live["result"]["call_info"]["call"]["id"]) == (6, "s5")
        d.session_id = sid
        listed = await d.cc("get_sip_calls_list", {"i_customer": 1})
        assert len(listed["result"]["calls_list"]) == 6


async def test_resume_errors(env: HubEnv) -> None:
    c = await env.client()
    resp = await c.request("Session", "resume", {"session_id": "f" * 32, "last_seq": 0}, auth=None)
    assert error_code(resp) == "auth.session_expired"
    resp = await c.request("Session", "resume", {"session_id": "nothex", "last_seq": -1}, auth=None)
    assert {d["field"] for d in resp["error"]["details"]} == {"params.session_id", "params.last_seq"}
    sid = await c.login("admin", "admin-pass")
    resp = await c.request("Session", "resume", {"session_id": sid, "last_seq": 0}, auth=None)
    assert error_code(resp) == "sip.wrong_parameters"  # never subscribed: nothing to resume
    await c.subscribe(i_customer=3)
    resp = await c.request("Session", "resume", {"session_id": sid, "last_seq": 7}, auth=None)
    assert error_code(resp) == "session.resync_required"  # from the future


# ---------------------------------------------------------------------- overflow


async def _stalled_client(env: HubEnv) -> RawClient:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", env.hub.port))
    ws = await connect(env.url, sock=sock, compression=None, max_queue=4)
    client = RawClient(ws)
    env.clients.append(client)
    return client


async def test_stalled_client_is_cut_off_while_others_keep_receiving(data_dir: Path) -> None:
    async with hub_env(data_dir, send_queue_limit=32, overflow_grace=TIMEOUT) as env:
        stalled = await _stalled_client(env)
        await stalled.login("admin", "admin-pass")
        await stalled.subscribe(i_customer=1)
        reader = await env.logged_in("demo-corp", "demo-corp-pass")
        await reader.subscribe(i_customer=1)
        stalled_conn = next(c for c in env.hub.connections
                            if c.ws.remote_address[1] == stalled.ws.local_address[1])

        published = 0
        async with asyncio.timeout(TIMEOUT * 4):
            while stalled_conn.state is ConnState.OPEN:
                # Bursts below the queue limit: a client that keeps up never overflows.
                for _ in range(20):
                    env.backend.add(env.leg(f"o{published}", "a", caller=1, callee=None))
                    published += 1
                for _ in range(20):
                    await reader.notification()
        assert env.hub.counters["overflows"] == 1
        assert [n["seq"] for n in reader.notifications] == list(range(1, published + 1))

        # The stalled client, reading at last: some notifications, one overflow notice, close 1008.
        overflow_notices = []
        seqs = []
        try:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    msg = orjson.loads(await stalled.ws.recv())
                    if msg.get("action") == "overflow":
                        overflow_notices.append(msg)
                    else:
                        seqs.append(msg["seq"])
        except ConnectionClosed:
            pass
        assert len(overflow_notices) == 1
        notice = overflow_notices[0]
        assert notice["result"]["reason"] == "send queue overflow"
        assert seqs == list(range(1, len(seqs) + 1)) and notice["result"]["last_seq"] >= len(seqs)
        assert stalled.ws.close_code == 1008 and stalled.ws.close_reason == "send queue overflow"

        # It can pick up where it stopped on a new connection.
        again = await env.client()
        resp = await again.request("Session", "resume", {"session_id": stalled.session_id, "last_seq": seqs[-1]},
                                   auth=None)
        assert resp["success"] == 1 and resp["result"]["last_seq"] == published
        replay = [await again.notification() for _ in range(resp["result"]["replayed"])]
        assert [n["seq"] for n in replay] == list(range(seqs[-1] + 1, published + 1))
