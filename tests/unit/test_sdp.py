"""Tests for sip.sdp: parsing, serialisation, hold, offer/answer, media facts."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip import sdp as sdp_module
from sip.offer_answer import (
    answer_direction,
    make_answer,
    make_offer,
    negotiated_media,
    rewrite_media_address,
)
from sip.sdp import (
    MAX_MEDIA,
    MAX_SDP_LINES,
    MAX_SDP_SIZE,
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Bandwidth,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RawLine,
    Rtcp,
    RtpMap,
    SdpParseError,
    SessionDescription,
    Timing,
    next_version,
    parse_rtpmap,
    parse_sdp,
)


def crlf(text: str) -> bytes:
    """Dedented text with CRLF line ends, as it arrives in a SIP body."""
    return textwrap.dedent(text).lstrip("\n").replace("\n", "\r\n").encode()


def rfc4317(text: str) -> bytes:
    """An RFC 4317 example: its s= line holds a single space (kept out of this file's source)."""
    return crlf(text).replace(b"\r\ns=\r\n", b"\r\ns= \r\n")


# SIPp's built-in uac scenario offer ([media_ip] = 127.0.0.1, [media_port] = 6000).
SIPP_OFFER = crlf("""
    v=0
    o=user1 53655765 2353687637 IN IP4 127.0.0.1
    s=-
    c=IN IP4 127.0.0.1
    t=0 0
    m=audio 6000 RTP/AVP 0
    a=rtpmap:0 PCMU/8000
""")

# pjsua-style offer: speex at three rates, iLBC, static codecs, telephone-event on PT 120.
PJSUA_OFFER = crlf("""
    v=0
    o=- 3831296384 3831296384 IN IP4 192.168.1.10
    s=pjmedia
    b=AS:84
    t=0 0
    a=X-nat:0
    m=audio 4000 RTP/AVP 98 97 99 104 3 0 8 9 120
    c=IN IP4 192.168.1.10
    b=AS:64000
    a=rtpmap:98 speex/16000
    a=rtpmap:97 speex/8000
    a=rtpmap:99 speex/32000
    a=rtpmap:104 iLBC/8000
    a=fmtp:104 mode=30
    a=rtpmap:3 GSM/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:9 G722/8000
    a=rtpmap:120 telephone-event/8000
    a=fmtp:120 0-16
    a=rtcp:4001 IN IP4 192.168.1.10
    a=sendrecv
""")

# linphone-style answer putting the call on hold both ways: legacy c=0.0.0.0 and a=inactive,
# static PTs without rtpmap, an unknown session attribute.
LINPHONE_HOLD_ANSWER = crlf("""
    v=0
    o=bob 2890 2891 IN IP4 10.0.0.5
    s=Talk
    c=IN IP4 0.0.0.0
    t=0 0
    a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
    m=audio 7078 RTP/AVP 0 8 101
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=inactive
""")

# RFC 4317 §2.1.
RFC4317_2_1_OFFER = rfc4317("""
    v=0
    o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
    s=
    c=IN IP4 host.atlanta.example.com
    t=0 0
    m=audio 49170 RTP/AVP 0 8 97
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:97 iLBC/8000
    m=video 51372 RTP/AVP 31 32
    a=rtpmap:31 H261/90000
    a=rtpmap:32 MPV/90000
""")

RFC4317_2_1_ANSWER = rfc4317("""
    v=0
    o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
    s=
    c=IN IP4 host.biloxi.example.com
    t=0 0
    m=audio 49174 RTP/AVP 0
    a=rtpmap:0 PCMU/8000
    m=video 49170 RTP/AVP 32
    a=rtpmap:32 MPV/90000
""")

# RFC 4317 §2.6: PCMU alone, or iLBC with RFC 2833 tones, in two streams.
RFC4317_2_6_OFFER = rfc4317("""
    v=0
    o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
    s=
    c=IN IP4 host.atlanta.example.com
    t=0 0
    m=audio 49170 RTP/AVP 0
    a=rtpmap:0 PCMU/8000
    m=audio 51372 RTP/AVP 97 101
    a=rtpmap:97 iLBC/8000
    a=rtpmap:101 telephone-event/8000
""")

# RFC 4317 §3.2 second offer: the voice stream held, the tone stream not.
RFC4317_3_2_SECOND_OFFER = rfc4317("""
    v=0
    o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
    s=
    c=IN IP4 host.biloxi.example.com
    t=0 0
    m=audio 49172 RTP/AVP 97
    a=rtpmap:97 iLBC/8000
    a=sendonly
    m=audio 49174 RTP/AVP 98
    a=rtpmap:98 telephone-event/8000
    a=recvonly
""")

# RFC 4317 §5.2: initial offer with the black-hole address 0.0.0.0.
RFC4317_5_2_OFFER = rfc4317("""
    v=0
    o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
    s=
    c=IN IP4 0.0.0.0
    t=0 0
    m=audio 23442 RTP/AVP 97
    a=rtpmap:97 iLBC/8000
""")

OUR_ORIGIN = Origin("callcontrol", "4242", 7, "IN", "IP4", "198.51.100.1")


def audio_offer(formats: str, *extra: str, session: str = "", connection: str = "192.0.2.9") -> bytes:
    """A one-stream audio offer with the given m= formats and extra media-level lines."""
    lines = [
        "v=0",
        "o=peer 1 1 IN IP4 192.0.2.9",
        "s=-",
        f"c=IN IP4 {connection}",
        "t=0 0",
        *([session] if session else []),
        f"m=audio 5004 RTP/AVP {formats}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


# --- parsing real examples --------------------------------------------------------


def test_parse_sipp_offer() -> None:
    sdp = parse_sdp(SIPP_OFFER)
    assert sdp.origin == Origin("user1", "53655765", 2353687637, "IN", "IP4", "127.0.0.1")
    assert sdp.name == "-"
    assert sdp.connection == Connection("IN", "IP4", "127.0.0.1")
    assert sdp.timing == Timing(0, 0)
    assert len(sdp.media) == 1
    audio = sdp.media[0]
    assert (audio.media, audio.port, audio.port_count, audio.proto, audio.formats) == (
        "audio",
        6000,
        None,
        "RTP/AVP",
        ["0"],
    )
    assert audio.codecs() == [RtpMap(0, "PCMU", 8000)]
    assert audio.telephone_event_pt is None
    assert audio.ptime is None
    assert sdp.media_direction(0) is Direction.SENDRECV
    assert sdp.media_connection(0) == Connection("IN", "IP4", "127.0.0.1")
    assert sdp.is_hold is False
    assert sdp.to_bytes() == SIPP_OFFER


def test_parse_pjsua_offer() -> None:
    sdp = parse_sdp(PJSUA_OFFER)
    assert sdp.name == "pjmedia"
    assert sdp.bandwidths == [Bandwidth("AS", 84)]
    assert sdp.attributes == [Attribute("X-nat", "0")]
    assert sdp.connection is None
    audio = sdp.media[0]
    assert audio.payload_types == [98, 97, 99, 104, 3, 0, 8, 9, 120]
    assert audio.bandwidths == [Bandwidth("AS", 64000)]
    assert [(c.payload_type, c.encoding, c.clock_rate) for c in audio.codecs()] == [
        (98, "speex", 16000),
        (97, "speex", 8000),
        (99, "speex", 32000),
        (104, "iLBC", 8000),
        (3, "GSM", 8000),
        (0, "PCMU", 8000),
        (8, "PCMA", 8000),
        (9, "G722", 8000),
        (120, "telephone-event", 8000),
    ]
    assert audio.telephone_event_pt == 120
    assert audio.fmtp() == {104: "mode=30", 120: "0-16"}
    assert audio.rtcp == Rtcp(4001, "192.168.1.10")
    assert audio.direction is Direction.SENDRECV
    assert sdp.media_connection(0) == Connection("IN", "IP4", "192.168.1.10")
    assert sdp.is_hold is False
    assert sdp.to_bytes() == PJSUA_OFFER


def test_parse_linphone_hold_answer() -> None:
    sdp = parse_sdp(LINPHONE_HOLD_ANSWER)
    assert sdp.attributes == [
        Attribute("rtcp-xr", "rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics")
    ]
    audio = sdp.media[0]
    # Static payload types resolve without a=rtpmap.
    assert audio.codecs() == [
        RtpMap(0, "PCMU", 8000),
        RtpMap(8, "PCMA", 8000),
        RtpMap(101, "telephone-event", 8000),
    ]
    assert audio.fmtp() == {101: "0-15"}
    assert sdp.media_direction(0) is Direction.INACTIVE
    assert sdp.media_connection(0).is_hold_address is True  # type: ignore[union-attr]
    assert sdp.media_is_hold(0) is True
    assert sdp.is_hold is True
    assert sdp.to_bytes() == LINPHONE_HOLD_ANSWER


def test_parse_rfc4317_audio_and_video() -> None:
    offer = parse_sdp(RFC4317_2_1_OFFER)
    assert offer.name == " "
    assert [m.media for m in offer.media] == ["audio", "video"]
    assert offer.media[1].codecs() == [RtpMap(31, "H261", 90000), RtpMap(32, "MPV", 90000)]
    assert offer.find_media("video") == 1
    assert offer.to_bytes() == RFC4317_2_1_OFFER
    answer = parse_sdp(RFC4317_2_1_ANSWER)
    assert answer.media[0].formats == ["0"]
    assert answer.media[1].port == 49170
    assert answer.to_bytes() == RFC4317_2_1_ANSWER


def test_lf_only_input_parses_like_crlf_and_serialises_with_crlf() -> None:
    lf = PJSUA_OFFER.replace(b"\r\n", b"\n")
    assert b"\r" not in lf
    assert parse_sdp(lf) == parse_sdp(PJSUA_OFFER)
    assert parse_sdp(lf).to_bytes() == PJSUA_OFFER


def test_str_input_and_bytearray_input() -> None:
    assert parse_sdp(SIPP_OFFER.decode()) == parse_sdp(SIPP_OFFER)
    assert SessionDescription.parse(bytearray(SIPP_OFFER)) == parse_sdp(SIPP_OFFER)
    assert bytes(parse_sdp(SIPP_OFFER)) == SIPP_OFFER


def test_missing_final_line_end_and_trailing_blank_lines() -> None:
    assert parse_sdp(SIPP_OFFER.rstrip(b"\r\n")).to_bytes() == SIPP_OFFER
    assert parse_sdp(SIPP_OFFER + b"\r\n\r\n").to_bytes() == SIPP_OFFER


def test_unknown_and_optional_lines_keep_their_order() -> None:
    body = crlf("""
        v=0
        o=- 1 2 IN IP4 10.1.1.1
        s=Session
        i=A session
        u=http://example.com/s
        e=ops@example.com (Ops)
        p=+1 555 0100
        c=IN IP4 224.2.17.12/127
        b=CT:128
        t=2873397496 2873404696
        r=7d 1h 0 25h
        z=2882844526 -1h
        k=prompt
        a=recvonly
        y=vendor line
        a=tool:test 1.0
        m=audio 49170/2 RTP/AVP 0 96
        i=main audio
        c=IN IP4 224.2.17.12/127
        b=AS:64
        k=clear:secret
        a=rtpmap:96 L16/16000/2
        x=media-level unknown
        a=weird
        a=empty:
    """)
    sdp = parse_sdp(body)
    assert [line.kind for line in sdp.lines] == list("iuepcbtrzkaya")
    assert sdp.lines[11] == RawLine("y", "vendor line")
    assert sdp.connection is not None and sdp.connection.host == "224.2.17.12"
    assert sdp.timing == Timing(2873397496, 2873404696)
    audio = sdp.media[0]
    assert (audio.port, audio.port_count) == (49170, 2)
    assert audio.codec(96) == RtpMap(96, "L16", 16000, 2)
    assert audio.codec(0) == RtpMap(0, "PCMU", 8000)
    assert audio.codec(8) is None  # not among this stream's formats
    assert audio.find_attribute("weird") == Attribute("weird", None)
    assert audio.find_attribute("empty") == Attribute("empty", "")
    assert sdp.media_direction(0) is Direction.RECVONLY  # session-level applies
    assert sdp.to_bytes() == body


def test_lines_out_of_rfc_order_are_kept_as_they_were() -> None:
    body = crlf("""
        v=0
        s=-
        a=sendonly
        o=x 1 1 IN IP4 10.0.0.1
        t=0 0
        c=IN IP4 10.0.0.1
        m=audio 5000 RTP/AVP 0
        a=ptime:30
        c=IN IP4 10.0.0.2
    """)
    sdp = parse_sdp(body)
    assert sdp.media_connection(0) == Connection("IN", "IP4", "10.0.0.2")
    assert sdp.media[0].ptime == 30
    # v, o, s are always written first; everything else keeps its order.
    assert sdp.to_str().splitlines() == [
        "v=0",
        "o=x 1 1 IN IP4 10.0.0.1",
        "s=-",
        "a=sendonly",
        "t=0 0",
        "c=IN IP4 10.0.0.1",
        "m=audio 5000 RTP/AVP 0",
        "a=ptime:30",
        "c=IN IP4 10.0.0.2",
    ]


def test_utf8_session_name() -> None:
    body = SIPP_OFFER.replace(b"s=-", "s=Gespräch ☎".encode())
    assert parse_sdp(body).name == "Gespräch ☎"
    assert parse_sdp(body).to_bytes() == body


def test_disabled_stream_needs_no_connection_or_formats() -> None:
    body = crlf("""
        v=0
        o=- 1 1 IN IP4 10.0.0.1
        s=-
        t=0 0
        m=audio 5000 RTP/AVP 0
        c=IN IP4 10.0.0.1
        m=video 0 RTP/AVP
    """)
    sdp = parse_sdp(body)
    assert sdp.media[1].formats == []
    assert sdp.media[1].port == 0
    assert sdp.to_bytes() == body


# --- errors -------------------------------------------------------------------------

VALID_HEAD = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty SDP"),
        (b"\r\n\r\n", "empty SDP"),
        (b"o=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n", "must start with v=0"),
        (b"v=1\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n", "must start with v=0"),
        (b"v = 0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n", "must start with v=0"),
        (b"v=0\r\ns=-\r\nt=0 0\r\n", "no o= line"),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nt=0 0\r\n", "no s= line"),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n", "second o="),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\ns=x\r\n", "second s="),
        (b"v=0\r\nv=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n", "misplaced"),
        (b"v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n", "o= needs 6 fields"),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1 extra\r\ns=-\r\n", "o= needs 6 fields"),
        (b"v=0\r\no=- 1 x IN IP4 10.0.0.1\r\ns=-\r\n", "sess-version"),
        (b"v=0\r\no=- 1 -1 IN IP4 10.0.0.1\r\ns=-\r\n", "sess-version"),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4\r\n", "c= needs"),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nb=AS64\r\n", "b= needs"),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nb=AS:lots\r\n", "b= needs"),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0\r\n", "t= needs"),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=now later\r\n", "not numbers"),
        (VALID_HEAD.encode() + b"m=audio\r\n", "m= needs"),
        (VALID_HEAD.encode() + b"m=audio 5000\r\n", "m= needs"),
        (VALID_HEAD.encode() + b"m=audio 5000 RTP/AVP\r\n", "no formats"),
        (VALID_HEAD.encode() + b"m=audio 70000 RTP/AVP 0\r\n", "bad m= port"),
        (VALID_HEAD.encode() + b"m=audio -1 RTP/AVP 0\r\n", "bad m= port"),
        (VALID_HEAD.encode() + b"m=audio port RTP/AVP 0\r\n", "bad m= port"),
        (VALID_HEAD.encode() + "m=audio ５０００ RTP/AVP 0\r\n".encode(), "bad m= port"),
        (VALID_HEAD.encode() + b"m=audio 5000/0 RTP/AVP 0\r\n", "port count"),
        (VALID_HEAD.encode() + b"m=audio 5000/x RTP/AVP 0\r\n", "port count"),
        (VALID_HEAD.encode() + b"m=audio 5000 RTP/AVP 0\r\no=- 1 1 IN IP4 10.0.0.1\r\n", "misplaced"),
        (VALID_HEAD.encode() + b"m=audio 5000 RTP/AVP 0\r\ns=again\r\n", "misplaced"),
        (VALID_HEAD.encode() + b"a=\r\n", "a= without a name"),
        (VALID_HEAD.encode() + b"a=:value\r\n", "a= without a name"),
        (VALID_HEAD.encode() + b"garbage\r\n", "not <type>=<value>"),
        (VALID_HEAD.encode() + b"\r\na=sendrecv\r\n", "not <type>=<value>"),
        (VALID_HEAD.encode() + b"1=one\r\n", "not <type>=<value>"),
        (VALID_HEAD.encode() + b"=x\r\n", "not <type>=<value>"),
        (VALID_HEAD.encode() + b"a=x\rb=AS:1\r\n", "CR that does not end a line"),
        (VALID_HEAD.encode() + b"a=\xff\xfe\r\n", "not UTF-8"),
        (VALID_HEAD.encode() + b"a=x\x00y\r\n", "NUL"),
        (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", "no c= line"),
    ],
)
def test_malformed_sdp_raises(body: bytes, message: str) -> None:
    with pytest.raises(SdpParseError, match=message):
        parse_sdp(body)


