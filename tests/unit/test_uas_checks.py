"""The §8.2 checks of a UasPolicy (sip/uas_checks.py), alone and inside the UA core, on every method."""
from __future__ import annotations

import pytest

from callcontrol.server import ALLOW, SIP_POLICY
from sip.message import Request, Response, parse_message
from sip.peer import Peer
from sip.ua_core import DialogRequest, RequestReceived, Send, UaCore
from sip.uas_checks import UasPolicy, check_request
from tests.unit.test_ua_core import DialogOwner, Tu

PHONE = Peer("UDP", "10.0.0.1", 5062)
METHODS = ["INVITE", "OPTIONS", "REGISTER", "BYE", "INFO", "NOTIFY", "REFER", "UPDATE"]
SDP_BODY = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def wire(method: str, *, uri: str = "sip:bob@example.com", to_tag: str | None = None,
         extra: tuple[str, ...] = (), body: bytes = b"", branch: str = "z9hG4bKchk1") -> bytes:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    head = "\r\n".join([
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 10.0.0.1:5062;branch={branch};rport",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=a1",
        f"To: {to}",
        "Call-ID: chk-1",
        f"CSeq: 1 {method}",
        *extra,
        f"Content-Length: {len(body)}",
        "",
        "",
    ]).encode()
    return head + body


def request(data: bytes) -> Request:
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def core_answer(data: bytes, *, dialog: bool = False) -> Response | None:
    """What the core with the server's policy answers itself (None: the TU or dialog owner has it)."""
    tu = Tu()
    core = UaCore(tu, policy=SIP_POLICY)
    core.local_addresses["UDP"] = ("192.0.2.1", 5060)
    tu.core = core
    if dialog:
        core.register_dialog("chk-1", "b1", DialogOwner())
    out = core.receive(data, PHONE, 0.0)
    if any(isinstance(o, RequestReceived | DialogRequest) for o in out):
        return None
    (send,) = [o for o in out if isinstance(o, Send)]
    response = parse_message(send.data)
    assert isinstance(response, Response)
    return response


# -- method (§8.2.1) ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["NEWMETHOD", "RE%47IST%45R", "FOO"])
def test_unknown_method_gets_501_with_allow(method: str) -> None:
    response = core_answer(wire(method))
    assert response is not None and response.status == 501
    assert response.headers.get("Allow") == ALLOW


@pytest.mark.parametrize("method", ["MESSAGE", "SUBSCRIBE", "PUBLISH", "PRACK"])
def test_known_but_unimplemented_method_gets_405_with_allow(method: str) -> None:
    response = core_answer(wire(method))
    assert response is not None and response.status == 405
    assert response.headers.get("Allow") == ALLOW


def test_unknown_method_in_a_dialog_gets_501_too() -> None:
    response = core_answer(wire("NEWMETHOD", to_tag="b1"), dialog=True)
    assert response is not None and response.status == 501


@pytest.mark.parametrize("method", METHODS)
def test_implemented_methods_reach_the_tu(method: str) -> None:
    body = SDP_BODY if method == "INVITE" else b""
    extra = ("Content-Type: application/sdp",) if body else ()
    assert core_answer(wire(method, body=body, extra=extra)) is None


# -- Request-URI scheme (§8.2.2.1) -------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("uri", ["nobodyKnowsThisScheme:totallyopaquecontent", "soap.beep://192.0.2.103:3002",
                                 "http://example.com/"])
def test_unknown_request_uri_scheme_gets_416_on_every_method(method: str, uri: str) -> None:
    response = core_answer(wire(method, uri=uri))
    assert response is not None and response.status == 416


@pytest.mark.parametrize("uri", ["sip:bob@example.com", "SIPS:bob@example.com", "tel:+15551234"])
def test_sip_sips_and_tel_are_served(uri: str) -> None:
    assert core_answer(wire("OPTIONS", uri=uri)) is None


# -- Require (§8.2.2.3) ------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_unsupported_require_gets_420_naming_each_tag_on_every_method(method: str) -> None:
    response = core_answer(wire(method, extra=("Require: 100rel, timer", "Require: nothingSupportsThis")))
    assert response is not None and response.status == 420
    assert response.headers.get_all("Unsupported") == ["100rel", "nothingSupportsThis"]


def test_unsupported_require_in_a_dialog_gets_420() -> None:
    response = core_answer(wire("UPDATE", to_tag="b1", extra=("Require: precondition",)), dialog=True)
    assert response is not None and response.status == 420
    assert response.headers.get("Unsupported") == "precondition"


@pytest.mark.parametrize("tag", ["timer", "TIMER"])
def test_require_timer_is_supported(tag: str) -> None:
    assert core_answer(wire("INVITE", extra=(f"Require: {tag}", "Session-Expires: 1800"))) is None


def test_proxy_require_is_not_a_uas_matter() -> None:
    assert core_answer(wire("OPTIONS", extra=("Proxy-Require: noProxiesSupportThis",))) is None


def test_ack_and_cancel_are_never_checked() -> None:
    for method in ("ACK", "CANCEL"):
        req = request(wire(method, uri="nobodyKnowsThisScheme:x", extra=("Require: nothingSupportsThis",)))
        assert check_request(req, SIP_POLICY) is None


# -- bodies (§8.2.3) ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
def test_offer_in_an_unknown_body_type_gets_415_with_accept(method: str) -> None:
    body = b"<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n"
    response = core_answer(wire(method, body=body, extra=("Content-Type: application/unknownformat",)))
    assert response is not None and response.status == 415
    assert response.headers.get("Accept") == "application/sdp"


def test_info_and_notify_bodies_are_the_tus_business() -> None:
    body = b"Signal=5\r\nDuration=160\r\n"
    assert core_answer(wire("INFO", body=body, extra=("Content-Type: application/dtmf-relay",))) is None


@pytest.mark.parametrize("accept", ["text/nobodyKnowsThis", "application/pidf+xml, text/plain"])
def test_invite_whose_accept_excludes_sdp_gets_406(accept: str) -> None:
    response = core_answer(wire("INVITE", extra=(f"Accept: {accept}",)))
    assert response is not None and response.status == 406
    assert response.headers.get("Accept") == "application/sdp"


@pytest.mark.parametrize("accept", ["application/sdp", "application/*", "*/*",
                                    "application/pidf+xml, APPLICATION/SDP;level=2"])
def test_invite_accepting_sdp_reaches_the_tu(accept: str) -> None:
    assert core_answer(wire("INVITE", extra=(f"Accept: {accept}",))) is None


def test_options_accept_does_not_matter() -> None:
    assert core_answer(wire("OPTIONS", extra=("Accept: text/nobodyKnowsThis",))) is None


# -- order and the bare UA ---------------------------------------------------------------------

def test_checks_run_in_the_rfc_order() -> None:
    policy = UasPolicy(allow=("OPTIONS",), supported=frozenset())
    req = request(wire("INVITE", uri="nobody:x", extra=("Require: x",)))
    refusal = check_request(req, policy)
    assert refusal is not None and refusal.status == 405  # method before scheme
    req = request(wire("OPTIONS", uri="nobody:x", extra=("Require: x",)))
    refusal = check_request(req, policy)
    assert refusal is not None and refusal.status == 416  # scheme before Require


def test_a_core_without_policy_passes_everything_to_the_tu() -> None:
    tu = Tu()
    core = UaCore(tu)
    core.local_addresses["UDP"] = ("192.0.2.1", 5060)
    tu.core = core
    out = core.receive(wire("NEWMETHOD", uri="nobody:x", extra=("Require: x",)), PHONE, 0.0)
    assert [type(o) for o in out] == [RequestReceived]
