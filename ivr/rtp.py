"""RTP packets (RFC 3550 §5.1): header parse and build; RTCP packets recognised for relaying.

The parser never copies the payload: an :class:`RtpPacket` keeps the datagram and the
payload's offsets, and hands out a slice or a memoryview only when asked.  Malformed
datagrams raise :class:`RtpError` from :func:`parse_rtp`, or give ``None`` from
:func:`try_parse_rtp`; nothing here raises anything else on bad input.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

logger = logging.getLogger(__name__)

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

# RTCP packet types (RFC 3550 §12.1).  RFC 5761 §4 reserves 64-95 (i.e. 192-223 with the
# marker bit) so that RTP and RTCP can share a port; the relay recognises the five base ones.
RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204
RTCP_TYPES = frozenset((RTCP_SR, RTCP_RR, RTCP_SDES, RTCP_BYE, RTCP_APP))
RTCP_HEADER_SIZE = 8

_FIXED = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")
_RTCP_HEADER = struct.Struct("!BBHI")


class RtpError(ValueError):
    """A datagram that is not a well-formed RTP packet."""


class RtcpError(ValueError):
    """A datagram that is not a well-formed (compound) RTCP packet."""


@dataclass(slots=True)
class RtpPacket:
    """One parsed RTP packet.  ``data`` is the whole datagram; the payload is
    ``data[payload_offset:payload_end]`` (padding excluded)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    data: bytes
    payload_offset: int
    payload_end: int
    padding: int = 0
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension_data: bytes = b""

    @property
    def payload(self) -> bytes:
        return bytes(self.data[self.payload_offset : self.payload_end])

    def payload_view(self) -> memoryview:
        """The payload without a copy (valid as long as ``data`` is)."""
        return memoryview(self.data)[self.payload_offset : self.payload_end]

    @property
    def payload_size(self) -> int:
        return self.payload_end - self.payload_offset

    @property
    def header_size(self) -> int:
        return self.payload_offset


def parse_rtp(data: bytes | bytearray | memoryview) -> RtpPacket:
    """Parse one RTP datagram.  Raises :class:`RtpError` when it is not well-formed RTP
    (short, wrong version, CSRC list / extension / padding running past the end, or an
    RTCP packet type in the second byte)."""
    size = len(data)
    if size < RTP_HEADER_SIZE:
        raise RtpError(f"RTP packet too short ({size} bytes)")
    if not isinstance(data, bytes):
        data = bytes(data)
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data, 0)
    if b0 >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {b0 >> 6}, expected 2")
    if 200 <= b1 <= 204:
        raise RtpError(f"RTCP packet type {b1} where RTP was expected")
    offset = RTP_HEADER_SIZE
    cc = b0 & 0x0F
    csrcs: tuple[int, ...] = ()
    if cc:
        end = offset + 4 * cc
        if end > size:
            raise RtpError(f"CSRC list ({cc} entries) runs past the end of a {size}-byte packet")
        csrcs = struct.unpack_from(f"!{cc}I", data, offset)
        offset = end
    profile: int | None = None
    ext_data = b""
    if b0 & 0x10:
        if offset + 4 > size:
            raise RtpError("header extension runs past the end of the packet")
        profile, words = _EXT_HEADER.unpack_from(data, offset)
        offset += 4
        end = offset + 4 * words
        if end > size:
            raise RtpError(f"header extension ({words} words) runs past the end of the packet")
        ext_data = data[offset:end]
        offset = end
    payload_end = size
    padding = 0
    if b0 & 0x20:
        padding = data[size - 1]
        if padding == 0 or payload_end - padding < offset:
            raise RtpError(f"bad padding count {padding}")
        payload_end -= padding
    return RtpPacket(
        payload_type=b1 & 0x7F,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        marker=bool(b1 & 0x80),
        data=data,
        payload_offset=offset,
        payload_end=payload_end,
        padding=padding,
        csrcs=csrcs,
        extension_profile=profile,
        extension_data=ext_data,
    )


def try_parse_rtp(data: bytes | bytearray | memoryview) -> RtpPacket | None:
    """:func:`parse_rtp`, or ``None`` for a malformed datagram."""
    try:
        return parse_rtp(data)
    except RtpError:
        return None


