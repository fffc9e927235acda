"""sip.message.has_sdp and allow_events on parsed messages."""
from __future__ import annotations

from sip.message import Headers, Request, allow_events, has_sdp, parse_message


def options(*extra: str, body: bytes = b"") -> Request:
    lines = ["OPTIONS sip:bob@example.com SIP/2.0", "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKh1",
             "From: <sip:alice@example.com>;tag=a", "To: <sip:bob@example.com>", "Call-ID: h1",
             "CSeq: 1 OPTIONS", *extra, f"Content-Length: {len(body)}", "", ""]
    msg = parse_message("\r\n".join(lines).encode() + body)
    assert isinstance(msg, Request)
    return msg


def test_has_sdp_needs_a_body_typed_sdp_or_untyped() -> None:
    assert not has_sdp(options())
    assert not has_sdp(options("Content-Type: application/sdp"))
    assert has_sdp(options("Content-Type: application/sdp", body=b"v=0\r\n"))
    assert has_sdp(options("Content-Type: Application/SDP; charset=utf-8", body=b"v=0\r\n"))
    assert has_sdp(options(body=b"v=0\r\n"))
    assert not has_sdp(options("Content-Type: text/plain", body=b"hello"))


def test_allow_events_lists_packages_lower_case_without_params() -> None:
    assert allow_events(options()) == frozenset()
    msg = options("Allow-Events: talk, Hold;x=1", "u: refer,,  ")
    assert allow_events(msg) == frozenset({"talk", "hold", "refer"})


def test_headers_collect_gathers_several_names_in_one_pass() -> None:
    h = Headers.from_pairs([("Require", "timer"), ("Accept", "application/sdp"), ("X-Other", "x"),
                            ("require", "100rel"), ("Via", "SIP/2.0/UDP h")])
    assert h.collect(frozenset({"require", "accept", "supported"})) == {
        "require": ["timer", "100rel"], "accept": ["application/sdp"]}
    assert h.collect(frozenset({"supported"})) == {}
    assert Headers.from_pairs([("k", "timer")]).collect(frozenset({"supported"})) == {"supported": ["timer"]}
