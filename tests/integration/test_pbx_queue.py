"""Issue 13, call queues end to end: queue 800 through ``callcontrol serve`` (docs/pbx.md "Queues").

The queue is provisioned with the issue's CLI form before the server starts. Three pjsua2
phones register 1001/1002/1003 with digest. 1001 calls 1002 (both agents are then on a call
that is not the queue's: in use); 1003 calls 800 twice: a console (``demo-corp``, customer 1)
sees the two callers ``queued`` at positions 1 and 2 while they hear music (RTP counted by
the phone). 1001 hangs up: both agents are free, 1001 answers the first caller (1002 does
not answer), which goes ``dequeued`` then ``connected``; the second is position 1 now.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from callcontrol.client import CallControlClient
from tests.integration import harness
from tests.integration.harness import SoftPhone, start_softphone
from tests.integration.test_pbx_calls import Console, Rig, directory_cli, ev, req

pytest.importorskip("pjsua2")

pytestmark = pytest.mark.integration

PHONES = ("1001", "1002", "1003")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("queue")
    directory_cli(tmp / "data", "add", "queue", "--customer", "1", "--number", "800", "--name", "Support",
                  "--agents", "1001,1002", "--max-wait", "300", "--max-callers", "10", "--join-when-empty", "yes",
                  "--announce-every", "30")
    srv = harness.start_server(tmp, trusted=(), media="rtp_timeout = 30")
    try:
        yield Rig(srv)
    finally:
        srv.proc.stop()


@pytest.fixture(scope="module")
def phones(server: Rig) -> Iterator[dict[str, SoftPhone]]:
    pool: dict[str, SoftPhone] = {}
    try:
        for user in PHONES:
            pool[user] = start_softphone(user, f"secret{user}", server.srv.sip_port, no_vad=True)
        yield pool
    finally:
        for phone in pool.values():
            phone.quit()


@pytest_asyncio.fixture
async def console(server: Rig) -> AsyncIterator[Console]:
    async with CallControlClient.connect(server.url) as client:
        await client.login("demo-corp", "demo-corp-pass")
        await client.enable_api_notifications(i_customer=1)
        yield Console(client)


def queued(infos: list[dict], call_id: str) -> list[tuple[str, int | None]]:
    """The caller leg's (state, queue position) of a call to 800, in order."""
    return [(ci["state"], (ci.get("queue_info") or {}).get("position")) for ci in infos
            if ci["call"]["id"] == call_id and ci["type"] == "outgoing"]


async def rx_packets(phone: SoftPhone, call: int) -> int:
    got = await req(phone, "level", cmd="level", call=call)
    return int(got["rx"])


async def test_two_callers_queue_at_positions_1_and_2_and_the_first_is_connected_when_an_agent_frees_up(
        server: Rig, console: Console, phones: dict[str, SoftPhone]) -> None:
    p1, p2, p3 = (phones[n] for n in PHONES)
    # Both agents busy: 1001 talks to 1002.
    busy = await req(p1, "calling", cmd="call", uri=server.uri("1002"))
    await ev(p2, "incoming")
    await ev(p1, "state", call=busy["call"], state="CONFIRMED")
    await req(p2, "set", cmd="set", auto_answer=False)  # from now 1002 rings without answering
    first = await req(p3, "calling", cmd="call", uri=server.uri("800"))
    await ev(p3, "state", call=first["call"], state="CONFIRMED")  # the server answers the queued caller
    await console.until(lambda infos: ("queued", 1) in queued(infos, first["sip_call_id"]), "caller 1 queued")
    second = await req(p3, "calling", cmd="call", uri=server.uri("800"))
    await ev(p3, "state", call=second["call"], state="CONFIRMED")
    infos = await console.until(lambda infos: ("queued", 2) in queued(infos, second["sip_call_id"]),
                                "caller 2 queued")
    info = [ci for ci in infos if ci["call"]["id"] == second["sip_call_id"] and ci["state"] == "queued"][-1]
    assert info["queue_info"]["i_c_queue"] == 800 and info["queue_info"]["operators"] == 2
    assert p1.seen("incoming") == []  # nobody rang an agent in use
    # The queued caller hears music: RTP comes in.
    deadline = time.monotonic() + 10
    while await rx_packets(p3, first["call"]) < 20:
        assert time.monotonic() < deadline, "no music reached the queued caller"
        await asyncio.sleep(0.1)  # polling a counter under a deadline
    # get_sip_calls_list shows them queued.
    listed = await console.client.get_sip_calls_list(i_customer=1)
    assert {ci["call"]["id"] for ci in listed if ci["state"] == "queued"} >= {first["sip_call_id"],
                                                                           second["sip_call_id"]}
    # 1001 hangs up its call: the agents are free, 1001 answers the first caller.
    p1.send(cmd="hangup", call=busy["call"])
    await ev(p1, "state", call=busy["call"], state="DISCONNECTED")
    agent_call = await ev(p1, "incoming", timeout=15)
    assert "sip:1003@" in agent_call["from"]
    await ev(p1, "state", call=agent_call["call"], state="CONFIRMED")
    infos = await console.until(lambda infos: ("connected", None) in queued(infos, first["sip_call_id"]),
                                "caller 1 connected")
    states = [s for s, _ in queued(infos, first["sip_call_id"])]
    assert states.index("queued") < states.index("dequeued") < states.index("connected")
    infos = await console.until(lambda infos: queued(infos, second["sip_call_id"])[-1] == ("queued", 1),
                                "caller 2 at position 1")
    # Bridged: the caller and the agent hear each other (RTP both ways through the server).
    base = await rx_packets(p1, agent_call["call"])
    deadline = time.monotonic() + 10
    while await rx_packets(p1, agent_call["call"]) < base + 20:
        assert time.monotonic() < deadline, "no RTP from the caller reached the agent"
        await asyncio.sleep(0.1)  # polling a counter under a deadline
    for phone in phones.values():
        phone.send(cmd="reset")
    for phone in phones.values():
        phone.event("idle", timeout=15)
