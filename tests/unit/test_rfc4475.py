"""RFC 4475 (SIP Torture Test Messages) run against sip.message / sip.uri / sip.headers and
the UA core (sip.ua_core with the server's UasPolicy).

The corpus is in ``tests/rfc4475.py`` (how it is transcribed is said there),
with ``CASES``: what the server answers to each message. The UA core with
the server's ``SIP_POLICY`` is checked to give every answer that is its own
(400/505 for what does not parse, 481, 501/405, 416, 420, 415, 406), to pass
the rest to its TU and to drop the responses, datagram by datagram and, over
TCP, after the stream framer (which closes or waits where the case says).
``test_transcription_content_length`` checks the transcription itself: the
body of every message the RFC calls well formed is exactly Content-Length
octets long.

"Rejected" means ``parse_message(data)`` or the ``validate()`` that the UA
core calls on every new request raises SipParseError with the status given.
The parser reads some headers lazily (Date, Contact, name-addrs) and only
``validate()`` forces them, so a rejection test runs both.

Where §3.1.2 says a liberal element *may* accept a message (ltgtruri,
lwsruri, lwsstart, trws, escruri, baddate, regbadct, badaspec, baddn,
quotbal), this stack takes the strict choice the RFC also allows ("it is
acceptable/reasonable to reject ... with a 400 Bad Request"): a B2BUA
re-originates requests and gains nothing from guessing what a broken
element meant. Each such test says so.
"""
from __future__ import annotations

import pytest

from callcontrol.server import SIP_POLICY
from sip.framing import StreamFramer
from sip.headers import parse_name_addr
from sip.message import Request, Response, SipParseError, parse_message
from sip.peer import Peer
from sip.ua_core import DialogRequest, IncomingRequest, RequestReceived, Send, UaCore
from sip.uri import AbsoluteUri, SipUri, parse_uri
from tests.rfc4475 import (
    BADASPEC,
    BADBRANCH,
    BADDATE,
    BADDN,
    BADINV01,
    BADVERS,
    BCAST,
    BEXT01,
    BIGCODE,
    CASES,
    CLERR,
    CPARAM01,
    CPARAM02,
    DBLREQ,
    DBLREQ_REGISTER,
    ESC01,
    ESC02,
    ESCNULL,
    ESCRURI,
    INSUF,
    INTMETH,
    INTMETH_METHOD,
    INTMETH_PASSWORD,
    INTMETH_USER,
    INV2543,
    INVUT,
    LONG_BRANCH,
    LONG_CALLER,
    LONG_TAG,
    LONG_TO_URI,
    LONGREQ,
    LTGTRURI,
    LWSDISP,
    LWSRURI,
    LWSSTART,
    MCL01,
    MISMATCH01,
    MISMATCH02,
    MPART01,
    MPART01_DER,
    MPART01_IDENTITY,
    MULTI01,
    NCL,
    NOREASON,
    NOVELSC,
    QUOTBAL,
    REGAUT01,
    REGBADCT,
    REGESCRT,
    SCALAR02,
    SCALARLG,
    SDP01,
    SEMIURI,
    TRANSPORTS,
    TRWS,
    UNKSCM,
    UNKSM2,
    UNREASON,
    UNREASON_PHRASE,
    WSINV,
    ZEROMF,
    Case,
    check_answer,
    read_answer,
)

# Messages a parser must accept, by RFC section.
VALID = [
    pytest.param(WSINV, id="3.1.1.1-wsinv"),
    pytest.param(INTMETH, id="3.1.1.2-intmeth"),
    pytest.param(ESC01, id="3.1.1.3-esc01"),
    pytest.param(ESCNULL, id="3.1.1.4-escnull"),
    pytest.param(ESC02, id="3.1.1.5-esc02"),
    pytest.param(LWSDISP, id="3.1.1.6-lwsdisp"),
    pytest.param(LONGREQ, id="3.1.1.7-longreq"),
    pytest.param(DBLREQ, id="3.1.1.8-dblreq"),
    pytest.param(SEMIURI, id="3.1.1.9-semiuri"),
    pytest.param(TRANSPORTS, id="3.1.1.10-transports"),
    pytest.param(MPART01, id="3.1.1.11-mpart01"),
    pytest.param(UNREASON, id="3.1.1.12-unreason"),
    pytest.param(NOREASON, id="3.1.1.13-noreason"),
    # "A parser must not break when receiving this message"; whether to
    # answer 400 or fall back to RFC 2543 matching is the transaction layer's call.
    pytest.param(BADBRANCH, id="3.2.1-badbranch"),
    pytest.param(UNKSCM, id="3.3.2-unkscm"),
    pytest.param(NOVELSC, id="3.3.3-novelsc"),
    pytest.param(UNKSM2, id="3.3.4-unksm2"),
    pytest.param(BEXT01, id="3.3.5-bext01"),
    pytest.param(INVUT, id="3.3.6-invut"),
    pytest.param(REGAUT01, id="3.3.7-regaut01"),
    pytest.param(BCAST, id="3.3.10-bcast"),
    pytest.param(ZEROMF, id="3.3.11-zeromf"),
    pytest.param(CPARAM01, id="3.3.12-cparam01"),
    pytest.param(CPARAM02, id="3.3.13-cparam02"),
    pytest.param(REGESCRT, id="3.3.14-regescrt"),
    pytest.param(SDP01, id="3.3.15-sdp01"),
    pytest.param(INV2543, id="3.4.1-inv2543"),
]