def test_parse_error_is_a_value_error_and_names_the_line() -> None:
    assert issubclass(SdpParseError, ValueError)
    with pytest.raises(SdpParseError, match="line 6"):
        parse_sdp(VALID_HEAD.encode() + b"m=audio x RTP/AVP 0\r\n")


def test_size_limits() -> None:
    padding = b"a=x-pad:" + b"p" * (MAX_SDP_SIZE - len(SIPP_OFFER)) + b"\r\n"
    with pytest.raises(SdpParseError, match="larger than"):
        parse_sdp(SIPP_OFFER + padding)
    with pytest.raises(SdpParseError, match="larger than"):
        parse_sdp((SIPP_OFFER + padding).decode())
    many_lines = SIPP_OFFER + b"a=x\r\n" * MAX_SDP_LINES
    assert len(many_lines) < MAX_SDP_SIZE
    with pytest.raises(SdpParseError, match="more than 1024 lines"):
        parse_sdp(many_lines)
    many_media = VALID_HEAD.encode() + b"m=audio 0 RTP/AVP 0\r\n" * (MAX_MEDIA + 1)
    with pytest.raises(SdpParseError, match="more than 32 media"):
        parse_sdp(many_media)
    # Exactly at the limits is fine.
    assert len(parse_sdp(VALID_HEAD.encode() + b"m=audio 0 RTP/AVP 0\r\n" * MAX_MEDIA).media) == MAX_MEDIA


