from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.rtp import (
    RTCP_BYE,
    RTCP_RR,
    RTCP_SDES,
    RTCP_SR,
    RtcpError,
    RtpError,
    build_rtp,
    is_rtcp,
    is_rtp,
    pack_header_into,
    parse_rtcp,
    parse_rtp,
    seq_newer,
    try_parse_rtcp,
    try_parse_rtp,
    ts_newer,
    with_payload_type,
)


def test_known_packet_bytes() -> None:
    data = build_rtp(0, 0x1234, 0xDEADBEEF, 0x01020304, b"\xff" * 4, marker=True)
    assert data == bytes.fromhex("80801234deadbeef01020304ffffffff")
    packet = parse_rtp(data)
    assert (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc) == (
        0,
        0x1234,
        0xDEADBEEF,
        0x01020304,
    )
    assert packet.marker is True
    assert packet.payload == b"\xff" * 4
    assert packet.header_size == 12
    assert bytes(packet.payload_view()) == b"\xff" * 4


@settings(max_examples=200, deadline=None)
@given(
    pt=st.integers(0, 127).filter(lambda p: not 72 <= p <= 76),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    ext=st.none()
    | st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4))),
    payload=st.binary(max_size=200),
    padding=st.integers(0, 255),
)
def test_build_parse_round_trip(
    pt: int,
    seq: int,
    ts: int,
    ssrc: int,
    marker: bool,
    csrcs: list[int],
    ext: tuple[int, bytes] | None,
    payload: bytes,
    padding: int,
) -> None:
    data = build_rtp(pt, seq, ts, ssrc, payload, marker=marker, csrcs=csrcs, extension=ext, padding=padding)
    packet = parse_rtp(data)
    assert packet.payload_type == pt
    assert packet.sequence == seq
    assert packet.timestamp == ts
    assert packet.ssrc == ssrc
    assert packet.marker == marker
    assert packet.csrcs == tuple(csrcs)
    assert packet.payload == payload
    assert packet.padding == padding
    if ext is None:
        assert packet.extension_profile is None
    else:
        assert (packet.extension_profile, packet.extension_data) == ext
    assert packet.header_size == 12 + 4 * len(csrcs) + (4 + len(ext[1]) if ext else 0)


def test_pack_header_into_matches_build() -> None:
    buf = bytearray(12 + 3)
    buf[12:] = b"abc"
    pack_header_into(buf, 8, 70000, 2**32 + 5, 99, marker=True)
    assert bytes(buf) == build_rtp(8, 70000 & 0xFFFF, 5, 99, b"abc", marker=True)
    pack_header_into(buf, 8, 1, 2, 3)
    assert parse_rtp(bytes(buf)).marker is False


def test_with_payload_type_keeps_marker_and_rest() -> None:
    data = build_rtp(101, 7, 8, 9, b"\x05\x8a\x00\xa0", marker=True)
    out = with_payload_type(data, 120)
    packet = parse_rtp(bytes(out))
    assert packet.payload_type == 120
    assert packet.marker
    assert out[2:] == data[2:]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too short"),
        (b"\x80\x00" + bytes(9), "too short"),
        (b"\x40\x00" + bytes(10), "version"),
        (b"\x83\x00" + bytes(10) + bytes(8), "CSRC"),  # 3 CSRCs announced, 2 present
        (b"\x90\x00" + bytes(10) + b"\x00\x00", "extension"),  # extension header cut
        (b"\x90\x00" + bytes(10) + b"\xbe\xde\x00\x02" + bytes(4), "extension"),  # 2 words, 1 present
        (b"\xa0\x00" + bytes(10) + b"\x00", "padding"),  # padding count 0
        (b"\xa0\x00" + bytes(10) + b"\x00\x00\x09", "padding"),  # padding longer than payload
        (b"\x80\xc8" + bytes(10), "RTCP"),
    ],
)
def test_malformed_rtp_is_a_typed_error(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError, match=reason):
        parse_rtp(data)
    assert try_parse_rtp(data) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_parse_never_crashes(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    assert packet.payload_offset <= packet.payload_end <= len(data)


def _rtcp(pt: int, count: int, body: bytes, ssrc: int = 1) -> bytes:
    assert len(body) % 4 == 0
    return struct.pack("!BBHI", 0x80 | count, pt, (8 + len(body)) // 4 - 1, ssrc) + body


def test_compound_rtcp_recognised() -> None:
    sr = _rtcp(RTCP_SR, 0, bytes(20), ssrc=0xAABBCCDD)
    sdes = _rtcp(RTCP_SDES, 1, b"\x01\x03abc\x00\x00\x00")
    bye = _rtcp(RTCP_BYE, 1, b"")
    data = sr + sdes + bye
    assert is_rtcp(data) and not is_rtp(data)
    headers = parse_rtcp(data)
    assert [h.packet_type for h in headers] == [RTCP_SR, RTCP_SDES, RTCP_BYE]
    assert headers[0].ssrc == 0xAABBCCDD
    assert [h.offset for h in headers] == [0, len(sr), len(sr) + len(sdes)]
    assert sum(h.length for h in headers) == len(data)


@pytest.mark.parametrize(
    "data",
    [
        bytes(4),
        _rtcp(RTCP_RR, 0, b"")[:-1] + b"",  # 7 bytes
        _rtcp(RTCP_RR, 0, bytes(4))[:-2],  # length claims more than present
        b"\x40" + _rtcp(RTCP_RR, 0, b"")[1:],  # version 1
        _rtcp(RTCP_RR, 0, b"") + _rtcp(206, 0, b""),  # a payload type outside 200-204
    ],
)
def test_malformed_rtcp(data: bytes) -> None:
    with pytest.raises(RtcpError):
        parse_rtcp(data)
    assert try_parse_rtcp(data) is None


def test_rtp_screen_and_serial_arithmetic() -> None:
    assert is_rtp(build_rtp(0, 1, 2, 3, b"x"))
    assert not is_rtp(b"\x80\x00")
    assert seq_newer(0, 0xFFFF) and not seq_newer(0xFFFF, 0) and not seq_newer(5, 5)
    assert ts_newer(10, 0xFFFFFFF0) and not ts_newer(0xFFFFFFF0, 10)


def test_build_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        build_rtp(128, 0, 0, 0)
    with pytest.raises(ValueError):
        build_rtp(0, 0, 0, 0, csrcs=list(range(16)))
    with pytest.raises(ValueError):
        build_rtp(0, 0, 0, 0, extension=(1, b"abc"))
