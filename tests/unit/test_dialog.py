"""sip.dialog: dialog creation, in-dialog request building and checks (RFC 3261 §12-§15)."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip.dialog import (
    Dialog,
    DialogError,
    DialogId,
    DialogRole,
    DialogState,
    DialogTable,
    glare_retry_delay,
    new_call_id,
    new_tag,
)
from sip.errors import SipParseError
from sip.message import Request, Response, make_response, parse_message

CALL_ID = "a84b4c76e66710@pc33.atlanta.example.com"
ALICE_FROM = "Alice <sip:alice@atlanta.example.com>;tag=1928301774"
ALICE_CONTACT = "<sip:alice@pc33.atlanta.example.com>"
TEST_VIA = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtest1"


def parse(text: str, body: bytes = b"") -> Request | Response:
    head = text.strip("\n").replace("\n", "\r\n")
    return parse_message(f"{head}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)


def req(text: str, body: bytes = b"") -> Request:
    m = parse(text, body)
    assert isinstance(m, Request)
    return m


def resp(text: str, body: bytes = b"") -> Response:
    m = parse(text, body)
    assert isinstance(m, Response)
    return m


def roundtrip(request: Request) -> Request:
    """Put a Via on a built request (the UA core's job), serialise, parse, validate, compare."""
    assert request.via_values == []
    assert "via" not in request.headers
    sent = Request(request.method, request.uri, request.headers.copy(), request.body)
    sent.push_via(TEST_VIA)
    wire = sent.to_bytes()
    parsed = parse_message(wire)
    assert isinstance(parsed, Request)
    parsed.validate()
    assert parsed.method == request.method
    assert parsed.uri == request.uri
    assert parsed.body == request.body
    assert list(parsed.headers) == [("Via", TEST_VIA), *request.headers,
                                    ("Content-Length", str(len(request.body)))]
    assert (parsed.call_id, parsed.cseq, parsed.from_tag, parsed.to_tag) == (
        request.call_id, request.cseq, request.from_tag, request.to_tag)
    return parsed


# Our INVITE (we are Alice, the UAC).
OUR_INVITE = f"""
INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: {ALICE_FROM}
Call-ID: {CALL_ID}
CSeq: 314159 INVITE
Contact: {ALICE_CONTACT}
"""


def answer(status: str, *, to_tag: str | None = "a6c85cf", record_route: tuple[str, ...] = (),
           contact: str | None = "<sip:bob@192.0.2.4>", cseq: str = "314159 INVITE") -> Response:
    lines = [f"SIP/2.0 {status}",
             "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1"]
    lines += [f"Record-Route: {rr}" for rr in record_route]
    lines.append("To: Bob <sip:bob@biloxi.example.com>" + (f";tag={to_tag}" if to_tag else ""))
    lines += [f"From: {ALICE_FROM}", f"Call-ID: {CALL_ID}", f"CSeq: {cseq}"]
    if contact:
        lines.append(f"Contact: {contact}")
    return resp("\n".join(lines))


def uac_dialog(record_route: tuple[str, ...] = ()) -> Dialog:
    return Dialog.from_uac(req(OUR_INVITE), answer("200 OK", record_route=record_route), 10.0)


# An INVITE we receive (we are Bob, the UAS).
THEIR_INVITE = f"""
INVITE sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP p1.atlanta.example.com;branch=z9hG4bK77ef4c2312983.1
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1
Max-Forwards: 68
Record-Route: <sip:p2.biloxi.example.com;lr>
Record-Route: <sip:p1.atlanta.example.com;lr>
To: Bob <sip:bob@biloxi.example.com>
From: {ALICE_FROM}
Call-ID: {CALL_ID}
CSeq: 314159 INVITE
Contact: {ALICE_CONTACT}
"""
BOB_CONTACT = "<sip:bob@192.0.2.4:5060>"


def uas_dialog(confirmed: bool = True) -> tuple[Dialog, Request]:
    invite = req(THEIR_INVITE)
    d = Dialog.from_uas(invite, "b0b7a9", BOB_CONTACT, now=5.0)
    if confirmed:
        d.response_sent(invite, make_response(invite, 200, to_tag="b0b7a9",
                                              headers=[("Contact", BOB_CONTACT)]))
    return d, invite


def incoming(method: str, cseq: int, *, contact: str | None = None, to_tag: str = "b0b7a9",
             from_: str = ALICE_FROM, body: bytes = b"", ctype: str | None = None) -> Request:
    lines = [f"{method} sip:bob@192.0.2.4:5060 SIP/2.0",
             "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnew" + str(cseq),
             "Max-Forwards: 70", f"From: {from_}", f"To: Bob <sip:bob@biloxi.example.com>;tag={to_tag}",
             f"Call-ID: {CALL_ID}", f"CSeq: {cseq} {method}"]
    if contact:
        lines.append(f"Contact: {contact}")
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    return req("\n".join(lines), body)


class StubRng:
    """Records the bounds asked for and answers one of them."""

    def __init__(self, pick_high: bool) -> None:
        self.pick_high = pick_high
        self.calls: list[tuple[int, int]] = []

    def randint(self, a: int, b: int) -> int:
        self.calls.append((a, b))
        return b if self.pick_high else a


# -- UAC dialogs ------------------------------------------------------------------------
def test_uac_dialog_from_200_reverses_record_route_and_builds_bye() -> None:
    d = uac_dialog(("<sip:p2.biloxi.example.com;lr>", "<sip:p1.atlanta.example.com;lr>"))
    assert d.id == DialogId(CALL_ID, "1928301774", "a6c85cf")
    assert (d.role, d.state) == (DialogRole.UAC, DialogState.CONFIRMED)
    assert d.route_set == ["<sip:p1.atlanta.example.com;lr>", "<sip:p2.biloxi.example.com;lr>"]
    assert d.remote_target == "sip:bob@192.0.2.4"
    assert (d.local_seq, d.remote_seq) == (314159, None)
    assert d.local_contact == ALICE_CONTACT
    assert d.created_at == 10.0
    assert d.secure is False
    assert not d.local_invite_in_progress

    bye = d.create_bye()
    assert bye.method == "BYE"
    assert bye.uri == "sip:bob@192.0.2.4"
    assert list(bye.headers) == [
        ("Route", "<sip:p1.atlanta.example.com;lr>"),
        ("Route", "<sip:p2.biloxi.example.com;lr>"),
        ("Max-Forwards", "70"),
        ("From", '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774'),
        ("To", '"Bob" <sip:bob@biloxi.example.com>;tag=a6c85cf'),
        ("Call-ID", CALL_ID),
        ("CSeq", "314160 BYE"),
    ]
    assert bye.body == b""
    roundtrip(bye)


def test_record_route_on_one_line_is_split_and_reversed() -> None:
    d = uac_dialog(("<sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com;lr;ftag=x>",))
    assert d.route_set == ["<sip:p1.atlanta.example.com;lr;ftag=x>", "<sip:p2.biloxi.example.com;lr>"]


def test_no_record_route_means_no_route_header() -> None:
    d = uac_dialog()
    bye = d.create_bye()
    assert "route" not in bye.headers
    assert bye.uri == "sip:bob@192.0.2.4"


def test_strict_router_first_hop_takes_the_request_uri() -> None:
    # p1 (first hop after reversal) lacks ;lr: §12.2.1.1 strict routing.
    d = uac_dialog(("<sip:p2.biloxi.example.com;lr>", "<sip:p1.atlanta.example.com;transport=tcp>"))
    bye = d.create_bye()
    assert bye.uri == "sip:p1.atlanta.example.com;transport=tcp"
    assert bye.headers.get_all("route") == ["<sip:p2.biloxi.example.com;lr>", "<sip:bob@192.0.2.4>"]
    roundtrip(bye)


def test_strict_router_uri_loses_method_param_and_headers() -> None:
    d = uac_dialog(("<sip:p1.atlanta.example.com;method=INVITE?X-Y=1>",))
    bye = d.create_bye()
    assert bye.uri == "sip:p1.atlanta.example.com"
    assert bye.headers.get_all("route") == ["<sip:bob@192.0.2.4>"]
    roundtrip(bye)


def test_lr_with_a_value_is_loose_routing() -> None:
    d = uac_dialog(("<sip:kamailio.example.com;lr=on>",))
    bye = d.create_bye()
    assert bye.uri == "sip:bob@192.0.2.4"
    assert bye.headers.get_all("route") == ["<sip:kamailio.example.com;lr=on>"]


def test_sips_request_uri_sets_secure_flag() -> None:
    invite = req(OUR_INVITE.replace("INVITE sip:bob@biloxi", "INVITE sips:bob@biloxi"))
    assert Dialog.from_uac(invite, answer("200 OK"), 0.0).secure is True
    assert Dialog.from_uac(invite, answer("200 OK"), 0.0, secure=False).secure is False


def test_provisional_without_to_tag_or_100_creates_no_dialog() -> None:
    with pytest.raises(ValueError):
        Dialog.from_uac(req(OUR_INVITE), answer("180 Ringing", to_tag=None), 0.0)
    with pytest.raises(ValueError):
        Dialog.from_uac(req(OUR_INVITE), answer("100 Trying"), 0.0)
    with pytest.raises(ValueError):
        Dialog.from_uac(req(OUR_INVITE), answer("486 Busy Here"), 0.0)


def test_early_then_confirmed_recomputes_route_set_and_target() -> None:
    invite = req(OUR_INVITE)
    d = Dialog.from_uac(invite, answer("180 Ringing", contact="<sip:bob@10.9.9.9>"), 1.0)
    assert d.state is DialogState.EARLY
    assert d.route_set == []
    assert d.remote_target == "sip:bob@10.9.9.9"
    assert d.local_invite_in_progress and not d.can_reinvite
    with pytest.raises(DialogError):
        d.create_reinvite(b"v=0\r\n")

    ok = answer("200 OK", record_route=("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"))
    assert d.receive_response(invite, ok, 2.0) is None
    assert d.state is DialogState.CONFIRMED
    assert d.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert d.remote_target == "sip:bob@192.0.2.4"
    assert not d.local_invite_in_progress and d.can_reinvite
    assert d.updated_at == 2.0
    # A retransmitted 2xx leaves the route set alone (frozen once confirmed).
    d.receive_response(invite, answer("200 OK"), 3.0)
    assert d.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]


