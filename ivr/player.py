"""Prompt playback to one endpoint: 20 ms RTP frames from stored G.711 (or G.729) audio.

Pacing: frame ``n`` of a talkspurt is scheduled at ``start + n * ptime`` on the clock (the
event loop's by default), so timer lateness never accumulates; after a stall longer than
``max_lag`` the schedule restarts from now instead of bursting.

One RTP stream per player: a single SSRC, sequence numbers that never jump, timestamps
that advance by each frame's samples and, across a pause in playback, by the real time
elapsed (RFC 3550 §5.1).  The first packet after silence carries the marker bit.

The playback stack is keyed by ``order``: the highest order plays, lower ones wait where
they stopped (order 3 over 2: 2 resumes at the frame where 3 interrupted it once 3 is
done).  ``repeat`` is a count, or -1 for ever.  ``on_completed(order)`` is called when a
prompt has played all its repeats (not when stopped or replaced).  While anything
plays, ``sink.player_active`` is True so a relay holds back what the other leg says.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .payload import PlayoutCodec
from .rtp import RTP_HEADER_SIZE, pack_header_into

logger = logging.getLogger(__name__)

FOREVER = -1


class Clock(Protocol):
    """What the player needs of an event loop (``asyncio`` loops qualify)."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], object], /) -> Any: ...


class RtpSink(Protocol):
    """Where packets go (a :class:`~ivr.endpoint.MediaEndpoint`).  ``send_rtp`` must not
    keep the buffer it is given: the player reuses it for the next frame."""

    player_active: bool

    def send_rtp(self, data: bytes | bytearray | memoryview) -> None: ...


@dataclass(slots=True)
class _Slot:
    order: int
    audio: memoryview
    codec: PlayoutCodec
    repeat_left: int  # plays still to start, counting the current one; FOREVER = -1
    pos: int = 0


