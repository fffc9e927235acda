"""Echo (``sys:echo``, the sound-quality test): every RTP packet an endpoint receives goes back
to the phone that sent it.

The packet leaves as received but for its SSRC: ours, fixed for the call, so the phone does
not see its own SSRC coming back (RFC 3550 §8.2 would take that for a collision and change
it). RTCP is not echoed (it reports on the phone's own stream). The endpoint's ``close``
ends it (it clears ``on_rtp``).
"""
from __future__ import annotations

import os

from .endpoint import MediaEndpoint

__all__ = ["Echo"]


class Echo:
    __slots__ = ("_endpoint", "_ssrc", "echoed")

    def __init__(self, endpoint: MediaEndpoint) -> None:
        self._endpoint = endpoint
        self._ssrc = os.urandom(4)
        self.echoed = 0
        endpoint.on_rtp = self._received
        endpoint.on_rtcp = None

    def _received(self, data: bytes) -> None:
        out = bytearray(data)
        out[8:12] = self._ssrc
        self._endpoint.send_rtp(out)
        self.echoed += 1