def test_confirm_rejects_2xx_of_another_fork_and_non_2xx() -> None:
    invite = req(OUR_INVITE)
    d = Dialog.from_uac(invite, answer("183 Session Progress"), 0.0)
    with pytest.raises(ValueError):
        d.confirm(answer("200 OK", to_tag="otherfork"))
    with pytest.raises(ValueError):
        d.confirm(answer("180 Ringing"))
    assert d.state is DialogState.EARLY


def test_non_2xx_final_to_creating_invite_terminates_early_dialog() -> None:
    invite = req(OUR_INVITE)
    d = Dialog.from_uac(invite, answer("180 Ringing"), 0.0)
    d.receive_response(invite, answer("486 Busy Here"), 1.0)
    assert d.state is DialogState.TERMINATED
    with pytest.raises(DialogError):
        d.confirm(answer("200 OK"))


# -- UAS dialogs ------------------------------------------------------------------------
def test_uas_dialog_keeps_record_route_order_and_builds_bye() -> None:
    d, invite = uas_dialog(confirmed=False)
    assert d.id == DialogId(CALL_ID, "b0b7a9", "1928301774")
    assert (d.role, d.state) == (DialogRole.UAS, DialogState.EARLY)
    assert d.route_set == ["<sip:p2.biloxi.example.com;lr>", "<sip:p1.atlanta.example.com;lr>"]
    assert d.remote_target == "sip:alice@pc33.atlanta.example.com"
    assert (d.local_seq, d.remote_seq) == (0, 314159)
    assert d.remote_invite_in_progress
    with pytest.raises(DialogError):  # the callee may not BYE an early dialog (§15)
        d.create_bye()

    d.response_sent(invite, make_response(invite, 200, to_tag="b0b7a9"))
    assert d.state is DialogState.CONFIRMED
    assert not d.remote_invite_in_progress

    bye = d.create_bye()
    assert bye.uri == "sip:alice@pc33.atlanta.example.com"
    assert list(bye.headers) == [
        ("Route", "<sip:p2.biloxi.example.com;lr>"),
        ("Route", "<sip:p1.atlanta.example.com;lr>"),
        ("Max-Forwards", "70"),
        ("From", '"Bob" <sip:bob@biloxi.example.com>;tag=b0b7a9'),
        ("To", '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774'),
        ("Call-ID", CALL_ID),
        ("CSeq", "1 BYE"),
    ]
    roundtrip(bye)