# Messages to reject, with the status of the answer.
INVALID = [
    # "An element receiving this request should respond with a 400 Bad Request."
    pytest.param(BADINV01, 400, id="3.1.2.1-badinv01"),
    # Over UDP (datagram semantics, the default) "should respond with a 400".
    pytest.param(CLERR, 400, id="3.1.2.2-clerr"),
    pytest.param(NCL, 400, id="3.1.2.3-ncl"),
    # 400 "due to the CSeq error" (CSeq > 2**32-1; Max-Forwards and expiries also out of range).
    pytest.param(SCALAR02, 400, id="3.1.2.4-scalar02"),
    # A response: "will simply discard it"; the parser signals that by raising.
    pytest.param(SCALARLG, 400, id="3.1.2.5-scalarlg"),
    # "should return a 400"; we do not infer the missing quote (RFC allows either).
    pytest.param(QUOTBAL, 400, id="3.1.2.6-quotbal"),
    # "reasonable always to reject ... with a 400"; brackets not ignored.
    pytest.param(LTGTRURI, 400, id="3.1.2.7-ltgtruri"),
    # "should respond with a 400"; embedded LWS not ignored.
    pytest.param(LWSRURI, 400, id="3.1.2.8-lwsruri"),
    # "acceptable to reject this request as malformed": RFC 3261 Request-Line is single SP.
    pytest.param(LWSSTART, 400, id="3.1.2.9-lwsstart"),
    # "acceptable to reject this request as malformed".
    pytest.param(TRWS, 400, id="3.1.2.10-trws"),
    # "acceptable ... to reject this request with a 400": headers are not allowed in a Request-URI.
    pytest.param(ESCRURI, 400, id="3.1.2.11-escruri"),
    # "acceptable to reject this request as malformed": only GMT is legal in SIP-date.
    pytest.param(BADDATE, 400, id="3.1.2.12-baddate"),
    # "reasonable ... to respond with a 400": a URI with '?' must be in <> (RFC 3261 §20).
    pytest.param(REGBADCT, 400, id="3.1.2.13-regbadct"),
    # "reasonable to reject this request with a 400": spaces inside <>.
    pytest.param(BADASPEC, 400, id="3.1.2.14-badaspec"),
    # "reasonable always to reject this kind of error with a 400": ',' is not a token char.
    pytest.param(BADDN, 400, id="3.1.2.15-baddn"),
    # "should respond to the request with a 505 Version Not Supported error".
    pytest.param(BADVERS, 505, id="3.1.2.16-badvers"),
    # "will respond with a 400 Bad Request".
    pytest.param(MISMATCH01, 400, id="3.1.2.17-mismatch01"),
    # 501 or "400 Bad Request is also acceptable"; a parser does not know which
    # methods the UA implements, so the mismatch is what it reports.
    pytest.param(MISMATCH02, 400, id="3.1.2.18-mismatch02"),
    # "should simply drop it" (code > 699).
    pytest.param(BIGCODE, 400, id="3.1.2.19-bigcode"),
    # Missing Call-ID, From, To, Max-Forwards: "Ideally, it will respond with a 400".
    pytest.param(INSUF, 400, id="3.3.1-insuf"),
    # Two CSeq, Call-ID, From, To and Max-Forwards values: "would respond with a 400".
    pytest.param(MULTI01, 400, id="3.3.8-multi01"),
    # Conflicting Content-Length values: "should respond with 400 Bad Request".
    pytest.param(MCL01, 400, id="3.3.9-mcl01"),
]


def _accept(data: bytes) -> Request | Response:
    msg = parse_message(data)
    msg.validate()
    return msg


def _request(data: bytes) -> Request:
    msg = _accept(data)
    assert isinstance(msg, Request)
    return msg


def _response(data: bytes) -> Response:
    msg = _accept(data)
    assert isinstance(msg, Response)
    return msg