def test_type_error_for_other_input() -> None:
    with pytest.raises(TypeError):
        parse_sdp(12345)  # type: ignore[arg-type]


# --- typed accessors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0 PCMU/8000", RtpMap(0, "PCMU", 8000)),
        ("101 telephone-event/8000", RtpMap(101, "telephone-event", 8000)),
        ("111 opus/48000/2", RtpMap(111, "opus", 48000, 2)),
        ("96  AMR/8000", RtpMap(96, "AMR", 8000)),
        ("abc PCMU/8000", None),
        ("128 PCMU/8000", None),
        ("96", None),
        ("96 opus", None),
        ("96 opus/fast", None),
        ("96 /8000", None),
        ("96 opus/48000/0", None),
        ("96 opus/48000/two", None),
    ],
)
def test_parse_rtpmap(value: str, expected: RtpMap | None) -> None:
    assert parse_rtpmap(value) == expected


def test_rtpmap_value_and_key() -> None:
    assert RtpMap(111, "opus", 48000, 2).value() == "111 opus/48000/2"
    assert RtpMap(0, "PCMU", 8000).value() == "0 PCMU/8000"
    assert RtpMap(0, "PCMU", 8000).key == RtpMap(96, "pcmu", 8000).key == ("pcmu", 8000, 1)
    assert RtpMap(101, "Telephone-Event", 8000).is_telephone_event is True


def test_static_payload_types() -> None:
    assert STATIC_PAYLOAD_TYPES[0] == RtpMap(0, "PCMU", 8000)
    assert STATIC_PAYLOAD_TYPES[8] == RtpMap(8, "PCMA", 8000)
    assert STATIC_PAYLOAD_TYPES[18] == RtpMap(18, "G729", 8000)
    assert 96 not in STATIC_PAYLOAD_TYPES


def test_malformed_rtpmap_makes_the_dynamic_format_unusable_not_the_sdp() -> None:
    sdp = parse_sdp(audio_offer("96 97 8", "a=rtpmap:96 opus", "a=rtpmap:97 speex/8000", "a=rtpmap:x y/1"))
    assert sdp.media[0].codecs() == [RtpMap(97, "speex", 8000), RtpMap(8, "PCMA", 8000)]


def test_first_rtpmap_and_fmtp_win_and_non_numeric_formats_are_ignored() -> None:
    sdp = parse_sdp(
        audio_offer(
            "96 x-fmt",
            "a=rtpmap:96 PCMU/8000",
            "a=rtpmap:96 PCMA/8000",
            "a=fmtp:96 first",
            "a=fmtp:96 second",
            "a=fmtp:bad 0-15",
        )
    )
    audio = sdp.media[0]
    assert audio.payload_types == [96]
    assert audio.codecs() == [RtpMap(96, "PCMU", 8000)]
    assert audio.fmtp() == {96: "first"}


@pytest.mark.parametrize("pt", [96, 100, 101, 110, 120, 127])
@pytest.mark.parametrize("events", ["0-16", "0-15"])
def test_telephone_event_on_any_dynamic_payload_type(pt: int, events: str) -> None:
    sdp = parse_sdp(audio_offer(f"0 {pt}", f"a=rtpmap:{pt} telephone-event/8000", f"a=fmtp:{pt} {events}"))
    assert sdp.media[0].telephone_event_pt == pt
    assert sdp.media[0].fmtp() == {pt: events}


@pytest.mark.parametrize(
    ("lines", "ptime", "maxptime"),
    [
        ((), None, None),
        (("a=ptime:20",), 20, None),
        (("a=ptime:30 ", "a=maxptime:60"), 30, 60),
        (("a=ptime:2.5",), None, None),
        (("a=ptime",), None, None),
    ],
)
def test_ptime(lines: tuple[str, ...], ptime: int | None, maxptime: int | None) -> None:
    audio = parse_sdp(audio_offer("0", *lines)).media[0]
    assert (audio.ptime, audio.maxptime) == (ptime, maxptime)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("a=rtcp:53020", Rtcp(53020)),
        ("a=rtcp:53020 IN IP4 126.16.64.4", Rtcp(53020, "126.16.64.4")),
        ("a=rtcp:53020 IN IP6 2001:db8::1", Rtcp(53020, "2001:db8::1")),
        ("a=rtcp:99999", None),
        ("a=rtcp:port", None),
        ("a=rtcp:", None),
        ("a=rtcp", None),
    ],
)
def test_rtcp_attribute(line: str, expected: Rtcp | None) -> None:
    assert parse_sdp(audio_offer("0", line)).media[0].rtcp == expected