def test_uas_without_contact_is_a_400() -> None:
    invite = req(THEIR_INVITE.replace(f"Contact: {ALICE_CONTACT}\n", ""))
    with pytest.raises(SipParseError) as err:
        Dialog.from_uas(invite, "t", BOB_CONTACT)
    assert err.value.status == 400


def test_uas_rejecting_the_invite_terminates() -> None:
    d, invite = uas_dialog(confirmed=False)
    d.response_sent(invite, make_response(invite, 180, to_tag="b0b7a9"))
    assert d.state is DialogState.EARLY
    d.response_sent(invite, make_response(invite, 603, to_tag="b0b7a9"))
    assert d.state is DialogState.TERMINATED


# -- CSeq -------------------------------------------------------------------------------
def test_local_cseq_increments_and_ack_reuses_the_invite_cseq() -> None:
    d, _ = uas_dialog()
    info = d.create_info(b"Signal=5\r\nDuration=160\r\n", "application/dtmf-relay")
    reinvite = d.create_reinvite(b"v=0\r\n")
    assert (info.cseq, info.cseq_method) == (1, "INFO")
    assert (reinvite.cseq, reinvite.cseq_method) == (2, "INVITE")
    ack = d.create_ack(reinvite.cseq)
    assert ack.headers.get("cseq") == "2 ACK"
    assert d.local_seq == 2
    assert d.create_request("OPTIONS").headers.get("cseq") == "3 OPTIONS"
    for m in ("ACK", "CANCEL"):
        with pytest.raises(ValueError):
            d.create_request(m)


