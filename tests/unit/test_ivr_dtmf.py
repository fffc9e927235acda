from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.dtmf import (
    DtmfDigit,
    DtmfError,
    ReceiverState,
    Rfc4733Receiver,
    build_telephone_event,
    generate_event_packets,
    parse_telephone_event,
)

DIGITS = "0123456789*#ABCD"


def ev(event: int, end: bool, duration: int, volume: int = 10) -> bytes:
    return build_telephone_event(event, end, volume, duration)


def test_payload_round_trip_and_bytes() -> None:
    assert build_telephone_event("5", True, 10, 800) == bytes([5, 0x80 | 10, 0x03, 0x20])
    parsed = parse_telephone_event(bytes([11, 0x0A, 0x01, 0x40]))
    assert (parsed.event, parsed.end, parsed.volume, parsed.duration, parsed.digit) == (
        11,
        False,
        10,
        320,
        "#",
    )
    assert parse_telephone_event(ev(16, False, 0)).digit is None  # flash
    assert parse_telephone_event(b"xx" + ev(3, True, 9), offset=2).event == 3
    assert [parse_telephone_event(ev(i, False, 1)).digit for i in range(16)] == list(DIGITS)
    assert build_telephone_event("a", False, 0, 0)[0] == 12


@pytest.mark.parametrize(
    "call",
    [
        lambda: parse_telephone_event(b"\x01\x02\x03"),
        lambda: build_telephone_event("x", False, 0, 0),
        lambda: build_telephone_event(1, False, 64, 0),
        lambda: build_telephone_event(1, False, 0, 70000),
        lambda: generate_event_packets("1", 0, 0),
    ],
)
def test_bad_payloads_raise_dtmf_error(call) -> None:
    with pytest.raises(DtmfError):
        call()


def test_one_press_reported_once_despite_three_end_packets() -> None:
    rx = Rfc4733Receiver()
    ts = 48000
    out: list[DtmfDigit] = []
    for i, dur in enumerate((160, 320, 480, 640)):
        out += rx.feed(ts, ev(7, False, dur), now=i * 0.02)
        assert rx.current_digit == "7"
    assert out == []
    for i in range(3):
        out += rx.feed(ts, ev(7, True, 800), now=0.1 + i * 0.02)
    assert out == [DtmfDigit("7", 100, ts)]
    assert rx.state is ReceiverState.ENDED and rx.current_digit is None
    # a late non-end packet of the same event changes nothing
    assert list(rx.feed(ts, ev(7, False, 640), now=0.2)) == []


def test_same_digit_twice_is_two_presses() -> None:
    rx = Rfc4733Receiver()
    out: list[DtmfDigit] = []
    for ts in (1000, 3000):
        out += rx.feed(ts, ev(1, False, 160), now=0)
        for _ in range(3):
            out += rx.feed(ts, ev(1, True, 400), now=0)
    assert out == [DtmfDigit("1", 50, 1000), DtmfDigit("1", 50, 3000)]


def test_lost_end_packets_reported_when_next_event_starts() -> None:
    rx = Rfc4733Receiver()
    assert list(rx.feed(100, ev(2, False, 160), 0.0)) == []
    assert list(rx.feed(100, ev(2, False, 480), 0.04)) == []
    # next press begins: the first one ends with the last duration seen
    assert list(rx.feed(2000, ev(3, False, 160), 0.3)) == [DtmfDigit("2", 60, 100)]
    assert list(rx.feed(2000, ev(3, True, 320), 0.32)) == [DtmfDigit("3", 40, 2000)]


def test_single_packet_event_after_an_unfinished_one_gives_both() -> None:
    rx = Rfc4733Receiver()
    rx.feed(100, ev(4, False, 160), 0.0)
    assert list(rx.feed(900, ev(5, True, 320), 0.1)) == [DtmfDigit("4", 20, 100), DtmfDigit("5", 40, 900)]