def build_rtp(
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes | bytearray | memoryview = b"",
    *,
    marker: bool = False,
    csrcs: tuple[int, ...] | list[int] = (),
    extension: tuple[int, bytes] | None = None,
    padding: int = 0,
) -> bytes:
    """Serialise one RTP packet.  ``extension`` is ``(profile, data)`` with ``len(data)`` a
    multiple of 4; ``padding`` is the total padding byte count (0 or 1-255)."""
    if not 0 <= payload_type <= 127:
        raise ValueError(f"payload type {payload_type} out of range 0-127")
    if len(csrcs) > 15:
        raise ValueError("at most 15 CSRC identifiers")
    if not 0 <= padding <= 255:
        raise ValueError("padding must be 0-255 bytes")
    b0 = (RTP_VERSION << 6) | len(csrcs)
    if padding:
        b0 |= 0x20
    if extension is not None:
        b0 |= 0x10
    b1 = payload_type | (0x80 if marker else 0)
    parts = [_FIXED.pack(b0, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)]
    if csrcs:
        parts.append(struct.pack(f"!{len(csrcs)}I", *csrcs))
    if extension is not None:
        profile, ext = extension
        if len(ext) % 4:
            raise ValueError("header extension data must be a multiple of 4 bytes")
        parts.append(_EXT_HEADER.pack(profile & 0xFFFF, len(ext) // 4))
        parts.append(bytes(ext))
    parts.append(bytes(payload))
    if padding:
        parts.append(bytes(padding - 1) + bytes((padding,)))
    return b"".join(parts)


def pack_header_into(
    buffer: bytearray, payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool = False
) -> None:
    """Write a 12-byte RTP header (no CSRC, extension or padding) at the start of
    ``buffer``: the allocation-free path for senders that reuse one packet buffer."""
    _FIXED.pack_into(
        buffer,
        0,
        0x80,
        payload_type | 0x80 if marker else payload_type,
        sequence & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        ssrc & 0xFFFFFFFF,
    )


def with_payload_type(data: bytes | bytearray, payload_type: int) -> bytearray:
    """A copy of an RTP datagram with its payload type replaced (marker bit kept)."""
    out = bytearray(data)
    out[1] = (out[1] & 0x80) | payload_type
    return out


def is_rtp(data: bytes | bytearray | memoryview) -> bool:
    """Cheap screen: version 2, long enough, and not an RTCP packet type."""
    return len(data) >= RTP_HEADER_SIZE and data[0] >> 6 == RTP_VERSION and not 200 <= data[1] <= 204


def is_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """Cheap screen for an RTCP packet (SR, RR, SDES, BYE, APP) as the first of a compound."""
    return len(data) >= RTCP_HEADER_SIZE and data[0] >> 6 == RTP_VERSION and 200 <= data[1] <= 204


def seq_newer(a: int, b: int) -> bool:
    """True when 16-bit sequence number ``a`` comes after ``b`` (RFC 1982 serial arithmetic)."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000


def ts_newer(a: int, b: int) -> bool:
    """True when 32-bit RTP timestamp ``a`` comes after ``b``."""
    return 0 < ((a - b) & 0xFFFFFFFF) < 0x80000000


@dataclass(slots=True, frozen=True)
class RtcpHeader:
    """The common header of one RTCP packet inside a compound packet."""

    packet_type: int
    count: int  # reception report count / source count / APP subtype
    length: int  # the packet's size in bytes, header included
    ssrc: int
    offset: int  # where it starts in the compound datagram


def parse_rtcp(data: bytes | bytearray | memoryview) -> list[RtcpHeader]:
    """Walk a compound RTCP datagram and return each packet's header.  Raises
    :class:`RtcpError` when a length field does not tile the datagram, the version is
    wrong, or a packet type is outside the RFC 3550 set (200-204)."""
    size = len(data)
    if size < RTCP_HEADER_SIZE:
        raise RtcpError(f"RTCP packet too short ({size} bytes)")
    headers: list[RtcpHeader] = []
    offset = 0
    while offset < size:
        if offset + RTCP_HEADER_SIZE > size:
            raise RtcpError(f"truncated RTCP header at offset {offset}")
        b0, pt, words, ssrc = _RTCP_HEADER.unpack_from(data, offset)
        if b0 >> 6 != RTP_VERSION:
            raise RtcpError(f"RTCP version {b0 >> 6} at offset {offset}")
        if pt not in RTCP_TYPES:
            raise RtcpError(f"RTCP packet type {pt} at offset {offset} is not 200-204")
        length = (words + 1) * 4
        if offset + length > size:
            raise RtcpError(f"RTCP packet at offset {offset} claims {length} bytes, {size - offset} left")
        headers.append(RtcpHeader(pt, b0 & 0x1F, length, ssrc, offset))
        offset += length
    return headers


def try_parse_rtcp(data: bytes | bytearray | memoryview) -> list[RtcpHeader] | None:
    """:func:`parse_rtcp`, or ``None`` for a malformed datagram."""
    try:
        return parse_rtcp(data)
    except RtcpError:
        return None