def test_ack_of_2xx_exact_headers() -> None:
    d = uac_dialog(("<sip:p1.example.com;lr>",))
    sdp = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    ack = d.create_ack(314159, sdp, "application/sdp")
    assert ack.uri == "sip:bob@192.0.2.4"
    assert list(ack.headers) == [
        ("Route", "<sip:p1.example.com;lr>"),
        ("Max-Forwards", "70"),
        ("From", '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774'),
        ("To", '"Bob" <sip:bob@biloxi.example.com>;tag=a6c85cf'),
        ("Call-ID", CALL_ID),
        ("CSeq", "314159 ACK"),
        ("Content-Type", "application/sdp"),
    ]
    assert d.local_seq == 314159
    assert roundtrip(ack).body == sdp


def test_remote_cseq_not_above_last_is_500() -> None:
    d, _ = uas_dialog()
    assert d.receive_request(incoming("INFO", 314158)) == 500
    assert d.receive_request(incoming("INFO", 314159)) == 500
    assert d.remote_seq == 314159
    assert d.receive_request(incoming("INFO", 314170)) is None
    assert d.remote_seq == 314170
    # ACK and CANCEL carry an old CSeq by design.
    assert d.receive_request(incoming("ACK", 314159)) is None
    assert d.receive_request(incoming("CANCEL", 314159)) is None
    assert d.remote_seq == 314170


def test_first_request_from_the_callee_sets_remote_seq() -> None:
    d = uac_dialog()
    assert d.remote_seq is None
    assert d.receive_request(incoming("INFO", 1, to_tag="1928301774",
                                      from_="Bob <sip:bob@biloxi.example.com>;tag=a6c85cf")) is None
    assert d.remote_seq == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**31 - 1), min_size=1, max_size=20))
def test_only_increasing_cseqs_are_accepted(seqs: list[int]) -> None:
    invite = req(THEIR_INVITE.replace("CSeq: 314159", "CSeq: 0"))
    d = Dialog.from_uas(invite, "b0b7a9", BOB_CONTACT)
    d.response_sent(invite, make_response(invite, 200, to_tag="b0b7a9"))
    highest = 0
    for n in seqs:
        expected = None if n > highest else 500
        assert d.receive_request(incoming("INFO", n)) == expected
        highest = max(highest, n)
        assert d.remote_seq == highest


# -- re-INVITE, glare, target refresh ----------------------------------------------------
def test_glare_incoming_invite_while_ours_is_pending_is_491() -> None:
    d, _ = uas_dialog()
    ours = d.create_reinvite(b"v=0\r\n")
    assert d.local_invite_in_progress
    theirs = incoming("INVITE", 314160, contact="<sip:alice@10.1.1.1>")
    assert d.receive_request(theirs) == 491
    assert d.retry_after is None
    assert d.remote_seq == 314160  # §12.2.2 updates before method processing
    assert d.remote_target == "sip:alice@pc33.atlanta.example.com"  # a rejected refresh changes nothing
    # They answered ours 491 too: we (not the Call-ID owner) wait 0-2 s.
    rng = StubRng(pick_high=True)
    delay = d.receive_response(ours, make_response(ours, 491), 7.0, rng=rng)  # type: ignore[arg-type]
    assert rng.calls == [(0, 200)]
    assert delay == 2.0
    assert not d.local_invite_in_progress and d.can_reinvite
    assert d.state is DialogState.CONFIRMED


