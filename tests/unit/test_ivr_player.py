from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

import pytest

from ivr.endpoint import MediaEndpoint
from ivr.payload import PayloadFacts, PlayoutCodec
from ivr.player import FOREVER, PromptPlayer
from ivr.ports import PortPairAllocator
from ivr.rtp import RtpPacket, parse_rtp

PCMU = PlayoutCodec.for_codec("PCMU")
PCMA = PlayoutCodec.for_codec("PCMA")
G729 = PlayoutCodec.for_codec("G729")


class Handle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Controllable time: callbacks run when ``advance`` passes their time, ``lateness``
    seconds after it (a busy loop)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.lateness = 0.0
        self._heap: list[tuple[float, int, Callable[[], object], Handle]] = []
        self._ids = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], object]) -> Handle:
        handle = Handle()
        heapq.heappush(self._heap, (when, next(self._ids), callback, handle))
        return handle

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._heap and self._heap[0][0] + self.lateness <= target:
            when, _, callback, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            self.now = max(self.now, when + self.lateness)
            callback()
        self.now = target


class Sink:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.player_active = False
        self.sent: list[tuple[float, RtpPacket]] = []

    def send_rtp(self, data) -> None:
        self.sent.append((self.clock.now, parse_rtp(bytes(data))))

    @property
    def packets(self) -> list[RtpPacket]:
        return [p for _, p in self.sent]


def numbered_frames(count: int, tag: int) -> bytes:
    """Audio whose every 160-byte frame says which prompt and frame it is."""
    return b"".join(bytes([tag, n]) * 80 for n in range(count))


def frame_id(packet: RtpPacket) -> tuple[int, int]:
    return packet.payload[0], packet.payload[1]


def make(codec: PlayoutCodec = PCMU, **kw) -> tuple[FakeClock, Sink, PromptPlayer, list[int]]:
    clock = FakeClock()
    sink = Sink(clock)
    completed: list[int] = []
    player = PromptPlayer(sink, codec, clock=clock, on_completed=completed.append, ssrc=0xABCDEF01, **kw)
    return clock, sink, player, completed


def assert_continuous(packets: list[RtpPacket], step: int = 160) -> None:
    for a, b in itertools.pairwise(packets):
        assert b.sequence == (a.sequence + 1) & 0xFFFF
        assert b.timestamp == (a.timestamp + step) & 0xFFFFFFFF
        assert b.ssrc == a.ssrc


def test_frames_paced_at_start_plus_n_times_20ms() -> None:
    clock, sink, player, completed = make(sequence=65530, timestamp=2**32 - 320)
    start = clock.now
    player.play(numbered_frames(50, 1))
    assert sink.player_active and player.active
    clock.advance(2.0)
    packets = sink.packets
    assert len(packets) == 50
    assert [frame_id(p) for p in packets] == [(1, n) for n in range(50)]
    assert [t for t, _ in sink.sent] == pytest.approx([start + n * 0.02 for n in range(50)])
    assert [p.marker for p in packets] == [True] + [False] * 49
    assert {p.payload_type for p in packets} == {0} and {p.payload_size for p in packets} == {160}
    assert_continuous(packets)  # across the seq and timestamp wrap
    assert packets[0].sequence == 65530 and packets[-1].sequence == (65530 + 49) & 0xFFFF
    assert completed == [2]
    assert not player.active and not sink.player_active


def test_late_timers_do_not_accumulate_drift() -> None:
    clock, sink, player, _ = make()
    clock.lateness = 0.007  # every callback runs 7 ms late
    start = clock.now
    player.play(numbered_frames(100, 1))
    clock.advance(3.0)
    times = [t for t, _ in sink.sent]
    assert len(times) == 100
    for n, t in enumerate(times):
        assert 0 <= t - (start + n * 0.02) <= 0.0071  # late by the lateness, never by more


def test_stall_restarts_schedule_instead_of_bursting() -> None:
    clock, sink, player, _ = make(max_lag=0.1)
    player.play(numbered_frames(30, 1))
    clock.advance(0.1)  # frames 0-5
    sent = len(sink.sent)
    clock.now += 0.5  # the loop was blocked for half a second
    clock.advance(0.1)
    times = [t for t, _ in sink.sent[sent:]]
    assert len(times) <= 7  # no burst of the 25 "missed" frames
    assert all(b - a == pytest.approx(0.02) for a, b in itertools.pairwise(times[1:]))
    assert_continuous(sink.packets)


def test_order_3_pauses_order_2_which_resumes_where_it_stopped() -> None:
    clock, sink, player, completed = make()
    player.play(numbered_frames(10, 2), order=2)
    clock.advance(0.09)  # frames 0..4 of prompt 2 (at 0, 20, 40, 60, 80 ms)
    player.play(numbered_frames(3, 3), order=3)
    assert player.playing_order == 3 and player.orders == [2, 3]
    clock.advance(1.0)
    ids = [frame_id(p) for p in sink.packets]
    assert ids == [(2, n) for n in range(5)] + [(3, n) for n in range(3)] + [(2, n) for n in range(5, 10)]
    assert completed == [3, 2]
    packets = sink.packets
    assert_continuous(packets)
    assert [p.marker for p in packets].count(True) == 1  # one talkspurt


def test_repeat_wraps_seamlessly_and_pads_the_last_frame() -> None:
    clock, sink, player, completed = make()
    audio = bytes(range(200))  # 1.25 frames
    player.play(audio, repeat=2)
    clock.advance(1.0)
    payload = b"".join(p.payload for p in sink.packets)
    assert payload == audio + audio + b"\xff" * 80  # 400 bytes of audio then u-law silence
    assert completed == [2]