def _params(params: dict[str, str | None]) -> dict[str, str | None]:
    # Parameter names are case-insensitive (RFC 3261 §7.3.1); the parser may fold them.
    return {k.lower(): v for k, v in params.items()}


def _body_of(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[1]


# --------------------------------------------------------------------------
# The transcription itself
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "declared"),
    [
        pytest.param(WSINV, 150, id="wsinv"),
        pytest.param(ESC01, 150, id="esc01"),
        pytest.param(LONGREQ, 150, id="longreq"),
        pytest.param(DBLREQ_REGISTER, 0, id="dblreq"),
        pytest.param(MPART01, 553, id="mpart01"),
        pytest.param(UNREASON, 154, id="unreason"),
        pytest.param(BADINV01, 152, id="badinv01"),
        pytest.param(QUOTBAL, 152, id="quotbal"),
        pytest.param(LTGTRURI, 159, id="ltgtruri"),
        pytest.param(LWSRURI, 159, id="lwsruri"),
        pytest.param(LWSSTART, 150, id="lwsstart"),
        pytest.param(ESCRURI, 150, id="escruri"),
        pytest.param(BADDATE, 150, id="baddate"),
        pytest.param(MISMATCH02, 138, id="mismatch02"),
        pytest.param(INSUF, 152, id="insuf"),
        pytest.param(INVUT, 40, id="invut"),
        pytest.param(MULTI01, 154, id="multi01"),
        pytest.param(BCAST, 154, id="bcast"),
        pytest.param(SDP01, 150, id="sdp01"),
    ],
)
def test_transcription_content_length(data: bytes, declared: int) -> None:
    assert len(_body_of(data)) == declared


def test_transcription_dblreq_trailing_octets() -> None:
    # The noise after the REGISTER is an empty line and then an INVITE (whose
    # own Content-Length, 150, does not match its body: it is never parsed).
    trailing = DBLREQ[len(DBLREQ_REGISTER):]
    assert trailing.startswith(b"\r\nINVITE sip:joe@example.com SIP/2.0\r\n")
    assert trailing.endswith(b"a=rtpmap:31 LPC\r\n\r\n")


# --------------------------------------------------------------------------
# Accept / reject, every message
# --------------------------------------------------------------------------

@pytest.mark.parametrize("data", VALID)
def test_valid_message_is_accepted(data: bytes) -> None:
    msg = _accept(data)
    assert msg.version == "SIP/2.0"
    assert msg.vias, "every accepted message has a top Via"


@pytest.mark.parametrize(("data", "status"), INVALID)
def test_invalid_message_is_rejected(data: bytes, status: int) -> None:
    with pytest.raises(SipParseError) as info:
        _accept(data)
    assert info.value.status == status
    expected_phrase = "Version Not Supported" if status == 505 else "Bad Request"
    assert info.value.reason.startswith(expected_phrase)


# --------------------------------------------------------------------------
# §3.1.1 details: the values the RFC's commentary points at
# --------------------------------------------------------------------------

def test_wsinv_3_1_1_1() -> None:
    req = _request(WSINV)
    assert req.method == "INVITE"
    # unknown Request-URI parameter without a value
    assert req.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    ruri = req.ruri
    assert isinstance(ruri, SipUri)
    assert (ruri.user, ruri.host, ruri.port) == ("vivekg", "chair-dnrc.example.com", None)
    assert _params(ruri.params) == {"unknownparam": None}
    # LWS around ';' and '=' of header parameters, folded values
    assert req.to.uri == "sip:vivekg@chair-dnrc.example.com"
    assert req.to.display_name is None
    assert req.to.tag == "1918181833n"
    # escaped characters within quotes: "J Rosenberg \\\"" is  J Rosenberg \"
    assert req.from_.display_name == 'J Rosenberg \\"'
    assert req.from_.uri == "sip:jdrosen@example.com"
    assert req.from_.tag == "98asjd8"
    # integer fields with leading zeros
    assert req.max_forwards == 68
    assert (req.cseq, req.cseq_method) == (9, "INVITE")
    assert req.call_id == "wsinv.ndaksdj@192.0.2.1"
    # comma-separated and separately listed values, short and long names mixed
    assert [(v.protocol, v.transport, v.host, v.port, v.branch) for v in req.vias] == [
        ("SIP/2.0", "UDP", "192.0.2.2", None, "390skdjuw"),
        ("SIP/2.0", "TCP", "spindle.example.com", None, "z9hG4bK9ikj8"),
        ("SIP/2.0", "UDP", "192.168.255.111", None, "z9hG4bK30239"),
    ]
    # an empty subject, addressed by its compact name too
    assert "Subject" in req.headers
    assert req.headers.get("Subject") == ""
    assert req.headers.get("s") == ""
    # unknown header fields; a fold is equivalent to one SP (RFC 3261 §7.3.1)
    assert req.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert req.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    # unknown header whose value would be invalid as generic-params: kept as one opaque value
    assert req.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert req.headers.get_all("UnknownHeaderWithUnusualValue") == [";;,,;;,;"]
    assert req.headers.get("Route") == "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>"
    # Contact (compact m) with an escaped-quote display name and unknown parameters
    [contact] = req.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.uri == "sip:jdrosen@example.com"
    assert _params(contact.params) == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert req.content_type == "application/sdp"
    assert req.content_length == 150
    assert req.body == _body_of(WSINV)
    assert req.body.startswith(b"v=0\r\n") and req.body.endswith(b"a=rtpmap:31 LPC\r\n")