class PromptPlayer:
    def __init__(
        self,
        sink: RtpSink,
        codec: PlayoutCodec,
        *,
        clock: Clock | None = None,
        on_completed: Callable[[int], None] | None = None,
        ssrc: int | None = None,
        sequence: int | None = None,
        timestamp: int | None = None,
        clock_rate: int = 8000,
        max_lag: float = 0.1,
    ) -> None:
        if clock is None:
            clock = asyncio.get_running_loop()
        self._sink = sink
        self.codec = codec
        self._clock = clock
        self.on_completed = on_completed
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16) if sequence is None else sequence & 0xFFFF
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp & 0xFFFFFFFF
        self.clock_rate = clock_rate
        self.ptime = codec.samples_per_frame / clock_rate
        self.max_lag = max_lag
        self._slots: dict[int, _Slot] = {}
        self._top: _Slot | None = None
        self._buffer = bytearray(RTP_HEADER_SIZE + codec.frame_bytes)
        self._fill: dict[int, bytes] = {}
        self._handle: Any = None
        self._start = 0.0
        self._frames = 0
        self._next_due: float | None = None  # when the frame after the last one sent was due
        self._marker = True
        self.active = False
        self.packets_sent = 0

    # -- control -------------------------------------------------------------------------

    def play(
        self, audio: bytes | bytearray, order: int = 2, repeat: int = 1, codec: PlayoutCodec | None = None
    ) -> None:
        """Play ``audio`` (already in ``codec``, default the player's) in slot ``order``,
        replacing whatever that slot held."""
        if not audio:
            raise ValueError("cannot play empty audio")
        if repeat == 0 or repeat < FOREVER:
            raise ValueError(f"repeat must be -1 (for ever) or >= 1, not {repeat}")
        codec = codec or self.codec
        if len(self._buffer) < RTP_HEADER_SIZE + codec.frame_bytes:
            self._buffer = bytearray(RTP_HEADER_SIZE + codec.frame_bytes)
        self._slots[order] = _Slot(order, memoryview(bytes(audio)), codec, repeat)
        self._restack()
        if self._handle is None:
            self._begin_talkspurt()

    def stop(self, order: int = 2) -> bool:
        """Stop slot ``order``; a lower slot resumes.  False when it held nothing."""
        if self._slots.pop(order, None) is None:
            return False
        self._restack()
        if self._top is None:
            self._halt()
        return True

    def stop_all(self) -> None:
        self._slots.clear()
        self._top = None
        self._halt()

    close = stop_all

    @property
    def playing_order(self) -> int | None:
        return self._top.order if self._top is not None else None

    @property
    def orders(self) -> list[int]:
        return sorted(self._slots)

    def position(self, order: int) -> int | None:
        """Byte offset reached in slot ``order``'s audio."""
        slot = self._slots.get(order)
        return slot.pos if slot is not None else None

    # -- scheduling ----------------------------------------------------------------------

    def _restack(self) -> None:
        self._top = self._slots[max(self._slots)] if self._slots else None

    def _begin_talkspurt(self) -> None:
        start = self._clock.time()
        due = self._next_due
        if due is not None:
            if start > due:
                # the receiver's clock kept running through the silence: so does ours
                gap = round((start - due) * self.clock_rate)
                self.timestamp = (self.timestamp + gap) & 0xFFFFFFFF
            else:
                start = due  # restarted within a frame of stopping: keep the spacing
        self._marker = True
        self._start = start
        self._frames = 0
        self._set_active(True)
        self._handle = self._clock.call_at(start, self._tick)

    def _halt(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._next_due = self._start + self._frames * self.ptime
        self._set_active(False)

    def _set_active(self, active: bool) -> None:
        self.active = active
        self._sink.player_active = active

    def _tick(self) -> None:
        self._handle = None
        slot = self._top
        if slot is None:
            self._next_due = self._start + self._frames * self.ptime
            self._set_active(False)
            return
        packet, finished = self._frame(slot)
        self._sink.send_rtp(packet)
        self.packets_sent += 1
        if finished:
            del self._slots[slot.order]
            self._restack()
        self._frames += 1
        due = self._start + self._frames * self.ptime
        now = self._clock.time()
        if now - due > self.max_lag:
            logger.debug("prompt playback %.0f ms late: restarting the schedule", (now - due) * 1000)
            self._start = now - self._frames * self.ptime
            due = now
        self._handle = self._clock.call_at(due, self._tick)
        if finished and self.on_completed is not None:
            try:
                self.on_completed(slot.order)
            except Exception:
                logger.exception("on_completed callback failed for order %d", slot.order)

    # -- frames --------------------------------------------------------------------------

    def _frame(self, slot: _Slot) -> tuple[memoryview, bool]:
        """The next packet of ``slot`` (written into the reused buffer) and whether it was
        the slot's last."""
        codec = slot.codec
        size = codec.frame_bytes
        buf = self._buffer
        audio = slot.audio
        length = len(audio)
        pos = slot.pos
        filled = 0
        finished = False
        while filled < size:
            take = min(size - filled, length - pos)
            start = RTP_HEADER_SIZE + filled
            buf[start : start + take] = audio[pos : pos + take]
            filled += take
            pos += take
            if pos >= length:
                if slot.repeat_left == 1:
                    finished = True
                    break
                if slot.repeat_left > 1:
                    slot.repeat_left -= 1
                pos = 0
        slot.pos = pos
        if filled < size and codec.silence is not None:
            pad = self._fill.get(codec.silence)
            if pad is None or len(pad) < size:
                pad = self._fill[codec.silence] = bytes((codec.silence,)) * size
            buf[RTP_HEADER_SIZE + filled : RTP_HEADER_SIZE + size] = pad[: size - filled]
            filled = size
        pack_header_into(buf, codec.payload_type, self.sequence, self.timestamp, self.ssrc, self._marker)
        self._marker = False
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + filled * codec.samples_per_byte) & 0xFFFFFFFF
        return memoryview(buf)[: RTP_HEADER_SIZE + filled], finished