def test_attribute_helpers_edit_in_place() -> None:
    sdp = parse_sdp(audio_offer("0", "a=ptime:20", "a=x-a:1", "a=x-a:2", "a=sendrecv"))
    audio = sdp.media[0]
    assert audio.attribute_values("x-a") == ["1", "2"]
    assert audio.has_attribute("ptime") is True
    audio.set_attribute("ptime", "30")
    audio.set_attribute("x-a", "only")
    audio.add_attribute("x-b")
    assert audio.remove_attributes("missing") == 0
    assert [line.to_line() for line in audio.lines] == ["a=ptime:30", "a=x-a:only", "a=sendrecv", "a=x-b"]
    assert audio.remove_attributes("x-a") == 1
    assert audio.attribute_values("x-b") == [""]


def test_connection_setter_keeps_rfc_order() -> None:
    sdp = parse_sdp(PJSUA_OFFER)
    assert sdp.connection is None
    sdp.connection = Connection.for_address("203.0.113.7")
    # After s= and before b=, t= and a= at session level.
    assert sdp.to_str().splitlines()[3:6] == ["c=IN IP4 203.0.113.7", "b=AS:84", "t=0 0"]
    sdp.connection = Connection.for_address("2001:db8::7")
    assert sdp.to_str().splitlines()[3] == "c=IN IP6 2001:db8::7"
    sdp.media[0].connection = None
    assert sdp.media_connection(0) == Connection("IN", "IP6", "2001:db8::7")
    empty = MediaDescription("audio", 1, "RTP/AVP", ["0"])
    empty.connection = Connection.for_address("10.0.0.1")
    assert empty.lines == [Connection("IN", "IP4", "10.0.0.1")]


def test_connection_host_strips_multicast_suffixes() -> None:
    assert Connection("IN", "IP4", "224.2.1.1/127/3").host == "224.2.1.1"
    assert Connection("IN", "IP4", "0.0.0.0").is_hold_address is True
    assert Connection("IN", "IP6", "::").is_hold_address is True
    assert Connection("IN", "IP4", "10.0.0.1").is_hold_address is False


def test_serialising_a_value_with_a_line_break_is_refused() -> None:
    sdp = parse_sdp(SIPP_OFFER)
    sdp.name = "evil\r\na=injected"
    with pytest.raises(ValueError, match="CR or LF"):
        sdp.to_bytes()
    sdp = parse_sdp(SIPP_OFFER)
    sdp.media[0].add_attribute("x", "a\nb")
    with pytest.raises(ValueError, match="CR or LF"):
        sdp.to_bytes()


def test_copy_is_deep() -> None:
    sdp = parse_sdp(PJSUA_OFFER)
    clone = sdp.copy()
    assert clone == sdp
    clone.media[0].port = 1
    clone.media[0].formats.append("13")
    clone.media[0].lines[1].bandwidth = 1  # type: ignore[union-attr]
    clone.media[0].lines[0].address = "10.9.9.9"  # type: ignore[union-attr]
    clone.lines.append(Attribute("x"))
    assert sdp.to_bytes() == PJSUA_OFFER


# --- direction and hold ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("session_attr", "media_attr", "expected"),
    [
        (None, None, Direction.SENDRECV),
        ("sendonly", None, Direction.SENDONLY),
        ("recvonly", None, Direction.RECVONLY),
        ("inactive", None, Direction.INACTIVE),
        (None, "sendonly", Direction.SENDONLY),
        ("sendonly", "sendrecv", Direction.SENDRECV),
        ("inactive", "recvonly", Direction.RECVONLY),
        ("sendrecv", "inactive", Direction.INACTIVE),
    ],
)
def test_media_level_direction_overrides_session_level(
    session_attr: str | None, media_attr: str | None, expected: Direction
) -> None:
    extra = (f"a={media_attr}",) if media_attr else ()
    sdp = parse_sdp(audio_offer("0", *extra, session=f"a={session_attr}" if session_attr else ""))
    assert sdp.media_direction(0) is expected
    assert sdp.media[0].direction == (Direction(media_attr) if media_attr else None)


def test_direction_attribute_with_a_value_is_not_a_direction() -> None:
    sdp = parse_sdp(audio_offer("0", "a=sendonly:1"))
    assert sdp.media_direction(0) is Direction.SENDRECV


@pytest.mark.parametrize(
    ("direction", "address", "hold"),
    [
        ("sendrecv", "192.0.2.9", False),
        ("sendonly", "192.0.2.9", True),
        ("recvonly", "192.0.2.9", False),
        ("inactive", "192.0.2.9", True),
        ("sendrecv", "0.0.0.0", True),
        ("recvonly", "0.0.0.0", True),
        ("sendonly", "0.0.0.0", True),
    ],
)
def test_hold_matrix(direction: str, address: str, hold: bool) -> None:
    sdp = parse_sdp(audio_offer("0", f"a={direction}", connection=address))
    assert sdp.media_is_hold(0) is hold
    assert sdp.is_hold is hold


def test_hold_with_two_streams_rfc4317_3_2() -> None:
    sdp = parse_sdp(RFC4317_3_2_SECOND_OFFER)
    assert sdp.media_is_hold(0) is True
    assert sdp.media_is_hold(1) is False
    assert sdp.is_hold is False  # not "held SDP": the tone stream still receives


def test_disabled_streams_do_not_count_for_hold() -> None:
    held = parse_sdp(audio_offer("0", "a=sendonly") + b"m=video 0 RTP/AVP 31\r\n")
    assert held.media_is_hold(1) is False
    assert held.is_hold is True
    nothing_active = parse_sdp(VALID_HEAD.encode() + b"m=audio 0 RTP/AVP 0\r\na=inactive\r\n")
    assert nothing_active.is_hold is False
    assert parse_sdp(VALID_HEAD.encode()).is_hold is False


def test_direction_helpers() -> None:
    assert [d.reverse() for d in Direction] == [
        Direction.SENDRECV,
        Direction.RECVONLY,
        Direction.SENDONLY,
        Direction.INACTIVE,
    ]
    # RFC 3264 §8.4: sendrecv -> sendonly, recvonly -> inactive.
    assert [d.held() for d in Direction] == [
        Direction.SENDONLY,
        Direction.SENDONLY,
        Direction.INACTIVE,
        Direction.INACTIVE,
    ]
    assert [(d.sends, d.receives) for d in Direction] == [
        (True, True),
        (True, False),
        (False, True),
        (False, False),
    ]
    assert Direction.from_flags(True, False) is Direction.SENDONLY
    assert Direction("recvonly") is Direction.RECVONLY


