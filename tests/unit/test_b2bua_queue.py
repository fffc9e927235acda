"""Call queues in the B2BUA (callcontrol/b2b/queue.py, docs/pbx.md "Queues"): in-process phones
on loopback, the real directory and routing (the ``pbx`` rig of test_b2bua_pbx), the server's
``Queues`` adapter wired as the server wires it."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from callcontrol.b2b.queue import Queues
from callcontrol.model.callinfo import CallInfo
from sip.dialog import Dialog
from sip.message import Response
from sip.sdp import parse_sdp
from tests.unit import test_b2bua_pbx
from tests.unit.b2bua_rig import HOST, TIMEOUT, Phone, wait_for
from tests.unit.test_b2bua_pbx import Pbx

pbx = test_b2bua_pbx.pbx  # the fixture: the directory, routing and phones of the PBX tests


class Rtp(asyncio.DatagramProtocol):
    """A phone's RTP socket: every datagram it receives, in a queue."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[bytes, tuple]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.got.put_nowait((data, addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]

    async def next(self) -> bytes:
        data, _ = await asyncio.wait_for(self.got.get(), TIMEOUT)
        return data

    def drain(self) -> None:
        while not self.got.empty():
            self.got.get_nowait()

    def send(self, payload: bytes, port: int, seq: int = 1) -> None:
        assert self.transport is not None
        packet = bytes([0x80, 0, seq >> 8 & 0xFF, seq & 0xFF]) + bytes(4) + b"\x01\x02\x03\x04" + payload
        self.transport.sendto(packet, (HOST, port))


@pytest.fixture
async def rtp() -> AsyncIterator[dict[str, Rtp]]:
    loop = asyncio.get_running_loop()
    sockets: dict[str, Rtp] = {}
    for name in ("caller", "1001", "1002", "other"):
        _, proto = await loop.create_datagram_endpoint(Rtp, local_addr=(HOST, 0))
        sockets[name] = proto
    yield sockets
    for proto in sockets.values():
        if proto.transport is not None:
            proto.transport.close()


def wire(pbx: Pbx) -> Queues:
    """The adapter as server.py wires it."""
    b2b = pbx.b2b
    registry = b2b.registry
    queues = Queues(route_target=lambda target, via: b2b.router(target, via), party_of=b2b.party_for,
                    answer=b2b._answer, leg_media=b2b.leg_media,
                    live_legs=lambda key: len(registry.snapshots((key,))), wall=b2b.wall)
    b2b.queues = queues
    return queues


def caller_states(pbx: Pbx, call_id: str) -> list[CallInfo]:
    return [i for i in pbx.published if i.type == "outgoing" and i.call.id == call_id]


async def next_rtp_from(sock: Rtp, port: int) -> bytes:
    """The next datagram from the server's ``port`` (music, a bridged packet)."""
    while True:
        data, addr = await asyncio.wait_for(sock.got.get(), TIMEOUT)
        if addr[1] == port:
            return data