@pytest.mark.parametrize(("role_uac", "low", "high"), [(True, 2.1, 4.0), (False, 0.0, 2.0)])
def test_glare_retry_delay_ranges(role_uac: bool, low: float, high: float) -> None:
    d = uac_dialog() if role_uac else uas_dialog()[0]
    seen = []
    for seed in range(300):
        ours = d.create_reinvite(b"v=0\r\n")
        delay = d.receive_response(ours, make_response(ours, 491), 0.0, rng=random.Random(seed))
        assert delay is not None and low <= delay <= high
        assert round(delay * 100) == pytest.approx(delay * 100)  # 10 ms units
        seen.append(delay)
    assert min(seen) < low + 0.3 and max(seen) > high - 0.3
    assert glare_retry_delay(role_uac, StubRng(pick_high=False)) == low  # type: ignore[arg-type]
    assert glare_retry_delay(role_uac, StubRng(pick_high=True)) == high  # type: ignore[arg-type]


def test_overlapping_incoming_reinvite_is_500_with_retry_after() -> None:
    d, _ = uas_dialog()
    first = incoming("INVITE", 314160, contact="<sip:alice@10.1.1.1>")
    assert d.receive_request(first) is None
    assert d.remote_invite_in_progress and not d.can_reinvite
    with pytest.raises(DialogError):
        d.create_reinvite(b"v=0\r\n")
    second = incoming("INVITE", 314161)
    assert d.receive_request(second, rng=StubRng(pick_high=True)) == 500  # type: ignore[arg-type]
    assert d.retry_after == 10
    for seed in range(50):
        assert d.receive_request(incoming("INVITE", 314162 + seed), rng=random.Random(seed)) == 500
        assert d.retry_after is not None and 0 <= d.retry_after <= 10
    d.response_sent(first, make_response(first, 200, to_tag="b0b7a9"))
    assert not d.remote_invite_in_progress
    assert d.receive_request(incoming("INVITE", 314300)) is None
    assert d.retry_after is None


def test_incoming_reinvite_refreshes_target_and_info_does_not() -> None:
    d, _ = uas_dialog()
    assert d.receive_request(incoming("INFO", 314160, contact="<sip:alice@10.7.7.7>")) is None
    assert d.remote_target == "sip:alice@pc33.atlanta.example.com"
    reinvite = incoming("INVITE", 314161, contact="<sip:alice@10.1.1.1:5070;transport=tcp>")
    assert d.receive_request(reinvite) is None
    assert d.remote_target == "sip:alice@10.1.1.1:5070;transport=tcp"
    d.response_sent(reinvite, make_response(reinvite, 200, to_tag="b0b7a9"))
    bye = d.create_bye()
    assert bye.uri == "sip:alice@10.1.1.1:5070;transport=tcp"


def test_malformed_contact_in_target_refresh_is_400() -> None:
    d, _ = uas_dialog()
    assert d.receive_request(incoming("UPDATE", 314160, contact="<sip:alice@10.1.1.1")) == 400


def test_2xx_to_our_reinvite_refreshes_target() -> None:
    d = uac_dialog()
    reinvite = d.create_reinvite(b"v=0\r\n")
    assert list(reinvite.headers)[-2:] == [("Contact", ALICE_CONTACT), ("Content-Type", "application/sdp")]
    assert reinvite.headers.get("cseq") == "314160 INVITE"
    roundtrip(reinvite)
    ok = answer("200 OK", contact="<sip:bob@198.51.100.7:5062>", cseq="314160 INVITE")
    assert d.receive_response(reinvite, ok, 1.0) is None
    assert d.remote_target == "sip:bob@198.51.100.7:5062"
    assert not d.local_invite_in_progress
    assert d.create_ack(reinvite.cseq).uri == "sip:bob@198.51.100.7:5062"


@pytest.mark.parametrize("status", [481, 408])
def test_481_and_408_terminate(status: int) -> None:
    d = uac_dialog()
    info = d.create_info(b"x", "text/plain")
    assert d.receive_response(info, make_response(info, status), 1.0) is None
    assert d.state is DialogState.TERMINATED
    assert d.receive_request(incoming("INFO", 5)) == 481
    with pytest.raises(DialogError):
        d.create_bye()