@pytest.mark.parametrize(
    ("offered", "wanted", "answer"),
    [
        (Direction.SENDRECV, Direction.SENDRECV, Direction.SENDRECV),
        (Direction.SENDONLY, Direction.SENDRECV, Direction.RECVONLY),
        (Direction.RECVONLY, Direction.SENDRECV, Direction.SENDONLY),
        (Direction.INACTIVE, Direction.SENDRECV, Direction.INACTIVE),
        (Direction.SENDRECV, Direction.SENDONLY, Direction.SENDONLY),
        (Direction.SENDRECV, Direction.RECVONLY, Direction.RECVONLY),
        (Direction.SENDRECV, Direction.INACTIVE, Direction.INACTIVE),
        (Direction.SENDONLY, Direction.SENDONLY, Direction.INACTIVE),
        (Direction.RECVONLY, Direction.RECVONLY, Direction.INACTIVE),
    ],
)
def test_answer_direction(offered: Direction, wanted: Direction, answer: Direction) -> None:
    assert answer_direction(offered, wanted) is answer


def test_with_direction_hold_and_unhold_bump_the_version_once_per_change() -> None:
    offer = make_offer("198.51.100.1", 30000, ("PCMU", "PCMA"), origin=OUR_ORIGIN)
    held = offer.with_direction(Direction.SENDONLY)
    assert held.origin == OUR_ORIGIN.next_version()
    assert held.origin.sess_version == 8
    assert held.is_hold is True
    # The direction attribute is replaced where it was; nothing else moves.
    assert held.to_str().replace("a=sendonly", "a=sendrecv").replace(" 4242 8 ", " 4242 7 ") == offer.to_str()
    assert offer.media[0].direction is Direction.SENDRECV  # the original is untouched
    # Asking again for what it already is changes nothing, version included.
    assert held.with_direction("sendonly") == held
    unheld = held.with_direction(Direction.SENDRECV)
    assert unheld.origin.sess_version == 9
    assert unheld.is_hold is False
    assert unheld.media[0].direction is Direction.SENDRECV
    inactive = unheld.with_direction(Direction.INACTIVE)
    assert (inactive.origin.sess_version, inactive.is_hold) == (10, True)


def test_with_direction_moves_a_session_level_direction_to_the_streams() -> None:
    sdp = parse_sdp(audio_offer("0", session="a=sendrecv") + b"m=video 0 RTP/AVP 31\r\n")
    held = sdp.with_direction(Direction.SENDONLY)
    assert held.direction is None
    assert held.media[0].direction is Direction.SENDONLY
    assert held.media[1].direction is None  # a disabled stream is left alone
    assert held.origin.sess_version == sdp.origin.sess_version + 1
    # An SDP without attributes already is sendrecv: no change, no new version.
    plain = parse_sdp(SIPP_OFFER)
    assert plain.with_direction(Direction.SENDRECV).to_bytes() == SIPP_OFFER


def test_next_version() -> None:
    previous = make_offer("198.51.100.1", 30000, origin=OUR_ORIGIN)
    same = make_offer("198.51.100.1", 30000, origin=Origin("other", "1", 99, address="10.9.9.9"))
    assert next_version(previous, same).origin == OUR_ORIGIN
    assert next_version(previous, same).to_bytes() == previous.to_bytes()
    moved = make_offer("198.51.100.1", 30002, origin=Origin("other", "1", 99))
    assert next_version(previous, moved).origin == OUR_ORIGIN.next_version()
    assert next_version(previous, moved).media[0].port == 30002
    assert next_version(None, moved) == moved


# --- make_offer ----------------------------------------------------------------------


def test_make_offer_exact_bytes() -> None:
    offer = make_offer("198.51.100.1", 30000, ("PCMU", "PCMA", "G729"), 101, origin=OUR_ORIGIN)
    assert offer.to_bytes() == crlf("""
        v=0
        o=callcontrol 4242 7 IN IP4 198.51.100.1
        s=-
        c=IN IP4 198.51.100.1
        t=0 0
        m=audio 30000 RTP/AVP 0 8 18 101
        a=rtpmap:0 PCMU/8000
        a=rtpmap:8 PCMA/8000
        a=rtpmap:18 G729/8000
        a=rtpmap:101 telephone-event/8000
        a=fmtp:101 0-16
        a=ptime:20
        a=sendrecv
    """)
    assert parse_sdp(offer.to_bytes()) == offer


def test_make_offer_options() -> None:
    offer = make_offer(
        "2001:db8::1",
        40000,
        ("PCMA/8000", "opus/48000/2", RtpMap(110, "speex", 16000)),
        96,
        Direction.SENDONLY,
        ptime=None,
        telephone_events="0-15",
        fmtp={97: "useinbandfec=1"},
        session_name="call",
    )
    lines = offer.to_str().splitlines()
    assert lines[1].startswith("o=- ") and lines[1].endswith(" 1 IN IP6 2001:db8::1")
    assert lines[1].split()[1].isdigit()
    assert lines[2:] == [
        "s=call",
        "c=IN IP6 2001:db8::1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 8 97 110 96",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:97 opus/48000/2",
        "a=rtpmap:110 speex/16000",
        "a=rtpmap:96 telephone-event/8000",
        "a=fmtp:97 useinbandfec=1",
        "a=fmtp:96 0-15",
        "a=sendonly",
    ]


def test_make_offer_without_telephone_event_and_skipping_it_in_codecs() -> None:
    offer = make_offer("10.0.0.1", 5000, ("pcmu", "telephone-event/8000"), None, origin=OUR_ORIGIN)
    assert offer.media[0].formats == ["0"]
    assert offer.media[0].telephone_event_pt is None
    assert offer.media[0].fmtp() == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"telephone_event_pt": 95}, "not dynamic"),
        ({"telephone_event_pt": 128}, "not dynamic"),
        ({"port": 70000}, "bad port"),
        ({"port": -1}, "bad port"),
        ({"port": 0}, "bad port"),
        ({"codecs": ("opus",)}, "give its clock rate"),
        ({"codecs": ("PCMU/x",)}, "bad codec spec"),
        ({"codecs": ("/8000",)}, "bad codec spec"),
        ({"codecs": ()}, "at least one codec"),
        ({"codecs": ("PCMU", "PCMU")}, "used twice"),
        ({"codecs": (RtpMap(101, "speex", 8000),)}, "used twice"),
    ],
)
def test_make_offer_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"address": "10.0.0.1", "port": 5000, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_offer(**arguments)  # type: ignore[arg-type]


def test_make_offer_runs_out_of_dynamic_payload_types() -> None:
    codecs = [f"x{n}/8000" for n in range(33)]
    with pytest.raises(ValueError, match="no dynamic payload type left"):
        make_offer("10.0.0.1", 5000, codecs)


# --- make_answer -----------------------------------------------------------------------


def test_answer_to_sipp_offer_exact_bytes() -> None:
    answer = make_answer(parse_sdp(SIPP_OFFER), address="198.51.100.1", port=30000, origin=OUR_ORIGIN)
    assert answer.to_bytes() == crlf("""
        v=0
        o=callcontrol 4242 7 IN IP4 198.51.100.1
        s=-
        c=IN IP4 198.51.100.1
        t=0 0
        m=audio 30000 RTP/AVP 0
        a=rtpmap:0 PCMU/8000
        a=ptime:20
        a=sendrecv
    """)