def test_pcma_pads_with_alaw_silence_and_g729_sends_short_last_frame() -> None:
    clock, sink, player, _ = make(PCMA)
    player.play(b"\x11" * 170)
    clock.advance(0.5)
    assert [p.payload for p in sink.packets] == [b"\x11" * 160, b"\x11" * 10 + b"\xd5" * 150]
    assert {p.payload_type for p in sink.packets} == {8}

    clock, sink, player, _ = make(G729)
    player.play(b"\x22" * 50)  # 5 G.729 frames = 50 ms
    clock.advance(0.5)
    packets = sink.packets
    assert [p.payload_size for p in packets] == [20, 20, 10]
    assert {p.payload_type for p in packets} == {18}
    assert [b.timestamp - a.timestamp for a, b in itertools.pairwise(packets)] == [160, 160]


def test_forever_until_stopped_and_stop_gives_no_completion() -> None:
    clock, sink, player, completed = make()
    player.play(numbered_frames(2, 1), repeat=FOREVER)
    clock.advance(2.0)
    assert len(sink.sent) == 101 and player.active
    assert player.stop(2) is True
    assert not player.active and not sink.player_active
    clock.advance(1.0)
    assert len(sink.sent) == 101
    assert completed == []
    assert player.stop(2) is False


def test_new_talkspurt_after_silence_sets_marker_and_advances_timestamp() -> None:
    clock, sink, player, _ = make()
    player.play(numbered_frames(2, 1))
    clock.advance(0.1)
    first = sink.packets
    assert len(first) == 2 and not player.active
    clock.advance(0.96)  # silence
    player.play(numbered_frames(2, 2))
    clock.advance(0.1)
    second = sink.packets[2:]
    assert second[0].marker and not second[1].marker
    assert second[0].sequence == (first[-1].sequence + 1) & 0xFFFF
    # the receiver's clock ran on: play again 1.06 s after the first packet = 8480 samples
    assert (second[0].timestamp - first[0].timestamp) & 0xFFFFFFFF == pytest.approx(8480, abs=2)


def test_stopping_the_paused_slot_and_replacing_a_slot() -> None:
    clock, sink, player, completed = make()
    player.play(numbered_frames(10, 2), order=2)
    clock.advance(0.03)  # 2 frames
    player.play(numbered_frames(2, 3), order=3)
    assert player.stop(2) is True  # the paused one: 3 keeps playing
    player.play(numbered_frames(2, 4), order=3)  # replaces 3 from its start
    clock.advance(1.0)
    assert [frame_id(p) for p in sink.packets] == [(2, 0), (2, 1), (4, 0), (4, 1)]
    assert completed == [3]


def test_completion_callback_may_start_the_next_prompt() -> None:
    clock, sink, player, completed = make()

    def next_prompt(order: int) -> None:
        completed.append(order)
        if len(completed) == 1:
            player.play(numbered_frames(1, 9), order=2)

    player.on_completed = next_prompt
    player.play(numbered_frames(1, 8), order=2)
    clock.advance(0.5)
    assert [frame_id(p) for p in sink.packets] == [(8, 0), (9, 0)]
    assert_continuous(sink.packets)
    assert completed == [2, 2]


def test_bad_arguments() -> None:
    _, _, player, _ = make()
    with pytest.raises(ValueError):
        player.play(b"")
    with pytest.raises(ValueError):
        player.play(b"x", repeat=0)
    with pytest.raises(ValueError):
        player.play(b"x", repeat=-2)


async def test_player_over_a_real_endpoint_and_socket() -> None:
    loop = asyncio.get_running_loop()
    alloc = PortPairAllocator(45000, 45999)
    endpoint = await MediaEndpoint.open(alloc, "127.0.0.1")
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    class Receiver(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            queue.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Receiver, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        endpoint.set_remote("127.0.0.1", port, PayloadFacts(codec="PCMA", payload_type=8))
        done = asyncio.Event()
        player = PromptPlayer(
            endpoint, PlayoutCodec.for_leg(endpoint.facts), on_completed=lambda o: done.set()
        )
        player.play(numbered_frames(5, 7))
        assert endpoint.player_active
        await asyncio.wait_for(done.wait(), 2.0)
        packets = [parse_rtp(await asyncio.wait_for(queue.get(), 2.0)) for _ in range(5)]
        assert [frame_id(p) for p in packets] == [(7, n) for n in range(5)]
        assert {p.payload_type for p in packets} == {8}
        assert_continuous(packets)
        assert packets[0].marker and endpoint.packets_out == 5
    finally:
        transport.close()
        endpoint.close()


def test_players_of_one_clock_share_one_ticker_and_tick_together() -> None:
    clock = FakeClock()
    sinks = [Sink(clock), Sink(clock)]
    first = PromptPlayer(sinks[0], PCMU, clock=clock, ssrc=1, timestamp=0)
    second = PromptPlayer(sinks[1], PCMU, clock=clock, ssrc=2, timestamp=0)
    start = clock.now
    first.play(numbered_frames(10, 1))
    clock.advance(0.027)  # the second joins between two ticks: it waits for the next one
    second.play(numbered_frames(5, 2))
    assert len(clock._heap) == 1  # one timer for both
    clock.advance(1.0)
    times_1 = [t for t, _ in sinks[0].sent]
    times_2 = [t for t, _ in sinks[1].sent]
    assert times_1 == pytest.approx([start + n * 0.02 for n in range(10)])
    assert times_2 == pytest.approx([start + (2 + n) * 0.02 for n in range(5)])  # on the shared grid
    # the RTP clock counted the 13 ms it waited for the grid
    assert sinks[1].packets[0].timestamp == round(0.013 * 8000)
    assert_continuous(sinks[1].packets)
    assert not clock._heap or all(h.cancelled for *_, h in clock._heap)  # idle: no timer left running