def test_other_failure_keeps_confirmed_dialog() -> None:
    d = uac_dialog()
    info = d.create_info(b"x", "text/plain")
    d.receive_response(info, make_response(info, 415), 1.0)
    assert d.state is DialogState.CONFIRMED


def test_bye_ends_the_dialog_both_ways() -> None:
    d, _ = uas_dialog()
    assert d.receive_request(incoming("BYE", 314160)) is None
    assert d.state is DialogState.TERMINATED
    d2 = uac_dialog()
    bye = d2.create_bye()
    d2.receive_response(bye, make_response(bye, 407), 1.0)  # re-sent with credentials
    assert d2.state is DialogState.CONFIRMED
    bye = d2.create_bye()
    d2.receive_response(bye, make_response(bye, 200), 2.0)
    assert d2.state is DialogState.TERMINATED
    d2.terminate()  # idempotent
    assert d2.state is DialogState.TERMINATED


# -- builders -----------------------------------------------------------------------------
def test_bye_with_reason() -> None:
    d = uac_dialog()
    bye = d.create_bye((200, 'Call completed "elsewhere"'))
    assert bye.headers.get("reason") == 'SIP;cause=200;text="Call completed \\"elsewhere\\""'
    roundtrip(bye)
    q850 = d.create_bye((16, "Normal call clearing"), protocol="Q.850")
    assert q850.headers.get("reason") == 'Q.850;cause=16;text="Normal call clearing"'


def test_notify_headers() -> None:
    d, _ = uas_dialog()
    body = b"<?xml version='1.0'?><presence/>"
    n = d.create_notify("presence", body, "application/pidf+xml", "active;expires=600")
    assert n.method == "NOTIFY"
    assert list(n.headers)[-5:] == [
        ("CSeq", "1 NOTIFY"),
        ("Contact", BOB_CONTACT),
        ("Event", "presence"),
        ("Subscription-State", "active;expires=600"),
        ("Content-Type", "application/pidf+xml"),
    ]
    assert roundtrip(n).body == body


def test_refer_notify_carries_sipfrag() -> None:
    d, _ = uas_dialog()
    trying = d.create_refer_notify(100, "Trying", event_id="93809824")
    assert trying.headers.get("event") == "refer;id=93809824"
    assert trying.headers.get("subscription-state") == "active;expires=60"
    assert trying.headers.get("content-type") == "message/sipfrag;version=2.0"
    assert trying.body == b"SIP/2.0 100 Trying"
    done = d.create_refer_notify(200, "OK")
    assert done.headers.get("event") == "refer"
    assert done.headers.get("subscription-state") == "terminated;reason=noresource"
    assert done.body == b"SIP/2.0 200 OK"
    assert done.cseq == trying.cseq + 1
    roundtrip(done)


def test_refer_headers() -> None:
    d = uac_dialog()
    target = "sip:carol@chicago.example.com?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994"
    r = d.create_refer(target, "<sip:alice@atlanta.example.com>")
    assert list(r.headers)[-3:] == [
        ("Contact", ALICE_CONTACT),
        ("Refer-To", f"<{target}>"),
        ("Referred-By", "<sip:alice@atlanta.example.com>"),
    ]
    parsed = roundtrip(r)
    assert parsed.headers.get("r") == f"<{target}>"  # compact form resolves too
    plain = d.create_refer('"Carol" <sip:carol@chicago.example.com>')
    assert plain.headers.get("refer-to") == '"Carol" <sip:carol@chicago.example.com>'
    assert "referred-by" not in plain.headers


def test_info_headers() -> None:
    d = uac_dialog()
    info = d.create_info(b"Signal=#\r\nDuration=250\r\n", "application/dtmf-relay",
                         headers=[("Info-Package", "dtmf")])
    assert list(info.headers)[-4:] == [
        ("CSeq", "314160 INFO"),
        ("Contact", ALICE_CONTACT),
        ("Info-Package", "dtmf"),
        ("Content-Type", "application/dtmf-relay"),
    ]
    assert roundtrip(info).body == b"Signal=#\r\nDuration=250\r\n"