def test_answer_to_pjsua_keeps_offerer_order_and_telephone_event_pt() -> None:
    answer = make_answer(parse_sdp(PJSUA_OFFER), address="198.51.100.1", port=30000, origin=OUR_ORIGIN)
    audio = answer.media[0]
    assert audio.formats == ["0", "8", "120"]
    assert audio.telephone_event_pt == 120
    assert audio.fmtp() == {120: "0-16"}
    assert [line.to_line() for line in audio.lines] == [
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:120 telephone-event/8000",
        "a=fmtp:120 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]


def test_answer_follows_offerer_preference_not_ours() -> None:
    offer = parse_sdp(audio_offer("8 0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15"))
    answer = make_answer(offer, address="10.0.0.1", port=5000, supported=("PCMU", "PCMA", "telephone-event"))
    assert answer.media[0].formats == ["8", "0", "101"]
    assert answer.media[0].fmtp() == {101: "0-15"}


def test_answer_single_codec() -> None:
    answer = make_answer(parse_sdp(PJSUA_OFFER), address="10.0.0.1", port=5000, single_codec=True)
    assert answer.media[0].formats == ["0", "120"]


def test_answer_single_codec_keeps_only_the_telephone_event_at_the_codec_rate() -> None:
    offer = parse_sdp(
        audio_offer(
            "9 0 100 101",
            "a=rtpmap:100 telephone-event/16000",
            "a=rtpmap:101 telephone-event/8000",
        )
    )
    answer = make_answer(
        offer, address="10.0.0.1", port=5000, supported=("PCMU", "telephone-event"), single_codec=True
    )
    assert answer.media[0].formats == ["0", "101"]
    both = make_answer(offer, address="10.0.0.1", port=5000, supported=("PCMU", "telephone-event"))
    assert both.media[0].formats == ["0", "100", "101"]


def test_answer_keeps_dynamic_numbering_of_a_static_codec() -> None:
    offer = parse_sdp(audio_offer("96 97", "a=rtpmap:96 pcmu/8000", "a=rtpmap:97 telephone-event/8000"))
    answer = make_answer(offer, address="10.0.0.1", port=5000)
    assert answer.media[0].codecs() == [RtpMap(96, "pcmu", 8000), RtpMap(97, "telephone-event", 8000)]


def test_no_common_codec_rejects_the_stream_with_port_zero() -> None:
    offer = parse_sdp(audio_offer("18 101", "a=rtpmap:101 telephone-event/8000"))
    answer = make_answer(offer, address="10.0.0.1", port=5000, origin=OUR_ORIGIN)
    assert answer.media[0].port == 0
    assert answer.media[0].formats == ["18", "101"]
    assert answer.media[0].lines == []
    assert answer.find_media("audio") is None
    assert parse_sdp(answer.to_bytes()) == answer


def test_telephone_event_alone_is_not_enough() -> None:
    offer = parse_sdp(audio_offer("9 101", "a=rtpmap:101 telephone-event/8000"))
    assert make_answer(offer, address="10.0.0.1", port=5000).media[0].port == 0


def test_telephone_event_at_another_clock_rate_is_left_out() -> None:
    offer = parse_sdp(
        audio_offer("0 100 101", "a=rtpmap:100 telephone-event/16000", "a=rtpmap:101 telephone-event/8000")
    )
    assert make_answer(offer, address="10.0.0.1", port=5000).media[0].formats == ["0", "101"]


def test_answer_rfc4317_audio_and_video() -> None:
    offer = parse_sdp(RFC4317_2_1_OFFER)
    answer = make_answer(offer, address="198.51.100.1", port=49174, supported=("PCMU",), ptime=None)
    assert [m.m_value() for m in answer.media] == ["audio 49174 RTP/AVP 0", "video 0 RTP/AVP 31 32"]
    assert answer.media[0].lines == [Attribute("rtpmap", "0 PCMU/8000"), Attribute("sendrecv")]


def test_answer_rfc4317_two_audio_streams() -> None:
    offer = parse_sdp(RFC4317_2_6_OFFER)
    # We accept one audio stream: the first one we can use.
    ours = make_answer(offer, address="10.0.0.1", port=5000)
    assert [m.m_value() for m in ours.media] == ["audio 5000 RTP/AVP 0", "audio 0 RTP/AVP 97 101"]
    # With iLBC, as Bob in the RFC: the first stream is declined, the second accepted.
    bob = make_answer(offer, address="10.0.0.1", port=49170, supported=("iLBC/8000", "telephone-event/8000"))
    assert [m.m_value() for m in bob.media] == ["audio 0 RTP/AVP 0", "audio 49170 RTP/AVP 97 101"]


def test_answer_rejects_disabled_and_secure_streams() -> None:
    body = crlf("""
        v=0
        o=- 1 1 IN IP4 10.0.0.9
        s=-
        c=IN IP4 10.0.0.9
        t=0 0
        m=audio 0 RTP/AVP 0
        m=audio 5000 RTP/SAVP 0
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
        m=audio 5002 RTP/AVP 8
    """)
    answer = make_answer(parse_sdp(body), address="10.0.0.1", port=6000)
    assert [m.m_value() for m in answer.media] == [
        "audio 0 RTP/AVP 0",
        "audio 0 RTP/SAVP 0",
        "audio 6000 RTP/AVP 8",
    ]


@pytest.mark.parametrize(
    ("offer_lines", "session", "connection", "wanted", "expected"),
    [
        ((), "", "192.0.2.9", Direction.SENDRECV, "sendrecv"),
        (("a=sendonly",), "", "192.0.2.9", Direction.SENDRECV, "recvonly"),
        (("a=recvonly",), "", "192.0.2.9", Direction.SENDRECV, "sendonly"),
        (("a=inactive",), "", "192.0.2.9", Direction.SENDRECV, "inactive"),
        ((), "a=sendonly", "192.0.2.9", Direction.SENDRECV, "recvonly"),
        ((), "", "0.0.0.0", Direction.SENDRECV, "recvonly"),
        (("a=sendonly",), "", "0.0.0.0", Direction.SENDRECV, "recvonly"),
        ((), "", "192.0.2.9", Direction.SENDONLY, "sendonly"),
        (("a=sendonly",), "", "192.0.2.9", Direction.SENDONLY, "inactive"),
        ((), "", "192.0.2.9", Direction.INACTIVE, "inactive"),
    ],
)
def test_answer_direction_follows_rfc3264(
    offer_lines: tuple[str, ...], session: str, connection: str, wanted: Direction, expected: str
) -> None:
    offer = parse_sdp(audio_offer("0", *offer_lines, session=session, connection=connection))
    answer = make_answer(offer, address="10.0.0.1", port=5000, direction=wanted)
    assert answer.media[0].direction is Direction(expected)
    assert answer.media[0].lines[-1] == Attribute(expected)


def test_answer_to_rfc4317_black_hole_offer() -> None:
    answer = make_answer(
        parse_sdp(RFC4317_5_2_OFFER), address="10.0.0.1", port=5000, supported=("iLBC/8000",)
    )
    assert answer.media[0].m_value() == "audio 5000 RTP/AVP 97"
    assert answer.media[0].direction is Direction.RECVONLY


def test_answer_bad_arguments() -> None:
    offer = parse_sdp(SIPP_OFFER)
    with pytest.raises(ValueError, match="bad port"):
        make_answer(offer, address="10.0.0.1", port=0)
    with pytest.raises(ValueError, match="bad codec spec"):
        make_answer(offer, address="10.0.0.1", port=5000, supported=("PCMU/eight",))


def test_answer_ipv6_and_default_origin() -> None:
    answer = make_answer(parse_sdp(SIPP_OFFER), address="2001:db8::5", port=5000)
    assert answer.connection == Connection("IN", "IP6", "2001:db8::5")
    assert (answer.origin.username, answer.origin.sess_version) == ("-", 1)
    assert (answer.origin.addrtype, answer.origin.address) == ("IP6", "2001:db8::5")


# --- rewrite for media anchoring -----------------------------------------------------------


def test_rewrite_pjsua_offer_to_our_media_port() -> None:
    original = parse_sdp(PJSUA_OFFER)
    relayed = rewrite_media_address(original, "203.0.113.5", 30000)
    assert relayed.to_bytes() == crlf("""
        v=0
        o=- 3831296384 3831296384 IN IP4 203.0.113.5
        s=pjmedia
        c=IN IP4 203.0.113.5
        b=AS:84
        t=0 0
        a=X-nat:0
        m=audio 30000 RTP/AVP 98 97 99 104 3 0 8 9 120
        b=AS:64000
        a=rtpmap:98 speex/16000
        a=rtpmap:97 speex/8000
        a=rtpmap:99 speex/32000
        a=rtpmap:104 iLBC/8000
        a=fmtp:104 mode=30
        a=rtpmap:3 GSM/8000
        a=rtpmap:0 PCMU/8000
        a=rtpmap:8 PCMA/8000
        a=rtpmap:9 G722/8000
        a=rtpmap:120 telephone-event/8000
        a=fmtp:120 0-16
        a=sendrecv
    """)
    assert original.to_bytes() == PJSUA_OFFER


def test_rewrite_keeps_a_legacy_hold_address_and_direction() -> None:
    relayed = rewrite_media_address(parse_sdp(LINPHONE_HOLD_ANSWER), "203.0.113.5", 30002, origin=OUR_ORIGIN)
    assert relayed.origin == OUR_ORIGIN
    assert relayed.connection == Connection("IN", "IP4", "0.0.0.0")
    assert relayed.media[0].port == 30002
    assert relayed.media_direction(0) is Direction.INACTIVE
    assert relayed.media[0].fmtp() == {101: "0-15"}
    assert relayed.is_hold is True


def test_rewrite_disables_streams_it_does_not_relay_and_drops_ice() -> None:
    body = crlf("""
        v=0
        o=- 5 5 IN IP4 192.0.2.1
        s=-
        t=0 0
        m=audio 4000/2 RTP/AVP 0
        c=IN IP4 192.0.2.1
        a=ice-ufrag:F7gI
        a=ice-pwd:x9cml/YzichV2+XlhiMu8g
        a=candidate:1 1 UDP 2130706431 192.0.2.1 4000 typ host
        a=rtcp:4001
        a=rtcp-mux
        a=sendonly
        m=video 4002 RTP/AVP 31
        c=IN IP4 192.0.2.2
        a=rtpmap:31 H261/90000
        m=audio 4004 RTP/AVP 8
        c=IN IP4 192.0.2.1
    """)
    relayed = rewrite_media_address(parse_sdp(body), "2001:db8::1", 30000)
    assert relayed.origin == Origin("-", "5", 5, "IN", "IP6", "2001:db8::1")
    assert relayed.to_str().splitlines()[3:] == [
        "c=IN IP6 2001:db8::1",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0",
        "a=sendonly",
        "m=video 0 RTP/AVP 31",
        "a=rtpmap:31 H261/90000",
        "m=audio 0 RTP/AVP 8",
    ]


def test_rewrite_bad_port() -> None:
    with pytest.raises(ValueError, match="bad port"):
        rewrite_media_address(parse_sdp(SIPP_OFFER), "10.0.0.1", 0)


# --- negotiated media facts ------------------------------------------------------------------


def test_facts_when_we_answered_pjsua() -> None:
    offer = parse_sdp(PJSUA_OFFER)
    answer = make_answer(offer, address="198.51.100.1", port=30000)
    facts = negotiated_media(answer, offer)
    assert facts is not None
    assert (facts.index, facts.address, facts.port) == (0, "192.168.1.10", 4000)
    assert (facts.rtcp_address, facts.rtcp_port) == ("192.168.1.10", 4001)
    assert facts.codecs == (RtpMap(0, "PCMU", 8000), RtpMap(8, "PCMA", 8000))
    assert facts.receive_codecs == facts.codecs
    assert facts.codec == RtpMap(0, "PCMU", 8000)
    assert (facts.telephone_event_pt, facts.receive_telephone_event_pt) == (120, 120)
    assert facts.ptime is None
    assert facts.direction is Direction.SENDRECV


def test_facts_when_the_answerer_renumbered() -> None:
    offer = make_offer("198.51.100.1", 30000, ("PCMU", "PCMA"), 101, origin=OUR_ORIGIN)
    answer = parse_sdp(
        crlf("""
            v=0
            o=far 1 1 IN IP4 192.0.2.50
            s=-
            c=IN IP4 192.0.2.50
            t=0 0
            m=audio 7000 RTP/AVP 8 99
            a=rtpmap:99 telephone-event/8000
            a=ptime:30
        """)
    )
    facts = negotiated_media(offer, answer)
    assert facts is not None
    assert (facts.address, facts.port, facts.rtcp_port) == ("192.0.2.50", 7000, 7001)
    assert facts.codecs == (RtpMap(8, "PCMA", 8000),)
    assert (facts.telephone_event_pt, facts.receive_telephone_event_pt) == (99, 101)
    assert facts.ptime == 30


def test_facts_take_rtcp_from_the_rtcp_attribute() -> None:
    local = make_offer("198.51.100.1", 30000, ("PCMU",), None, origin=OUR_ORIGIN)
    remote = parse_sdp(audio_offer("0", "a=rtcp:6100 IN IP4 192.0.2.10"))
    facts = negotiated_media(local, remote)
    assert facts is not None
    assert (facts.address, facts.port, facts.rtcp_address, facts.rtcp_port) == (
        "192.0.2.9",
        5004,
        "192.0.2.10",
        6100,
    )
    port_only = negotiated_media(local, parse_sdp(audio_offer("0", "a=rtcp:6100")))
    assert port_only is not None
    assert (port_only.rtcp_address, port_only.rtcp_port) == ("192.0.2.9", 6100)


@pytest.mark.parametrize(
    ("ours", "theirs", "their_address", "expected"),
    [
        (Direction.SENDRECV, Direction.SENDRECV, "192.0.2.50", Direction.SENDRECV),
        (Direction.SENDRECV, Direction.SENDONLY, "192.0.2.50", Direction.RECVONLY),
        (Direction.SENDRECV, Direction.RECVONLY, "192.0.2.50", Direction.SENDONLY),
        (Direction.SENDRECV, Direction.INACTIVE, "192.0.2.50", Direction.INACTIVE),
        (Direction.SENDONLY, Direction.RECVONLY, "192.0.2.50", Direction.SENDONLY),
        (Direction.SENDRECV, Direction.SENDRECV, "0.0.0.0", Direction.RECVONLY),
        (Direction.INACTIVE, Direction.SENDRECV, "192.0.2.50", Direction.INACTIVE),
    ],
)
def test_facts_direction(ours: Direction, theirs: Direction, their_address: str, expected: Direction) -> None:
    local = make_offer("198.51.100.1", 30000, ("PCMU",), None, ours, origin=OUR_ORIGIN)
    remote = parse_sdp(audio_offer("0", f"a={theirs.value}", connection=their_address))
    facts = negotiated_media(local, remote)
    assert facts is not None
    assert facts.direction is expected


def test_facts_when_we_hold_with_a_black_hole_address() -> None:
    local = make_offer("0.0.0.0", 30000, ("PCMU",), None, origin=OUR_ORIGIN)
    facts = negotiated_media(local, parse_sdp(SIPP_OFFER))
    assert facts is not None and facts.direction is Direction.SENDONLY


def test_facts_none_without_a_usable_stream() -> None:
    local = make_offer("198.51.100.1", 30000, ("PCMU",), 101, origin=OUR_ORIGIN)
    assert (
        negotiated_media(local, parse_sdp(audio_offer("8 101", "a=rtpmap:101 telephone-event/8000"))) is None
    )
    rejected = parse_sdp(VALID_HEAD.encode() + b"m=audio 0 RTP/AVP 0\r\n")
    assert negotiated_media(local, rejected) is None
    video_only = parse_sdp(VALID_HEAD.encode() + b"m=video 5000 RTP/AVP 0\r\n")
    assert negotiated_media(local, video_only) is None
    two_streams = parse_sdp(RFC4317_2_6_OFFER)
    assert negotiated_media(local, two_streams) is not None  # index 0 is PCMU
    assert negotiated_media(make_answer(two_streams, address="10.0.0.1", port=5000), two_streams) is not None


def test_facts_pick_the_stream_our_answer_accepted() -> None:
    offer = parse_sdp(RFC4317_2_6_OFFER)
    answer = make_answer(
        offer, address="10.0.0.1", port=5000, supported=("iLBC/8000", "telephone-event/8000")
    )
    facts = negotiated_media(answer, offer)
    assert facts is not None
    assert (facts.index, facts.port, facts.codecs) == (1, 51372, (RtpMap(97, "iLBC", 8000),))
    assert facts.telephone_event_pt == 101


# --- a full B2BUA exchange ------------------------------------------------------------------


def test_b2bua_relay_round() -> None:
    # A offers to us; we relay to B from our port 30002; B answers; we answer A from port 30000.
    a_offer = parse_sdp(PJSUA_OFFER)
    to_b = rewrite_media_address(a_offer, "198.51.100.1", 30002, origin=OUR_ORIGIN)
    b_answer = make_answer(to_b, address="192.0.2.77", port=9000, origin=Origin("b", "9", 1))
    to_a = rewrite_media_address(b_answer, "198.51.100.1", 30000, origin=Origin("cc", "10", 1))
    a_facts = negotiated_media(to_a, a_offer)
    b_facts = negotiated_media(to_b, b_answer)
    assert a_facts is not None and b_facts is not None
    assert (a_facts.address, a_facts.port, b_facts.address, b_facts.port) == (
        "192.168.1.10",
        4000,
        "192.0.2.77",
        9000,
    )
    assert a_facts.codec == b_facts.codec == RtpMap(0, "PCMU", 8000)
    assert a_facts.telephone_event_pt == b_facts.telephone_event_pt == 120
    # A puts B on hold: relaying A's re-offer bumps our version towards B.
    a_hold = parse_sdp(PJSUA_OFFER.replace(b"a=sendrecv", b"a=sendonly"))
    hold_to_b = next_version(to_b, rewrite_media_address(a_hold, "198.51.100.1", 30002))
    assert hold_to_b.origin == OUR_ORIGIN.next_version()
    assert hold_to_b.is_hold is True
    refresh_to_b = next_version(to_b, rewrite_media_address(a_offer, "198.51.100.1", 30002))
    assert refresh_to_b.origin == OUR_ORIGIN


# --- properties -------------------------------------------------------------------------------

TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._+/", min_size=1, max_size=12
)
ATTR_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
FREE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=20
)
UINT = st.integers(min_value=0, max_value=2**40)

