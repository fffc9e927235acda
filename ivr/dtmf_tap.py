"""DTMF detection on one endpoint's received RTP: RFC 4733 events and in-band tones,
deduplicated, reported through ``on_dtmf(digit, duration_ms, method)``.

An endpoint holds a tap only while detection is switched on, so a leg without it pays a
single ``is None`` test per packet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .dtmf import Rfc4733Receiver
from .dtmf_dedup import DtmfDeduplicator
from .inband import InbandDtmfDetector
from .payload import PCMA, PCMU, TELEPHONE_EVENT, PayloadFacts
from .rtp import try_parse_rtp

logger = logging.getLogger(__name__)

DtmfCallback = Callable[[str, int, str], None]

METHOD_RFC2833 = "rfc2833"
METHOD_INBAND = "inband"
METHOD_INFO = "info"

_NONE, _ULAW, _ALAW, _EVENT = 0, 1, 2, 3


class DtmfTap:
    __slots__ = (
        "_dedup",
        "_detector",
        "_kinds",
        "_loop",
        "_on_dtmf",
        "_receiver",
        "_ssrc",
        "_timer",
        "inband",
        "rfc2833",
    )

    def __init__(
        self,
        on_dtmf: DtmfCallback,
        facts: PayloadFacts,
        loop: asyncio.AbstractEventLoop,
        *,
        rfc2833: bool = True,
        inband: bool = True,
        dedup: DtmfDeduplicator | None = None,
    ) -> None:
        self._on_dtmf = on_dtmf
        self._loop = loop
        self.rfc2833 = rfc2833
        self.inband = inband
        self._kinds = bytearray(128)
        self._receiver = Rfc4733Receiver(facts.clock_rate)
        self._ssrc = -1
        self._detector: InbandDtmfDetector | None = InbandDtmfDetector() if inband else None
        self._dedup = dedup if dedup is not None else DtmfDeduplicator()
        self._timer: asyncio.TimerHandle | None = None
        self.update_facts(facts)

    def update_facts(self, facts: PayloadFacts) -> None:
        """Rebuild the PT -> kind table after a (re-)negotiation."""
        kinds = self._kinds
        for pt in range(128):
            name = facts.encoding_of(pt)
            if name == TELEPHONE_EVENT:
                kinds[pt] = _EVENT if self.rfc2833 else _NONE
            elif name == PCMU:
                kinds[pt] = _ULAW if self.inband else _NONE
            elif name == PCMA:
                kinds[pt] = _ALAW if self.inband else _NONE
            else:
                kinds[pt] = _NONE

    def on_packet(self, data: bytes, payload_type: int, now: float) -> None:
        kind = self._kinds[payload_type]
        if kind == _NONE:
            return
        if kind == _EVENT:
            self._event_packet(data, now)
            return
        detector = self._detector
        if detector is None:
            return
        if data[0] == 0x80:  # no CSRC, extension or padding: the payload starts at 12
            payload = memoryview(data)[12:]
        else:
            packet = try_parse_rtp(data)
            if packet is None:
                return
            payload = packet.payload_view()
        digits = detector.feed_ulaw(payload) if kind == _ULAW else detector.feed_alaw(payload)
        for found in digits:
            self.report(found.digit, found.duration_ms, METHOD_INBAND, now)

    def _event_packet(self, data: bytes, now: float) -> None:
        packet = try_parse_rtp(data)
        if packet is None:
            return
        receiver = self._receiver
        if packet.ssrc != self._ssrc:
            receiver.reset()
            self._ssrc = packet.ssrc
        for found in receiver.feed(packet.timestamp, packet.data, now, packet.payload_offset):
            self.report(found.digit, found.duration_ms, METHOD_RFC2833, now)
        if receiver.in_event and self._timer is None:
            self._timer = self._loop.call_later(receiver.timeout, self._timeout)

    def _timeout(self) -> None:
        self._timer = None
        receiver = self._receiver
        now = self._loop.time()
        for found in receiver.poll(now):
            self.report(found.digit, found.duration_ms, METHOD_RFC2833, now)
        if receiver.in_event:
            self._timer = self._loop.call_later(receiver.timeout, self._timeout)

    def report(self, digit: str, duration_ms: int, method: str, now: float) -> bool:
        """Report a digit unless another method already reported the same press."""
        if not self._dedup.accept(digit, method, now, duration_ms):
            return False
        try:
            self._on_dtmf(digit, duration_ms, method)
        except Exception:
            logger.exception("on_dtmf callback failed for digit %s", digit)
        return True

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
