"""Relay between two media endpoints: RTP and RTCP received on A leave from B towards
B's remote, and the other way round.

Payload types are translated by encoding name when the legs negotiated different ones
(pjsua offers telephone-event 120 and only accepts 120, while the other leg may use
101), and PCMU <-> PCMA is transcoded with a 256-byte table when the legs' audio codecs
differ.  When nothing needs translating the packet is forwarded as received, with no
copy.  Each direction can be paused (hold, a prompt played to one side), and nothing is
relayed towards an endpoint whose :class:`~ivr.player.PromptPlayer` is sending.
"""

from __future__ import annotations

import logging

from .endpoint import MediaEndpoint
from .g711 import ALAW_TO_ULAW, ULAW_TO_ALAW
from .payload import PCMA, PCMU
from .rtp import try_parse_rtp

logger = logging.getLogger(__name__)

_TRANSCODE = {(PCMU, PCMA): ULAW_TO_ALAW, (PCMA, PCMU): ALAW_TO_ULAW}
_CODEC_PAIR = {PCMU: PCMA, PCMA: PCMU}
_IDENTITY = bytes(range(128))


class _Direction:
    """Forwarding state for one direction (source -> target)."""

    __slots__ = ("dropped", "forwarded", "paused", "pt_map", "source", "target", "transcode")

    def __init__(self, source: MediaEndpoint, target: MediaEndpoint) -> None:
        self.source = source
        self.target = target
        self.paused = False
        self.pt_map: bytes | None = None  # 128 entries; None when every PT maps to itself
        self.transcode: list[bytes | None] | None = None  # per source PT: translate table
        self.forwarded = 0
        self.dropped = 0
        self.rebuild()

    def rebuild(self) -> None:
        src, dst = self.source.facts, self.target.facts
        mapping = bytearray(range(128))
        tables: list[bytes | None] = [None] * 128
        for pt in range(128):
            name = src.encoding_of(pt)
            if name is None:
                continue  # unknown to us: pass through untouched
            out = dst.payload_type_for(name)
            if out is None and name in _CODEC_PAIR:
                # the target does not take this G.711 law but takes the other one
                other = _CODEC_PAIR[name]
                out = dst.payload_type_for(other)
                if out is not None:
                    tables[pt] = _TRANSCODE[(name, other)]
            if out is not None:
                mapping[pt] = out
        self.transcode = tables if any(t is not None for t in tables) else None
        self.pt_map = None if mapping == _IDENTITY and self.transcode is None else bytes(mapping)

    def forward(self, data: bytes) -> None:
        target = self.target
        if self.paused or target.player_active:
            self.dropped += 1
            return
        pt_map = self.pt_map
        if pt_map is not None:
            b1 = data[1]
            pt = b1 & 0x7F
            new_pt = pt_map[pt]
            transcode = self.transcode
            table = transcode[pt] if transcode is not None else None
            if table is not None:
                packet = try_parse_rtp(data)
                if packet is None:
                    self.dropped += 1
                    return
                offset = packet.payload_offset
                out = bytearray(data[:offset])
                out[1] = (b1 & 0x80) | new_pt
                out += data[offset : packet.payload_end].translate(table)
                out += data[packet.payload_end :]
                target.send_rtp(out)
                self.forwarded += 1
                return
            if new_pt != pt:
                out = bytearray(data)
                out[1] = (b1 & 0x80) | new_pt
                target.send_rtp(out)
                self.forwarded += 1
                return
        target.send_rtp(data)
        self.forwarded += 1

    def forward_rtcp(self, data: bytes) -> None:
        # RTCP keeps flowing while audio is paused: it reports on the stream, not in it.
        self.target.send_rtcp(data)


class Relay:
    """Joins endpoints ``a`` and ``b``; :meth:`close` separates them again."""

    def __init__(self, a: MediaEndpoint, b: MediaEndpoint) -> None:
        if a is b:
            raise ValueError("cannot relay an endpoint to itself")
        self.a = a
        self.b = b
        self._ab = _Direction(a, b)
        self._ba = _Direction(b, a)
        a.on_rtp = self._ab.forward
        a.on_rtcp = self._ab.forward_rtcp
        b.on_rtp = self._ba.forward
        b.on_rtcp = self._ba.forward_rtcp
        a.add_facts_listener(self._facts_changed)
        b.add_facts_listener(self._facts_changed)
        self.closed = False

    def _facts_changed(self, _endpoint: MediaEndpoint) -> None:
        self._ab.rebuild()
        self._ba.rebuild()

    def _direction_to(self, target: MediaEndpoint) -> _Direction:
        if target is self.b:
            return self._ab
        if target is self.a:
            return self._ba
        raise ValueError(f"{target!r} is not part of this relay")

    def pause(self, towards: MediaEndpoint) -> None:
        """Stop sending to ``towards`` (what its peer says is dropped)."""
        self._direction_to(towards).paused = True

    def resume(self, towards: MediaEndpoint) -> None:
        self._direction_to(towards).paused = False

    def is_paused(self, towards: MediaEndpoint) -> bool:
        return self._direction_to(towards).paused

    def forwarded_to(self, target: MediaEndpoint) -> int:
        return self._direction_to(target).forwarded

    def dropped_to(self, target: MediaEndpoint) -> int:
        return self._direction_to(target).dropped

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for endpoint, direction in ((self.a, self._ab), (self.b, self._ba)):
            if endpoint.on_rtp == direction.forward:
                endpoint.on_rtp = None
            if endpoint.on_rtcp == direction.forward_rtcp:
                endpoint.on_rtcp = None
            endpoint.remove_facts_listener(self._facts_changed)