connections = st.builds(Connection, TOKEN, TOKEN, TOKEN)
attributes = st.builds(Attribute, ATTR_NAME, st.none() | FREE_TEXT)
bandwidths = st.builds(
    Bandwidth, st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=5), UINT
)
session_raw = st.builds(RawLine, st.sampled_from("iuepzrkxyIZ"), FREE_TEXT)
media_raw = st.builds(RawLine, st.sampled_from("iktxyQ"), FREE_TEXT)

media_descriptions = st.builds(
    MediaDescription,
    TOKEN,
    st.integers(min_value=0, max_value=65535),
    TOKEN,
    st.lists(TOKEN, min_size=1, max_size=6),
    st.none() | st.integers(min_value=1, max_value=8),
    st.lists(st.one_of(attributes, connections, bandwidths, media_raw), max_size=6),
)


@st.composite
def session_descriptions(draw: st.DrawFn) -> SessionDescription:
    origin = st.builds(Origin, TOKEN, TOKEN, UINT, TOKEN, TOKEN, TOKEN)
    # A session-level c= keeps every generated stream valid (RFC 4566 §5.7).
    others = draw(
        st.lists(st.one_of(attributes, bandwidths, session_raw, st.builds(Timing, UINT, UINT)), max_size=8)
    )
    position = draw(st.integers(min_value=0, max_value=len(others)))
    lines = [*others[:position], draw(connections), *others[position:]]
    return SessionDescription(
        draw(origin), draw(FREE_TEXT), lines, draw(st.lists(media_descriptions, max_size=3))
    )