def test_body_needs_content_type_and_values_cannot_inject_headers() -> None:
    d = uac_dialog()
    with pytest.raises(ValueError):
        d.create_request("INFO", body=b"x")
    with pytest.raises(ValueError):
        d.create_bye((200, "ok\r\nX-Evil: 1"))


def test_remote_tag_absent_for_rfc2543_peer() -> None:
    d = Dialog.from_uac(req(OUR_INVITE), answer("200 OK", to_tag=None), 0.0)
    assert d.remote_tag == ""
    bye = d.create_bye()
    assert bye.headers.get("to") == '"Bob" <sip:bob@biloxi.example.com>'
    roundtrip(bye)


# -- table ---------------------------------------------------------------------------------
def test_table_matches_requests_and_responses() -> None:
    table = DialogTable()
    uas, _ = uas_dialog()
    table.add(uas)
    assert table.match_request(incoming("BYE", 314160)) is uas
    assert table.match_request(incoming("BYE", 314160, to_tag="nope")) is None
    assert table.find(CALL_ID, "b0b7a9", "1928301774") is uas
    bye = uas.create_bye()
    reply = make_response(bye, 200)
    assert table.match_response(reply) is uas
    with pytest.raises(ValueError):
        table.add(Dialog.from_uas(req(THEIR_INVITE), "b0b7a9", BOB_CONTACT))
    table.remove(uas)
    assert len(table) == 0 and uas not in table


def test_forked_early_dialogs() -> None:
    table = DialogTable()
    invite = req(OUR_INVITE)
    assert table.apply_invite_response(invite, answer("100 Trying", to_tag=None), 0.0) is None
    a = table.apply_invite_response(invite, answer("180 Ringing", to_tag="forkA",
                                                   contact="<sip:bob@10.0.0.10>"), 0.1)
    b = table.apply_invite_response(invite, answer("183 Session Progress", to_tag="forkB",
                                                   contact="<sip:bob@10.0.0.11>"), 0.2)
    assert a is not None and b is not None and a is not b
    assert table.apply_invite_response(invite, answer("180 Ringing", to_tag="forkA",
                                                      contact="<sip:bob@10.0.0.10>"), 0.3) is a
    assert {d.remote_tag for d in table.find_early(CALL_ID, "1928301774")} == {"forkA", "forkB"}
    assert a.remote_target == "sip:bob@10.0.0.10" and b.remote_target == "sip:bob@10.0.0.11"

    won = table.apply_invite_response(invite, answer("200 OK", to_tag="forkB",
                                                     contact="<sip:bob@10.0.0.11>"), 1.0)
    assert won is b and b.state is DialogState.CONFIRMED
    assert table.find_early(CALL_ID, "1928301774") == [a]
    assert table.terminate_early(CALL_ID, "1928301774") == [a]
    assert a.state is DialogState.TERMINATED
    assert list(table) == [b]
    assert table.find(CALL_ID, "1928301774", "forkA") is None


def test_second_2xx_from_another_fork_gets_its_own_dialog() -> None:
    table = DialogTable()
    invite = req(OUR_INVITE)
    first = table.apply_invite_response(invite, answer("200 OK", to_tag="one"), 0.0)
    second = table.apply_invite_response(invite, answer("200 OK", to_tag="two"), 0.1)
    assert first is not None and second is not None and first is not second
    assert second.state is DialogState.CONFIRMED
    assert len(table) == 2
    assert table.find_early(CALL_ID, "1928301774") == []


def test_final_failure_ends_all_early_forks() -> None:
    table = DialogTable()
    invite = req(OUR_INVITE)
    forks = [table.apply_invite_response(invite, answer("180 Ringing", to_tag=t), 0.0) for t in "xyz"]
    assert len(table) == 3
    assert table.apply_invite_response(invite, answer("480 Temporarily Unavailable", to_tag="x"), 1.0) is None
    assert len(table) == 0
    assert all(f is not None and f.state is DialogState.TERMINATED for f in forks)


# -- identifiers -----------------------------------------------------------------------------
def test_tags_and_call_ids_are_random_and_well_formed() -> None:
    tags = {new_tag() for _ in range(5000)}
    assert len(tags) == 5000
    assert all(len(t) == 16 and int(t, 16) >= 0 for t in tags)
    ids = {new_call_id("192.0.2.1") for _ in range(2000)}
    assert len(ids) == 2000
    cid = next(iter(ids))
    token, host = cid.split("@")
    assert host == "192.0.2.1" and len(token) == 32 and int(token, 16) >= 0