async def test_a_queued_caller_hears_music_and_is_connected_when_the_agent_frees_up(
        pbx: Pbx, rtp: dict[str, Rtp]) -> None:
    queues = wire(pbx)
    await pbx.directory.add_pbx_number("queue", 1, "800", "Support", {"agents": "1001"})
    agent = pbx.phones["1001"]
    agent.media_port = rtp["1001"].port
    # 1001 is on another call (not the queue's): in use.
    other = await Phone.open("other")
    other.media_port = rtp["other"].port
    try:
        other.call(f"sip:1001@{HOST}", pbx.peer)
        await other.next("r200")
        await agent.next("ack")
        caller = pbx.phones["caller"]
        caller.media_port = rtp["caller"].port
        invite = caller.call(f"sip:800@{HOST}", pbx.peer)
        ok: Response = await caller.next("r200")  # the server answers the queued caller
        await wait_for(lambda: any(i.state == "queued" for i in caller_states(pbx, invite.call_id)))
        queued = next(i for i in caller_states(pbx, invite.call_id) if i.state == "queued")
        assert queued.queue_info is not None
        assert (queued.queue_info.i_c_queue, queued.queue_info.position, queued.queue_info.operators) == (800, 1, 1)
        server_port = parse_sdp(ok.body).media[0].port
        music = await next_rtp_from(rtp["caller"], server_port)  # music on hold
        assert len(music) > 12
        # 1001's other call ends: it is rung for the caller, answers, the caller is bridged to it.
        assert other.dialog is not None
        other.send_in_dialog(other.dialog.create_request("BYE"), pbx.peer)
        await other.next("bye200")
        assert (await agent.events.get())[0] == "bye"  # its other call ended; nothing came before
        agent_invite = await agent.next("invite")
        assert agent_invite.call_id != invite.call_id
        reinvite = await caller.next("invite")  # onto the agent's media
        assert parse_sdp(reinvite.body).media[0].port == server_port
        await wait_for(lambda: any(i.state == "connected" for i in caller_states(pbx, invite.call_id)))
        states = [str(i.state) for i in caller_states(pbx, invite.call_id)]
        assert states.index("queued") < states.index("dequeued") < states.index("connected")
        # Bridged: the caller's RTP reaches the agent.
        rtp["1001"].drain()
        for seq in range(1, 6):
            rtp["caller"].send(b"\x55" * 160, server_port, seq)
        got = await rtp["1001"].next()
        assert got[12:] == b"\x55" * 160
        assert queues.queues["800"].waiting == {}
    finally:
        other.close()


async def test_an_agent_answering_before_the_callers_ack_is_bridged_after_it(pbx: Pbx) -> None:
    """No re-INVITE on the caller's dialog while our 200 awaits its ACK (RFC 3261 §14.1)."""
    wire(pbx)
    await pbx.directory.add_pbx_number("queue", 1, "800", "Support", {"agents": "1001"})
    agent = pbx.phones["1001"]
    caller = pbx.phones["caller"]
    caller.send_ack = False  # the ACK is sent below, once the agent has answered
    invite = caller.call(f"sip:800@{HOST}", pbx.peer)
    ok: Response = await caller.next("r200")
    await agent.next("ack")  # the agent answered and the server ACKed it: the caller is dequeued
    await wait_for(lambda: any(i.state == "dequeued" for i in caller_states(pbx, invite.call_id)))
    assert all(k != "invite" for k, _ in list(caller.events._queue))  # type: ignore[attr-defined]
    caller.dialog = Dialog.from_uac(invite, ok, 0.0)
    caller.ua.register_dialog(invite.call_id, caller.dialog.local_tag, caller)
    caller.ua.send_ack(caller.dialog.create_ack(invite.cseq), pbx.peer, caller.tx)
    reinvite = await caller.next("invite")
    assert reinvite.cseq == 1 and reinvite.call_id == invite.call_id
    await wait_for(lambda: any(i.state == "connected" for i in caller_states(pbx, invite.call_id)))
    states = [str(i.state) for i in caller_states(pbx, invite.call_id)]
    assert states.index("queued") < states.index("dequeued") < states.index("connected")


async def test_max_wait_sends_the_caller_to_the_failover(pbx: Pbx) -> None:
    wire(pbx)
    await pbx.directory.add_pbx_number("queue", 1, "800", "Support", {
        "agents": "1001", "max_wait": 1, "agent_ring_time": 30, "failover": {"noanswer": "1002"}})
    agent = pbx.phones["1001"]
    agent.answer_with = None  # rings, never answers
    caller = pbx.phones["caller"]
    invite = caller.call(f"sip:800@{HOST}", pbx.peer)
    await caller.next("r200")
    await agent.next("invite")
    await agent.next("cancelled")  # after the maximum wait the agent's ring is CANCELled
    await pbx.phones["1002"].next("invite")  # and the failover rings
    await caller.next("invite")  # the caller is re-INVITEd onto it when it answers
    await wait_for(lambda: any(i.state == "connected" for i in caller_states(pbx, invite.call_id)))
    states = [str(i.state) for i in caller_states(pbx, invite.call_id)]
    assert "queued" in states and states.index("dequeued") < states.index("connected")
    assert not any(i.event == "play_prompt_completed" for i in pbx.published)