@settings(max_examples=200, deadline=None)
@given(session_descriptions())
def test_round_trip_generated_sdp(sdp: SessionDescription) -> None:
    wire = sdp.to_bytes()
    parsed = parse_sdp(wire)
    assert parsed == sdp
    assert parsed.to_bytes() == wire
    assert parse_sdp(wire.replace(b"\r\n", b"\n")) == sdp


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_sdp_parse_error(data: bytes) -> None:
    try:
        parsed = parse_sdp(data)
    except SdpParseError:
        return
    assert parse_sdp(parsed.to_bytes()) == parsed


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([SIPP_OFFER, PJSUA_OFFER, LINPHONE_HOLD_ANSWER, RFC4317_2_1_OFFER]), st.data())
def test_damaged_real_sdp_parses_or_raises_sdp_parse_error(body: bytes, data: st.DataObject) -> None:
    lines = body.split(b"\r\n")
    index = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    replacement = data.draw(st.binary(max_size=20) | st.sampled_from([b"", b"m=", b"c=IN", b"a=", b"o=1"]))
    damaged = b"\r\n".join([*lines[:index], replacement, *lines[index + 1 :]])
    try:
        parsed = parse_sdp(damaged)
    except SdpParseError:
        return
    assert parse_sdp(parsed.to_bytes()) == parsed


CODEC_POOL = [
    RtpMap(0, "PCMU", 8000),
    RtpMap(8, "PCMA", 8000),
    RtpMap(18, "G729", 8000),
    RtpMap(9, "G722", 8000),
    RtpMap(3, "GSM", 8000),
    RtpMap(96, "opus", 48000, 2),
    RtpMap(97, "speex", 8000),
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(CODEC_POOL), min_size=1, max_size=7, unique=True),
    st.none() | st.integers(min_value=100, max_value=127),
    st.sampled_from(list(Direction)),
)
def test_answer_is_a_subsequence_of_the_offer(
    codecs: list[RtpMap], event_pt: int | None, direction: Direction
) -> None:
    offer = make_offer("192.0.2.1", 4000, codecs, event_pt, direction, origin=OUR_ORIGIN)
    answer = make_answer(parse_sdp(offer.to_bytes()), address="198.51.100.1", port=30000)
    offered = offer.media[0].formats
    answered = answer.media[0].formats
    voice = [str(c.payload_type) for c in codecs if c.encoding in ("PCMU", "PCMA")]
    if not voice:
        assert answer.media[0].port == 0
        assert negotiated_media(answer, offer) is None
        return
    expected = voice + ([str(event_pt)] if event_pt is not None else [])
    assert answered == expected
    assert answered == [fmt for fmt in offered if fmt in answered]
    assert answer.media[0].direction is answer_direction(direction)
    facts = negotiated_media(offer, answer)
    assert facts is not None
    assert [str(c.payload_type) for c in facts.codecs] == voice
    assert facts.telephone_event_pt == event_pt


def test_rtpmap_cache_stays_bounded() -> None:
    for n in range(sdp_module._RTPMAP_CACHE_SIZE + 10):
        parse_rtpmap(f"96 x{n}/8000")
    assert len(sdp_module._rtpmap_cache) <= sdp_module._RTPMAP_CACHE_SIZE
    assert parse_rtpmap("0 PCMU/8000") == RtpMap(0, "PCMU", 8000)