def test_wsinv_3_1_1_1_dialog_tags() -> None:
    # The tags the transaction and dialog layers match on, read without a full parse.
    req = _request(WSINV)
    assert req.to_tag == "1918181833n"
    assert req.from_tag == "98asjd8"


def test_intmeth_3_1_1_2() -> None:
    req = _request(INTMETH)
    # non-alpha token characters in the method; '%' is not an escape there
    assert req.method == INTMETH_METHOD
    assert (req.cseq, req.cseq_method) == (139122385, INTMETH_METHOD)
    # unusual but legal characters in user and password of the Request-URI
    assert req.uri == f"sip:{INTMETH_USER}:{INTMETH_PASSWORD}@example.com"
    assert req.ruri == SipUri("sip", INTMETH_USER, INTMETH_PASSWORD, "example.com", None, {}, {})
    # every non-alphanum token character in a branch
    assert req.vias[0].branch == "z9hG4bK-.!%66*_+`'~"
    assert req.vias[0].transport == "TCP"
    # quoted-pair expansions, including a quoted NUL
    assert req.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert req.to.uri == f"sip:{INTMETH_USER}@example.com"
    to_uri = req.to.parsed_uri()
    assert isinstance(to_uri, SipUri)
    assert (to_uri.user, to_uri.password, to_uri.host) == (INTMETH_USER, None, "example.com")
    # display name of several tokens made of every non-alphanum token character
    assert req.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert req.from_.uri == "sip:mundane@example.com"
    params = _params(req.from_.params)
    assert params["tag"] == "_token~1'+`*%!-."
    assert req.from_tag == "_token~1'+`*%!-."
    value = params["fromparam''~+*_!.-%"]
    assert value is not None
    assert value.strip('"') == "\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"
    # the non-alphanum characters of "word" in the Call-ID
    assert req.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert req.max_forwards == 255
    # extension header name of token characters, UTF-8 value (with a BOM)
    assert req.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"
    assert req.body == b""


def test_esc01_3_1_1_3() -> None:
    req = _request(ESC01)
    # sips:user@example.com embedded, escaped, in the user part
    assert req.uri == "sip:sips%3Auser%40example.com@example.net"
    assert req.ruri == SipUri("sip", "sips%3Auser%40example.com", None, "example.net", None, {}, {})
    # escaped characters in the user parts of From and To
    assert req.to.uri == "sip:%75se%72@example.com"
    assert req.to.display_name is None
    assert req.to_tag is None
    assert req.from_.uri == "sip:I%20have%20spaces@example.net"
    assert req.from_tag == "938"
    assert req.call_id == "esc01.239409asdfakjkn23onasd0-3234"
    assert (req.cseq, req.cseq_method) == (234234, "INVITE")
    assert req.max_forwards == 87
    # compact C is Content-Type
    assert req.headers.get("C") == "application/sdp"
    assert req.content_type == "application/sdp"
    # escaped URI parameters; name=v%61lue%25%34%31 is "value%41", not "valueA": kept raw
    [contact] = req.contacts
    assert contact.uri == "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"
    curi = contact.parsed_uri()
    assert isinstance(curi, SipUri)
    assert (curi.user, curi.host) == ("cal%6Cer", "host5.example.net")
    assert _params(curi.params) == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}
    assert req.content_length == 150


def test_escnull_3_1_1_4() -> None:
    req = _request(ESCNULL)
    assert req.method == "REGISTER"
    assert req.to.uri == "sip:null-%00-null@example.com"
    to_uri = req.to.parsed_uri()
    assert isinstance(to_uri, SipUri)
    # the escaped NUL stays in the user part: the AOR is not shortened
    assert to_uri.user == "null-%00-null"
    assert req.from_.uri == "sip:null-%00-null@example.com"
    assert req.from_tag == "839923423"
    # two distinct contacts
    assert [c.uri for c in req.contacts] == ["sip:%00@host5.example.com", "sip:%00%00@host5.example.com"]
    users = []
    for c in req.contacts:
        u = c.parsed_uri()
        assert isinstance(u, SipUri)
        users.append(u.user)
    assert users == ["%00", "%00%00"]
    assert (req.cseq, req.cseq_method) == (14398234, "REGISTER")
    assert req.body == b""


