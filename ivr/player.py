"""Prompt playback to one endpoint: 20 ms RTP frames from stored G.711 (or G.729) audio.

Pacing: frame ``n`` of a talkspurt is due at ``start + n * ptime`` on the clock (the event
loop's by default), so timer lateness never accumulates; after a stall longer than
``max_lag`` the schedule restarts from now instead of bursting.  Every player of one clock
and frame time shares one :class:`PlayoutTicker`: one timer per 20 ms sends a frame of each
playing prompt, in a stable order.  With a timer per player (25,000 timers a second at 500
calls) the CPU goes to timers and the order in which they fire changes from tick to tick,
so each stream's lateness wanders (jitter and drift at the receiver); with one ticker a
stream is late by about the same few milliseconds every time.

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
from typing import Any, ClassVar, Protocol

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


class PlayoutTicker:
    """The shared frame clock of the players of one ``clock`` and frame time (see module doc).

    Players ``join`` with the time their talkspurt should start; it is moved to the ticker's
    next tick when the ticker already runs (at most one frame time later), so every frame of
    every player goes out from the same timer callback.
    """

    _registry: ClassVar[dict[tuple[int, float], PlayoutTicker]] = {}

    def __init__(self, clock: Clock, ptime: float, max_lag: float) -> None:
        self.clock = clock
        self.ptime = ptime
        self.max_lag = max_lag
        self._players: dict[PromptPlayer, None] = {}  # insertion-ordered set
        self._due = 0.0
        self._handle: Any = None

    @classmethod
    def of(cls, clock: Clock, ptime: float, max_lag: float) -> PlayoutTicker:
        key = (id(clock), ptime)
        ticker = cls._registry.get(key)
        if ticker is None or ticker.clock is not clock:
            ticker = cls._registry[key] = cls(clock, ptime, max_lag)
        return ticker

    def join(self, player: PromptPlayer, start: float) -> float:
        """Add ``player``; returns when its first frame goes out (``start`` or the next tick)."""
        if self._handle is None:
            self._due = start
            self._handle = self.clock.call_at(start, self._fire)
        elif start > self._due:
            ticks = -(-(start - self._due) // self.ptime)  # ceil: the first tick at or after start
            start = self._due + ticks * self.ptime
        else:
            start = self._due
        self._players[player] = None
        return start

    def leave(self, player: PromptPlayer) -> None:
        self._players.pop(player, None)
        if not self._players and self._handle is not None:
            self._handle.cancel()
            self._handle = None
            if self._registry.get((id(self.clock), self.ptime)) is self:
                del self._registry[(id(self.clock), self.ptime)]

    def _fire(self) -> None:
        self._handle = None
        due = self._due
        for player in list(self._players):
            if player._ticker is self and player._start <= due + 1e-9:
                player._tick()
        if not self._players:
            if self._registry.get((id(self.clock), self.ptime)) is self:
                del self._registry[(id(self.clock), self.ptime)]
            return
        due += self.ptime
        now = self.clock.time()
        if now - due > self.max_lag:
            logger.debug("prompt playback %.0f ms late: restarting the schedule", (now - due) * 1000)
            for player in self._players:
                player._start = now - player._frames * self.ptime
            due = now
        self._due = due
        self._handle = self.clock.call_at(due, self._fire)


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
        self._ticker: PlayoutTicker | None = None  # set while a talkspurt plays
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
        if self._ticker is None:
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
        ticker = self._ticker = PlayoutTicker.of(self._clock, self.ptime, self.max_lag)
        later = ticker.join(self, start)
        if later > start:
            self.timestamp = (self.timestamp + round((later - start) * self.clock_rate)) & 0xFFFFFFFF
        self._start = later
        self._frames = 0
        self._set_active(True)

    def _halt(self) -> None:
        ticker = self._ticker
        if ticker is not None:
            self._ticker = None
            ticker.leave(self)
            self._next_due = self._start + self._frames * self.ptime
        self._set_active(False)

    def _set_active(self, active: bool) -> None:
        self.active = active
        self._sink.player_active = active

    def _tick(self) -> None:
        """One frame (the ticker calls this once per frame time while the talkspurt lasts)."""
        slot = self._top
        if slot is None:
            self._halt()
            return
        packet, finished = self._frame(slot)
        self._sink.send_rtp(packet)
        self.packets_sent += 1
        self._frames += 1
        if not finished:
            return
        del self._slots[slot.order]
        self._restack()
        if self._top is None:
            self._halt()  # the last frame is out: silence from the next tick on
        if self.on_completed is not None:
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
