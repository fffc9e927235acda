"""Payload facts: what the SDP exchange decided for one call leg, in the form the media
plane uses (the B2BUA fills these in; ``ivr`` never reads SDP itself)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from .g711 import ALAW_SILENCE, ULAW_SILENCE

logger = logging.getLogger(__name__)

PCMU = "PCMU"
PCMA = "PCMA"
G729 = "G729"
TELEPHONE_EVENT = "telephone-event"
G711 = (PCMU, PCMA)

#: RFC 3551 static payload types the media plane knows
STATIC_PAYLOAD_TYPES: dict[int, str] = {0: PCMU, 8: PCMA, 18: G729}
_BY_NAME = {v: k for k, v in STATIC_PAYLOAD_TYPES.items()}


def canonical_encoding(name: str) -> str:
    """``"pcmu"`` -> ``"PCMU"``, ``"Telephone-Event"`` -> ``"telephone-event"``, ``"G729a"``
    stays as written upper-cased (only the names above get special treatment)."""
    upper = name.upper()
    if upper == "TELEPHONE-EVENT":
        return TELEPHONE_EVENT
    return upper


@dataclass(slots=True, frozen=True)
class PayloadFacts:
    """One leg's negotiated media formats.

    ``codec``/``payload_type``: the audio format to send to the leg.
    ``telephone_event_pt``: the PT the leg expects RFC 4733 events with (for pjsua, the
    one it offered, whatever the answer said), ``None`` when it did not negotiate them.
    ``payload_types``: every PT -> encoding name known for the leg from both SDPs, used to
    recognise what it sends (phones send with the PT they offered, or the answer's).
    """

    codec: str = PCMU
    payload_type: int = 0
    telephone_event_pt: int | None = None
    payload_types: Mapping[int, str] = field(default_factory=dict)
    clock_rate: int = 8000
    ptime_ms: int = 20

    def encoding_of(self, payload_type: int) -> str | None:
        """The encoding a received PT stands for on this leg."""
        if payload_type == self.payload_type:
            return canonical_encoding(self.codec)
        if payload_type == self.telephone_event_pt:
            return TELEPHONE_EVENT
        name = self.payload_types.get(payload_type)
        if name is not None:
            return canonical_encoding(name)
        return STATIC_PAYLOAD_TYPES.get(payload_type)

    def payload_type_for(self, encoding: str) -> int | None:
        """The PT this leg expects for ``encoding`` (None when it did not negotiate it)."""
        name = canonical_encoding(encoding)
        if name == canonical_encoding(self.codec):
            return self.payload_type
        if name == TELEPHONE_EVENT:
            return self.telephone_event_pt
        for pt, other in self.payload_types.items():
            if canonical_encoding(other) == name:
                return pt
        return None

    def has(self, encoding: str) -> bool:
        return self.payload_type_for(encoding) is not None

    def g711_codecs(self) -> list[str]:
        """The G.711 variants the leg negotiated, its main codec first."""
        found = [c for c in (canonical_encoding(self.codec), PCMU, PCMA) if c in G711 and self.has(c)]
        return list(dict.fromkeys(found))


@dataclass(slots=True, frozen=True)
class PlayoutCodec:
    """How to packetise stored audio for sending: PT, bytes and samples per frame, and the
    byte that pads a short last frame (``None``: send the short frame as it is)."""

    name: str
    payload_type: int
    frame_bytes: int
    samples_per_frame: int
    silence: int | None

    @property
    def samples_per_byte(self) -> int:
        return self.samples_per_frame // self.frame_bytes

    @classmethod
    def for_codec(cls, name: str, payload_type: int | None = None, ptime_ms: int = 20) -> PlayoutCodec:
        codec = canonical_encoding(name)
        pt = _BY_NAME.get(codec) if payload_type is None else payload_type
        if pt is None:
            raise ValueError(f"no payload type given for {name!r}")
        samples = 8 * ptime_ms
        if codec == PCMU:
            return cls(PCMU, pt, samples, samples, ULAW_SILENCE)
        if codec == PCMA:
            return cls(PCMA, pt, samples, samples, ALAW_SILENCE)
        if codec == G729:
            if ptime_ms % 10:
                raise ValueError("G.729 ptime must be a multiple of 10 ms")
            return cls(G729, pt, ptime_ms, samples, None)  # 10 bytes per 10 ms frame
        raise ValueError(f"cannot play out {name!r}: only PCMU, PCMA and G729")

    @classmethod
    def for_leg(cls, facts: PayloadFacts, codec: str | None = None) -> PlayoutCodec:
        """The playout codec for ``codec`` (default: the leg's main one) with the leg's PT."""
        name = canonical_encoding(codec or facts.codec)
        pt = facts.payload_type_for(name)
        if pt is None:
            raise ValueError(f"the leg did not negotiate {name}")
        return cls.for_codec(name, pt, facts.ptime_ms)