def test_esc02_3_1_1_5() -> None:
    req = _request(ESC02)
    # an unknown method, NOT equivalent to REGISTER
    assert req.method == "RE%47IST%45R"
    assert req.method != "REGISTER"
    assert (req.cseq, req.cseq_method) == (29344, "RE%47IST%45R")
    # %Z%45 is not an escape in a display name (and is not %ZE)
    assert req.to.display_name == "%Z%45"
    assert req.from_.display_name == "%Z%45"
    assert req.from_tag == "f232jadfj23"
    assert req.vias[0].branch == "z9hG4bK209%fzsnel234"
    assert req.vias[0].transport == "TCP"
    # two Contact values, not three: C%6Fntact is another (unknown) header
    assert [c.uri for c in req.contacts] == ["sip:alias1@host1.example.com", "sip:alias3@host3.example.com"]
    assert req.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert len(req.headers.get_all("Contact")) == 2


def test_lwsdisp_3_1_1_6() -> None:
    req = _request(LWSDISP)
    # no LWS between the display-name token and '<': accepted (RFC 3261 grammar bug)
    assert req.from_.display_name == "caller"
    assert req.from_.uri == "sip:caller@example.com"
    assert req.from_tag == "323"
    assert req.method == "OPTIONS"
    assert req.call_id == "lwsdisp.1234abcd@funky.example.com"


def test_longreq_3_1_1_7() -> None:
    req = _request(LONGREQ)
    # long display name, long uri parameter names and values
    assert req.to.display_name == "I have a user name of " + "extreme" * 10 + " proportion"
    assert req.to.uri == LONG_TO_URI
    to_uri = req.to.parsed_uri()
    assert isinstance(to_uri, SipUri)
    assert (to_uri.user, to_uri.host, to_uri.port) == ("user", "example.com", 6000)
    assert _params(to_uri.params) == {
        "unknownparam1": "very" + "long" * 20 + "value",
        "longparam" + "name" * 25: "shortvalue",
        ("very" + "long" * 25 + "ParameterNameWithNoValue").lower(): None,
    }
    # long header parameter names and values, a very long tag (F is From)
    assert req.from_.uri == f"sip:{LONG_CALLER}@example.net"
    assert req.from_tag == LONG_TAG
    assert _params(req.from_.params) == {
        "tag": LONG_TAG,
        "unknownheaderparam" + "name" * 20: "unknowheaderparam" + "value" * 15,
        ("unknownValueless" + "paramname" * 10).lower(): None,
    }
    # the Call-ID is one long token
    assert req.call_id == "longreq.one" + "really" * 20 + "longcallid"
    assert (req.cseq, req.cseq_method) == (3882340, "INVITE")
    name = "Unknown-" + "Long" * 20 + "-Name"
    assert req.headers.get(name) == (
        "unknown-" + "long" * 20 + "-value; unknown-" + "long" * 20 + "-parameter-name = unknown-"
        + "long" * 20 + "-parameter-value"
    )
    assert req.headers.get(name.lower()) == req.headers.get(name)
    # 34 Via values under every spelling of the name
    hosts = [f"sip{n}.example.com" for n in range(33, 0, -1)] + ["host.example.com"]
    assert [v.host for v in req.vias] == hosts
    assert all(v.transport == "TCP" and v.port is None for v in req.vias)
    assert all(v.branch is None for v in req.vias[:-1])
    assert req.vias[-1].branch == LONG_BRANCH
    assert req.vias[-1].received == "192.0.2.5"
    assert len(req.headers.get_all("Via")) == 34
    assert len(req.headers.get_all("v")) == 34
    assert [c.uri for c in req.contacts] == [f"sip:{LONG_CALLER}@host5.example.net"]
    assert req.max_forwards == 70
    assert req.content_length == 150


def test_dblreq_3_1_1_8() -> None:
    # The datagram carries a REGISTER with an empty body; the INVITE-looking
    # octets after it are noise and must be ignored (RFC 3261 §18.3).
    req = _request(DBLREQ)
    assert req.method == "REGISTER"
    assert req.uri == "sip:example.com"
    assert req.body == b""
    assert req.content_length == 0
    assert req.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"  # compact I
    assert req.headers.get("Call-ID") == req.headers.get("i") == req.call_id
    assert (req.cseq, req.cseq_method) == (8, "REGISTER")
    assert [v.branch for v in req.vias] == ["z9hG4bKkdjuw23492"]
    assert [c.uri for c in req.contacts] == ["sip:j.user@host.example.com"]
    assert req.from_tag == "43251j3j324"
    assert req.to_tag is None
    assert req.headers.get("To") == "sip:j.user@example.com"