def is_beep(payload: bytes) -> bool:
    """A packet of the bundled announcement: a 1 kHz tone at 8 kHz repeats every 8 samples
    (the music does not, silence is constant)."""
    return len(set(payload)) > 2 and all(payload[i] == payload[i + 8] for i in range(len(payload) - 8))


async def test_position_announcements_play_and_are_not_published(pbx: Pbx, rtp: dict[str, Rtp]) -> None:
    wire(pbx)
    await pbx.directory.add_pbx_number("queue", 1, "800", "Support", {
        "agents": "1001", "announce_every": 1, "agent_ring_time": 30})
    pbx.phones["1001"].answer_with = None  # rings, never answers: the caller waits
    caller = pbx.phones["caller"]
    caller.media_port = rtp["caller"].port
    invite = caller.call(f"sip:800@{HOST}", pbx.peer)
    ok: Response = await caller.next("r200")
    port = parse_sdp(ok.body).media[0].port
    await wait_for(lambda: any(i.state == "queued" for i in caller_states(pbx, invite.call_id)))
    music = beeps = after = 0
    while after == 0:  # music, the announcement (position 1: one beep), then the music again
        payload = (await next_rtp_from(rtp["caller"], port))[12:]
        if is_beep(payload):
            beeps += 1
        elif len(set(payload)) > 2:  # not the beep's trailing silence
            if beeps:
                after += 1  # the announcement played out (its completion would be published now)
            else:
                music += 1
    assert music > 0
    assert not any(i.event == "play_prompt_completed" for i in pbx.published)


async def test_a_caller_hanging_up_leaves_the_queue_and_its_agent_stops_ringing(pbx: Pbx) -> None:
    queues = wire(pbx)
    await pbx.directory.add_pbx_number("queue", 1, "800", "Support", {"agents": "1001", "agent_ring_time": 30})
    agent = pbx.phones["1001"]
    agent.answer_with = None
    caller = pbx.phones["caller"]
    invite = caller.call(f"sip:800@{HOST}", pbx.peer)
    await caller.next("r200")
    await agent.next("invite")
    assert caller.dialog is not None
    caller.send_in_dialog(caller.dialog.create_request("BYE"), pbx.peer)
    await caller.next("bye200")
    await agent.next("cancelled")
    await wait_for(lambda: not queues.queues["800"].waiting and queues.queues["800"].machine.position(
        invite.call_id) is None)
    assert caller_states(pbx, invite.call_id)[-1].state == "terminated"


async def test_a_queue_failing_over_to_another_queue_moves_the_answered_caller(
        pbx: Pbx, caplog: pytest.LogCaptureFixture) -> None:
    queues = wire(pbx)
    await pbx.directory.add_pbx_number("queue", 1, "801", "Second", {"agents": "1002"})
    await pbx.directory.add_pbx_number("queue", 1, "800", "Support", {
        "agents": "1001", "max_wait": 1, "agent_ring_time": 30, "failover": {"noanswer": "801"}})
    pbx.phones["1001"].answer_with = None
    caller = pbx.phones["caller"]
    invite = caller.call(f"sip:800@{HOST}", pbx.peer)
    await caller.next("r200")
    await pbx.phones["1001"].next("cancelled")
    await pbx.phones["1002"].next("invite")
    await caller.next("invite")  # onto 1002's media: answered once, re-INVITEd once
    await wait_for(lambda: any(i.state == "connected" for i in caller_states(pbx, invite.call_id)))
    queue_numbers = [i.queue_info.i_c_queue for i in caller_states(pbx, invite.call_id) if i.queue_info]
    assert queue_numbers[0] == 800 and queue_numbers[-1] == 801
    # Not answered a second time (that would be a side machine error, or a second 200).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not queues.queues["800"].waiting and not queues.queues["801"].waiting