def test_poll_ends_a_stalled_event() -> None:
    rx = Rfc4733Receiver(timeout=0.5)
    rx.feed(100, ev(9, False, 800), now=10.0)
    assert list(rx.poll(10.4)) == []
    assert list(rx.poll(10.5)) == [DtmfDigit("9", 100, 100)]
    assert list(rx.poll(11.0)) == []
    assert list(rx.feed(100, ev(9, True, 880), now=11.0)) == []  # its late end: already reported


def test_late_packet_of_an_older_event_is_ignored() -> None:
    rx = Rfc4733Receiver()
    rx.feed(5000, ev(1, True, 400), 0)
    assert list(rx.feed(4000, ev(0, False, 160), 0)) == []
    assert list(rx.feed(4000, ev(0, True, 400), 0)) == []
    assert rx.state is ReceiverState.ENDED


def test_timestamp_wraparound() -> None:
    rx = Rfc4733Receiver()
    out = list(rx.feed(0xFFFFFF00, ev(6, True, 400), 0))
    out += rx.feed(0x00000100, ev(8, True, 400), 0)  # newer, across the wrap
    assert [d.digit for d in out] == ["6", "8"]


def test_non_dtmf_events_are_tracked_not_reported() -> None:
    rx = Rfc4733Receiver()
    assert list(rx.feed(10, ev(16, True, 800), 0)) == []
    assert list(rx.feed(900, ev(0, True, 800), 0)) == [DtmfDigit("0", 100, 900)]


def test_bad_payload_counted_not_fatal() -> None:
    rx = Rfc4733Receiver()
    assert list(rx.feed(1, b"\x01", 0)) == []
    assert rx.bad_packets == 1 and rx.state is ReceiverState.IDLE


def test_generator_packet_shape() -> None:
    packets = generate_event_packets("#", 100, 1234, interval_ms=20)
    assert [p.marker for p in packets] == [True] + [False] * (len(packets) - 1)
    assert {p.timestamp for p in packets} == {1234}
    events = [parse_telephone_event(p.payload) for p in packets]
    assert [e.duration for e in events if not e.end] == [160, 320, 480, 640]
    ends = [e for e in events if e.end]
    assert len(ends) == 3 and {e.duration for e in ends} == {800}
    assert [p.offset_ms for p in packets] == [0, 20, 40, 60, 80, 100, 120]


def test_long_event_is_segmented_and_reassembled() -> None:
    packets = generate_event_packets("5", 20_000, 0xFFFF0000)
    segments = sorted({p.timestamp for p in packets}, key=lambda t: (t - 0xFFFF0000) & 0xFFFFFFFF)
    assert len(segments) == 3  # 160000 samples = 65535 + 65535 + 28930
    assert all(parse_telephone_event(p.payload).duration <= 0xFFFF for p in packets)
    rx = Rfc4733Receiver()
    out: list[DtmfDigit] = []
    for p in packets:
        out += rx.feed(p.timestamp, p.payload, p.offset_ms / 1000)
    assert out == [DtmfDigit("5", 20_000, 0xFFFF0000)]


@settings(max_examples=200, deadline=None)
@given(
    digit=st.sampled_from(DIGITS),
    duration_ms=st.integers(20, 12_000),
    start=st.integers(0, 0xFFFFFFFF),
    interval=st.sampled_from([10, 20, 50]),
    seed=st.integers(0, 2**32),
)
def test_any_press_any_order_reported_once_with_its_duration(
    digit: str, duration_ms: int, start: int, interval: int, seed: int
) -> None:
    packets = generate_event_packets(digit, duration_ms, start, interval_ms=interval)
    # reorder within each segment (networks reorder, never across a whole second)
    rng = random.Random(seed)
    by_segment: dict[int, list] = {}
    for p in packets:
        by_segment.setdefault(p.timestamp, []).append(p)
    shuffled = []
    for group in by_segment.values():
        if len(by_segment) == 1:
            rng.shuffle(group)
        shuffled += group
    rx = Rfc4733Receiver()
    out: list[DtmfDigit] = []
    for p in shuffled:
        out += rx.feed(p.timestamp, p.payload, 0.0)
    out += rx.poll(100.0)
    assert [d.digit for d in out] == [digit]
    assert out[0].duration_ms == duration_ms