def test_semiuri_3_1_1_9() -> None:
    req = _request(SEMIURI)
    # ';' belongs to the user part here: the user is "user;par=u%40example.net"
    ruri = req.ruri
    assert isinstance(ruri, SipUri)
    assert ruri.user == "user;par=u%40example.net"
    assert ruri.host == "example.com"
    assert ruri.params == {}
    assert req.headers.get_all("Accept") == [
        "application/sdp", "application/pkcs7-mime", "multipart/mixed", "multipart/signed",
        "message/sip", "message/sipfrag",
    ]


def test_transports_3_1_1_10() -> None:
    req = _request(TRANSPORTS)
    assert [(v.transport, v.host, v.branch) for v in req.vias] == [
        ("UDP", "t1.example.com", "z9hG4bKkdjuw"),
        ("SCTP", "t2.example.com", "z9hG4bKklasjdhf"),
        ("TLS", "t3.example.com", "z9hG4bK2980unddj"),
        ("UNKNOWN", "t4.example.com", "z9hG4bKasd0f3en"),
        ("TCP", "t5.example.com", "z9hG4bK0a9idfnee"),
    ]
    # leading LWS of a value is not part of it
    assert req.call_id == "transports.kijh4akdnaqjkwendsasfdj"
    assert req.from_.tag == "323"


def test_mpart01_3_1_1_11() -> None:
    req = _request(MPART01)
    assert req.method == "MESSAGE"
    # binary body with NULs, framed by Content-Length
    assert req.content_length == 553
    assert len(req.body) == 553
    assert b"\x00" in req.body
    assert MPART01_DER in req.body
    assert req.body.endswith(b"--7a9cbec02ceef655--\r\n")
    assert req.content_type == "multipart/mixed"
    v = req.vias[0]
    assert (v.transport, v.host, v.port) == ("UDP", "127.0.0.1", 5070)
    assert v.branch == "z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-"
    assert "rport" in v.params and v.params["rport"] is None
    assert req.headers.get("Identity") == MPART01_IDENTITY
    assert req.headers.get("Date") == "Sat, 15 Oct 2005 04:44:56 GMT"
    assert req.call_id == "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA.."
    assert [c.uri for c in req.contacts] == ["sip:fluffy@127.0.0.1:5070"]
    curi = req.contacts[0].parsed_uri()
    assert isinstance(curi, SipUri)
    assert (curi.user, curi.host, curi.port) == ("fluffy", "127.0.0.1", 5070)


def test_unreason_3_1_1_12() -> None:
    resp = _response(UNREASON)
    assert resp.status == 200
    # reserved, unreserved and non-ASCII UTF-8 in the Reason-Phrase
    assert resp.reason == UNREASON_PHRASE
    assert resp.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert (resp.cseq, resp.cseq_method) == (35, "INVITE")
    assert (resp.from_tag, resp.to_tag) == ("11141343", "2229")
    assert resp.content_length == 154
    assert resp.vias[0].branch == "z9hG4bK1324923"


def test_noreason_3_1_1_13() -> None:
    resp = _response(NOREASON)
    assert resp.status == 100
    assert resp.reason == ""
    assert (resp.from_tag, resp.to_tag) == ("39ansfi3", "902jndnke3")
    assert resp.call_id == "noreason.asndj203insdf99223ndf"
    assert resp.body == b""


# --------------------------------------------------------------------------
# §3.1.2 details
# --------------------------------------------------------------------------

def test_clerr_3_1_2_2_datagram_and_stream() -> None:
    # Over UDP the datagram is all there is: 400. Over a stream the framer
    # would wait for 9999 octets; handed this short buffer, the parser still
    # cannot produce a message from it.
    with pytest.raises(SipParseError) as info:
        parse_message(CLERR)
    assert info.value.status == 400
    with pytest.raises(SipParseError):
        parse_message(CLERR, stream=True)


def test_badvers_3_1_2_16_is_505_at_parse() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(BADVERS)
    assert info.value.status == 505


@pytest.mark.parametrize(
    "data",
    [pytest.param(MISMATCH01, id="3.1.2.17-mismatch01"), pytest.param(MISMATCH02, id="3.1.2.18-mismatch02")],
)
def test_cseq_method_mismatch_rejected_at_parse(data: bytes) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.status == 400


def test_lwsruri_3_1_2_8_lws_uri_also_rejected_by_parse_uri() -> None:
    with pytest.raises(SipParseError) as info:
        parse_uri("sip:user@example.com; lr")
    assert info.value.status == 400


