"""RFC 4733 telephone-events (DTMF over RTP, formerly RFC 2833): payload codec, a
per-stream receiver that reports each digit once, and a sender-side packet generator.

Payload (RFC 4733 §2.3)::

    0                   1                   2                   3
    |     event     |E|R| volume    |          duration             |

Receiver rules (§2.5.2): all packets of one event share its RTP timestamp; the end
packet (E bit) is usually sent three times; a new timestamp is a new event; an event
longer than the 16-bit duration field is split into segments whose timestamps advance
by the previous segment's duration (§2.5.1.3); a packet with an older timestamp is late.
The receiver is sans-I/O: it takes the RTP timestamp, the payload and ``now``.
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

EVENT_DIGITS = "0123456789*#ABCD"
DIGIT_EVENTS: dict[str, int] = {d: i for i, d in enumerate(EVENT_DIGITS)}
DIGIT_EVENTS.update({d.lower(): i for i, d in enumerate(EVENT_DIGITS) if d.isalpha()})
EVENT_PAYLOAD_SIZE = 4
MAX_SEGMENT_DURATION = 0xFFFF

_EVENT = struct.Struct("!BBH")
_NO_DIGITS: tuple[DtmfDigit, ...] = ()


class DtmfError(ValueError):
    """A telephone-event payload that cannot be parsed or built."""


@dataclass(slots=True, frozen=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # 0-63, in -dBm0
    duration: int  # in RTP timestamp units since the event (segment) started

    @property
    def digit(self) -> str | None:
        """``'0'``-``'9'``, ``'*'``, ``'#'``, ``'A'``-``'D'``; ``None`` for other events (flash, ...)."""
        return EVENT_DIGITS[self.event] if self.event < 16 else None


@dataclass(slots=True, frozen=True)
class DtmfDigit:
    """One reported key press."""

    digit: str
    duration_ms: int
    timestamp: int  # RTP timestamp of the event's first segment


def parse_telephone_event(payload: bytes | bytearray | memoryview, offset: int = 0) -> TelephoneEvent:
    """Parse the first event of a telephone-event payload at ``offset``."""
    if len(payload) - offset < EVENT_PAYLOAD_SIZE:
        raise DtmfError(f"telephone-event payload needs 4 bytes, got {max(len(payload) - offset, 0)}")
    event, flags, duration = _EVENT.unpack_from(payload, offset)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def build_telephone_event(event: int | str, end: bool, volume: int, duration: int) -> bytes:
    """Serialise one event; ``event`` is a code 0-255 or a DTMF digit character."""
    code = digit_event(event) if isinstance(event, str) else event
    if not 0 <= code <= 255:
        raise DtmfError(f"event code {code} out of range")
    if not 0 <= volume <= 63:
        raise DtmfError(f"volume {volume} out of range 0-63")
    if not 0 <= duration <= MAX_SEGMENT_DURATION:
        raise DtmfError(f"duration {duration} out of range 0-65535")
    return _EVENT.pack(code, (0x80 if end else 0) | volume, duration)


def digit_event(digit: str) -> int:
    try:
        return DIGIT_EVENTS[digit]
    except KeyError:
        raise DtmfError(f"not a DTMF digit: {digit!r}") from None


class ReceiverState(enum.Enum):
    IDLE = "idle"  # nothing seen yet
    IN_EVENT = "in_event"  # an event started and has not ended
    ENDED = "ended"  # the last event was reported; its late/retransmitted packets are ignored


class Rfc4733Receiver:
    """Turns one RTP stream's telephone-event packets into :class:`DtmfDigit` reports,
    each key press exactly once, at its end (when its duration is known).

    ``feed`` and ``poll`` return a (usually empty) sequence: an event whose end packets
    were all lost is reported when the next event starts or when ``poll`` finds no packet
    for ``timeout`` seconds.
    """

    __slots__ = (
        "_base_duration",
        "_event",
        "_first_ts",
        "_last_packet",
        "_segment_duration",
        "_segment_ts",
        "bad_packets",
        "clock_rate",
        "state",
        "timeout",
    )

    def __init__(self, clock_rate: int = 8000, timeout: float = 1.0) -> None:
        self.clock_rate = clock_rate
        self.timeout = timeout
        self.state = ReceiverState.IDLE
        self._event = -1
        self._first_ts = 0
        self._segment_ts = 0
        self._segment_duration = 0
        self._base_duration = 0  # samples in earlier segments of a long event
        self._last_packet = 0.0
        self.bad_packets = 0

    @property
    def in_event(self) -> bool:
        return self.state is ReceiverState.IN_EVENT

    @property
    def current_digit(self) -> str | None:
        """The digit being pressed right now (started, not yet ended)."""
        if self.state is ReceiverState.IN_EVENT and self._event < 16:
            return EVENT_DIGITS[self._event]
        return None

    def reset(self) -> None:
        """Forget the stream (a new SSRC: its timestamps are unrelated to the old ones)."""
        self.state = ReceiverState.IDLE
        self._event = -1

    def feed(
        self, timestamp: int, payload: bytes | bytearray | memoryview, now: float, offset: int = 0
    ) -> Sequence[DtmfDigit]:
        try:
            ev = parse_telephone_event(payload, offset)
        except DtmfError:
            self.bad_packets += 1
            return _NO_DIGITS
        state = self.state
        if state is ReceiverState.IDLE:
            return self._start(ev, timestamp, now, _NO_DIGITS)
        delta = (timestamp - self._segment_ts) & 0xFFFFFFFF
        if delta == 0:
            if state is ReceiverState.ENDED or ev.event != self._event:
                return _NO_DIGITS  # retransmitted end packet, or a stray
            self._last_packet = now
            self._segment_duration = max(self._segment_duration, ev.duration)
            if ev.end:
                return self._finish()
            return _NO_DIGITS
        if delta >= 0x80000000:
            return _NO_DIGITS  # older timestamp: a late packet of an earlier event
        if state is ReceiverState.IN_EVENT:
            if ev.event == self._event and self._is_next_segment(delta):
                self._base_duration += self._segment_duration
                self._segment_ts = timestamp
                self._segment_duration = ev.duration
                self._last_packet = now
                if ev.end:
                    return self._finish()
                return _NO_DIGITS
            lost_end = self._finish()  # its end packets never came
            return self._start(ev, timestamp, now, lost_end)
        return self._start(ev, timestamp, now, _NO_DIGITS)

    def poll(self, now: float) -> Sequence[DtmfDigit]:
        """End an event whose packets stopped without an end packet."""
        if self.state is ReceiverState.IN_EVENT and now - self._last_packet >= self.timeout:
            return self._finish()
        return _NO_DIGITS

    def _is_next_segment(self, delta: int) -> bool:
        # §2.5.1.3: the next segment starts where the previous one's duration ends.  Allow a
        # packet interval of slack for senders that round the segment boundary.
        seg = self._segment_duration
        return (
            seg >= MAX_SEGMENT_DURATION - self.clock_rate // 10 and abs(delta - seg) <= self.clock_rate // 10
        )

    def _start(
        self, ev: TelephoneEvent, timestamp: int, now: float, pending: Sequence[DtmfDigit]
    ) -> Sequence[DtmfDigit]:
        self.state = ReceiverState.IN_EVENT
        self._event = ev.event
        self._first_ts = timestamp
        self._segment_ts = timestamp
        self._segment_duration = ev.duration
        self._base_duration = 0
        self._last_packet = now
        if ev.end:
            return (*pending, *self._finish())
        return pending

    def _finish(self) -> Sequence[DtmfDigit]:
        self.state = ReceiverState.ENDED
        if self._event >= 16:
            return _NO_DIGITS  # not a DTMF key (flash, tones): tracked but not reported
        samples = self._base_duration + self._segment_duration
        ms = (samples * 1000 + self.clock_rate // 2) // self.clock_rate
        return (DtmfDigit(EVENT_DIGITS[self._event], ms, self._first_ts),)


@dataclass(slots=True, frozen=True)
class EventPacket:
    """One telephone-event RTP packet to send ``offset_ms`` after the key press began."""

    offset_ms: int
    timestamp: int
    marker: bool
    payload: bytes


def generate_event_packets(
    digit: str,
    duration_ms: int,
    start_timestamp: int,
    *,
    clock_rate: int = 8000,
    interval_ms: int = 20,
    volume: int = 10,
    end_repeats: int = 3,
) -> list[EventPacket]:
    """The packets a sender emits for one key press (RFC 4733 §2.5.1): one every
    ``interval_ms`` with a growing duration, the first with the marker bit, long
    presses split into segments, and the end packet sent ``end_repeats`` times."""
    code = digit_event(digit)
    if duration_ms <= 0:
        raise DtmfError("duration must be positive")
    if end_repeats < 1:
        raise DtmfError("at least one end packet")
    total = duration_ms * clock_rate // 1000
    step = interval_ms * clock_rate // 1000
    packets: list[EventPacket] = []
    seg_ts = start_timestamp & 0xFFFFFFFF
    seg_base = 0  # samples covered by closed segments
    offset = 0
    first = True

    def close_segment_if_full(elapsed: int) -> None:
        nonlocal seg_ts, seg_base
        while elapsed - seg_base > MAX_SEGMENT_DURATION:
            # the segment ends at the field's maximum; the next one starts where it ended
            payload = build_telephone_event(code, False, volume, MAX_SEGMENT_DURATION)
            packets.append(EventPacket(offset, seg_ts, False, payload))
            seg_base += MAX_SEGMENT_DURATION
            seg_ts = (seg_ts + MAX_SEGMENT_DURATION) & 0xFFFFFFFF

    elapsed = step
    while elapsed < total:
        close_segment_if_full(elapsed)
        payload = build_telephone_event(code, False, volume, elapsed - seg_base)
        packets.append(EventPacket(offset, seg_ts, first, payload))
        first = False
        elapsed += step
        offset += interval_ms
    close_segment_if_full(total)
    end_payload = build_telephone_event(code, True, volume, total - seg_base)
    for i in range(end_repeats):
        packets.append(EventPacket(offset + i * interval_ms, seg_ts, first and i == 0, end_payload))
    return packets