def test_badaspec_3_1_2_14_name_addr() -> None:
    with pytest.raises(SipParseError):
        parse_name_addr('"Watson, Thomas" < sip:t.watson@example.org >')


def test_baddn_3_1_2_15_name_addr() -> None:
    with pytest.raises(SipParseError):
        parse_name_addr("Bell, Alexander <sip:a.g.bell@example.com>;tag=43")


def test_quotbal_3_1_2_6_name_addr() -> None:
    with pytest.raises(SipParseError):
        parse_name_addr('"Mr. J. User <sip:j.user@example.com>')


# --------------------------------------------------------------------------
# §3.2 - §3.4 details
# --------------------------------------------------------------------------

def test_badbranch_3_2_1() -> None:
    req = _request(BADBRANCH)
    # the magic cookie with nothing after it is still what the branch says
    assert req.vias[0].branch == "z9hG4bK"
    assert req.vias[0].host == "192.0.2.1"


def test_unkscm_3_3_2() -> None:
    req = _request(UNKSCM)
    assert req.uri == "nobodyKnowsThisScheme:totallyopaquecontent"
    ruri = req.ruri
    assert isinstance(ruri, AbsoluteUri)
    assert ruri.scheme.lower() == "nobodyknowsthisscheme"
    assert ruri.rest == "totallyopaquecontent"


def test_novelsc_3_3_3() -> None:
    req = _request(NOVELSC)
    assert req.uri == "soap.beep://192.0.2.103:3002"
    ruri = req.ruri
    assert isinstance(ruri, AbsoluteUri)
    assert (ruri.scheme, ruri.rest) == ("soap.beep", "//192.0.2.103:3002")


def test_unksm2_3_3_4() -> None:
    req = _request(UNKSM2)
    assert req.to.uri == "isbn:2983792873"
    assert req.to.parsed_uri() == AbsoluteUri("isbn", "2983792873")
    assert req.from_.uri == "http://www.example.com"
    assert req.from_tag == "3234233"
    assert req.from_.parsed_uri() == AbsoluteUri("http", "//www.example.com")
    assert [c.uri for c in req.contacts] == ["name:John_Smith"]
    assert req.contacts[0].parsed_uri() == AbsoluteUri("name", "John_Smith")


def test_bext01_3_3_5() -> None:
    req = _request(BEXT01)
    assert req.headers.get_all("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert req.headers.get_all("Proxy-Require") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    assert req.vias[0].transport == "TLS"


def test_invut_3_3_6() -> None:
    req = _request(INVUT)
    assert req.content_type == "application/unknownformat"
    assert req.body == b'<audio>\r\n <pcmu port="443"/>\r\n</audio>\r\n'


def test_regaut01_3_3_7() -> None:
    req = _request(REGAUT01)
    assert req.headers.get("Authorization") == "NoOneKnowsThisScheme opaque-data=here"
    assert req.content_length == 0


def test_bcast_3_3_10() -> None:
    resp = _response(BCAST)
    assert [v.host for v in resp.vias] == ["192.0.2.198", "255.255.255.255"]
    assert resp.status == 200 and resp.reason == "OK"
    assert resp.content_length == 154


def test_zeromf_3_3_11() -> None:
    req = _request(ZEROMF)
    assert req.max_forwards == 0


def test_cparam01_3_3_12() -> None:
    # Outside <> the ;unknownparam is a Contact header parameter, not a URI parameter.
    req = _request(CPARAM01)
    [contact] = req.contacts
    assert contact.uri == "sip:+19725552222@gw1.example.net"
    assert _params(contact.params) == {"unknownparam": None}
    curi = contact.parsed_uri()
    assert isinstance(curi, SipUri)
    assert (curi.user, curi.host, curi.params) == ("+19725552222", "gw1.example.net", {})


def test_cparam02_3_3_13() -> None:
    # Inside <> it is a URI parameter.
    req = _request(CPARAM02)
    [contact] = req.contacts
    assert contact.uri == "sip:+19725552222@gw1.example.net;unknownparam"
    assert contact.params == {}
    curi = contact.parsed_uri()
    assert isinstance(curi, SipUri)
    assert _params(curi.params) == {"unknownparam": None}


def test_regescrt_3_3_14() -> None:
    req = _request(REGESCRT)
    [contact] = req.contacts  # compact M
    assert contact.uri == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"
    curi = contact.parsed_uri()
    assert isinstance(curi, SipUri)
    assert (curi.user, curi.host) == ("user", "example.com")
    assert curi.headers == {"Route": "%3Csip:sip.example.com%3E"}
    assert req.content_length == 0  # compact L


def test_sdp01_3_3_15() -> None:
    req = _request(SDP01)
    assert req.headers.get_all("Accept") == ["text/nobodyKnowsThis"]
    assert req.content_length == 150


def test_inv2543_3_4_1() -> None:
    req = _request(INV2543)
    assert req.vias[0].branch is None
    assert req.vias[0].params == {}
    assert req.from_tag is None
    assert req.to_tag is None
    assert req.max_forwards is None
    assert req.headers.get("Content-Length") is None
    # no Content-Length over UDP: the body is the rest of the datagram
    assert req.body == _body_of(INV2543)
    assert req.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    # an addr-spec outside <> takes no URI parameters: ;user=phone is a To parameter (RFC 3261 §20)
    assert req.to.uri == "sip:+16505552222@ss1.example.net"
    assert _params(req.to.params) == {"user": "phone"}
    assert req.from_.uri == "sip:+13035551111@ift.client.example.net;user=phone"


def test_inv2543_3_4_1_stream_requires_content_length() -> None:
    # On a stream there is no datagram end to frame the body with.
    with pytest.raises(SipParseError) as info:
        parse_message(INV2543, stream=True)
    assert info.value.status == 400


# --------------------------------------------------------------------------
# Serialising what was parsed keeps the meaning (to_bytes is what a B2BUA sends)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("data", VALID)
def test_valid_message_survives_to_bytes(data: bytes) -> None:
    first = _accept(data)
    second = _accept(first.to_bytes())
    assert type(second) is type(first)
    if isinstance(first, Request):
        assert isinstance(second, Request)
        assert (second.method, second.uri) == (first.method, first.uri)
    else:
        assert isinstance(second, Response)
        assert (second.status, second.reason) == (first.status, first.reason)
    assert second.body == first.body
    assert (second.call_id, second.cseq, second.cseq_method) == (first.call_id, first.cseq, first.cseq_method)
    assert (second.from_tag, second.to_tag) == (first.from_tag, first.to_tag)
    assert second.vias == first.vias
    assert second.from_ == first.from_
    assert second.to == first.to
    assert second.contacts == first.contacts
    assert second.max_forwards == first.max_forwards


# --------------------------------------------------------------------------
# The UA core answers every message as tests/rfc4475.py CASES says
# --------------------------------------------------------------------------

class _Tu:
    """The adapter's part: carries a TU's responses into the core."""

    def __init__(self) -> None:
        self.core: UaCore | None = None

    def send_response(self, incoming: IncomingRequest, response: Response) -> None:
        raise AssertionError("the TU does not answer in these tests")


def _core() -> UaCore:
    tu = _Tu()
    core = UaCore(tu, policy=SIP_POLICY)
    core.local_addresses.update({"UDP": ("127.0.0.1", 5060), "TCP": ("127.0.0.1", 5060)})
    tu.core = core
    return core


def _framed(case: Case) -> bytes | None:
    """What the TCP framer hands the core of ``case.data`` (None: nothing, as ``case.stream`` says)."""
    framer = StreamFramer()
    try:
        items = framer.feed(case.data)
    except SipParseError:
        assert case.stream == "close", f"{case.id}: the framer refused it"
        return None
    messages = [item for item in items if isinstance(item, bytes)]
    if case.stream == "wait":
        assert messages == []
        return None
    assert case.stream == "answer", f"{case.id}: the framer took it"
    return messages[0]  # dblreq: the REGISTER; the INVITE start after it waits for its body


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_corpus_is_answered_per_the_rfc_by_the_ua_core(case: Case, transport: str) -> None:
    core = _core()
    peer = Peer(transport, "127.0.0.1", 40000)
    data = case.data if transport == "UDP" else _framed(case)
    if data is None:
        return
    out = core.receive(data, peer, 0.0)
    sends = [o for o in out if isinstance(o, Send)]
    reported = [o for o in out if isinstance(o, RequestReceived | DialogRequest)]
    if case.by == "nobody":
        assert (sends, reported) == ([], [])
    elif case.by == "tu":
        assert sends == []
        (event,) = reported
        assert event.incoming.request.method in ("OPTIONS", "REGISTER", "INVITE")
    else:
        assert reported == []
        (send,) = sends
        check_answer(case, send.data)


def test_badinv01_3_1_2_1_answer_goes_to_the_source_over_udp() -> None:
    # Its Via is the defect, so the Via cannot say where the answer goes (§18.2.2).
    peer = Peer("UDP", "127.0.0.1", 40000)
    (send,) = _core().receive(BADINV01, peer, 0.0)
    assert isinstance(send, Send) and send.peer == peer
    assert read_answer(send.data)[0] == 400


def test_every_corpus_message_has_a_case() -> None:
    assert {c.data for c in CASES} == {p.values[0] for p in VALID + INVALID}
    assert len(CASES) == len(VALID) + len(INVALID)
