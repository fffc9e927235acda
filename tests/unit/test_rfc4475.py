"""RFC 4475 (SIP Torture Test Messages) run against sip.message / sip.uri / sip.headers.

Every message is transcribed from the RFC as one Python string per line and
joined with CRLF (RFC 4475 §2: each line of a message ends in CRLF, the body's
lines included). Folded lines keep their leading whitespace exactly. The
RFC's notations are expanded here: <allOneLine> lines are written as one line,
<hex>..</hex> as Python escapes (control characters, UTF-8 text) or
bytes.fromhex (mpart01's binary part), <repeat count=N>x</repeat> as ``x * N``.
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

from sip.headers import parse_name_addr
from sip.message import Request, Response, SipParseError, parse_message
from sip.uri import AbsoluteUri, SipUri, parse_uri

CRLF = "\r\n"


def _m(*lines: str) -> bytes:
    """One message: the lines joined by CRLF, the last one terminated too."""
    return (CRLF.join(lines) + CRLF).encode("utf-8")


# The SDP bodies the RFC reuses; ``_sdp(ip)`` is 150 octets for a 9-char address.
def _sdp(o_ip: str, c_ip: str | None = None, t: str = "0 0") -> tuple[str, ...]:
    return (
        "v=0",
        f"o=mhandley 29739 7272939 IN IP4 {o_ip}",
        "s=-",
        f"c=IN IP4 {c_ip or o_ip}",
        f"t={t}",
        "m=audio 49217 RTP/AVP 0 12",
        "m=video 3227 RTP/AVP 31",
        "a=rtpmap:31 LPC",
    )


# --------------------------------------------------------------------------
# §3.1.1 Valid Messages
# --------------------------------------------------------------------------

# 3.1.1.1 A Short Tortuous INVITE
WSINV = _m(
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0",
    "TO :",
    " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
    'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>',
    "  ;",
    "  tag = 98asjd8",
    "MaX-fOrWaRdS: 0068",
    "Call-ID: wsinv.ndaksdj@192.0.2.1",
    "Content-Length   : 150",
    "cseq: 0009",
    "  INVITE",
    "Via  : SIP  /   2.0",
    " /UDP",
    "    192.0.2.2;branch=390skdjuw",
    "s :",
    "NewFangledHeader:   newfangled value",
    " continued newfangled value",
    "UnknownHeaderWithUnusualValue: ;;,,;;,;",
    "Content-Type: application/sdp",
    "Route:",
    " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;",
    "  branch  =   z9hG4bK9ikj8  ,",
    " SIP  /    2.0   / UDP  192.168.255.111   ; branch=",
    " z9hG4bK30239",
    'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =',
    "      newvalue ;",
    "  secondparam ; q = 0.33",
    "",
    *_sdp("192.0.2.3", "192.0.2.4"),
)

# 3.1.1.2 Wide Range of Valid Characters
INTMETH_METHOD = "!interesting-Method0123456789_*+`.%indeed'~"
INTMETH_USER = "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
INTMETH_PASSWORD = "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
INTMETH = _m(
    f"{INTMETH_METHOD} sip:{INTMETH_USER}:{INTMETH_PASSWORD}@example.com SIP/2.0",
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
    # quoted-pairs of BEL, NUL and DEL: <hex>07</hex>, <hex>00</hex>, <hex>7F</hex>
    f'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:{INTMETH_USER}@example.com>',
    # the parameter value is <hex>D180D0B0D0B1D0BED182D0B0D18ED189D0B8D0B9</hex>
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;"
    "fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\";tag=_token~1'+`*%!-.",
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
    f"CSeq: 139122385 {INTMETH_METHOD}",
    "Max-Forwards: 255",
    # the value is <hex>EFBBBFE5A4A7E5819CE99BBB</hex>: a UTF-8 BOM then three CJK characters
    "extensionHeader-!.%*+_`'~:\ufeff\u5927\u505c\u96fb",
    "Content-Length: 0",
    "",
)

# 3.1.1.3 Valid Use of the % Escaping Mechanism
ESC01 = _m(
    "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
    "To: sip:%75se%72@example.com",
    "From: <sip:I%20have%20spaces@example.net>;tag=938",
    "Max-Forwards: 87",
    "i: esc01.239409asdfakjkn23onasd0-3234",
    "CSeq: 234234 INVITE",
    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
    "C: application/sdp",
    "Contact:",
    "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
    "Content-Length: 150",
    "",
    *_sdp("192.0.2.1"),
)

# 3.1.1.4 Escaped Nulls in URIs
ESCNULL = _m(
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:null-%00-null@example.com",
    "From: sip:null-%00-null@example.com;tag=839923423",
    "Max-Forwards: 70",
    "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
    "CSeq: 14398234 REGISTER",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
    "Contact: <sip:%00@host5.example.com>",
    "Contact: <sip:%00%00@host5.example.com>",
    "L:0",
    "",
)

# 3.1.1.5 Use of % When It Is Not an Escape
ESC02 = _m(
    "RE%47IST%45R sip:registrar.example.com SIP/2.0",
    'To: "%Z%45" <sip:resource@example.com>',
    'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23',
    "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
    "Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234",
    "CSeq: 29344 RE%47IST%45R",
    "Max-Forwards: 70",
    "Contact: <sip:alias1@host1.example.com>",
    "C%6Fntact: <sip:alias2@host2.example.com>",
    "Contact: <sip:alias3@host3.example.com>",
    "l: 0",
    "",
)

# 3.1.1.6 Message with No LWS between Display Name and <
LWSDISP = _m(
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: caller<sip:caller@example.com>;tag=323",
    "Max-Forwards: 70",
    "Call-ID: lwsdisp.1234abcd@funky.example.com",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw",
    "l: 0",
    "",
)

# 3.1.1.7 Long Values in Header Fields
LONG_TO_URI = (
    "sip:user@example.com:6000;unknownparam1=very" + "long" * 20 + "value;longparam" + "name" * 25
    + "=shortvalue;very" + "long" * 25 + "ParameterNameWithNoValue"
)
LONG_CALLER = "amazinglylongcallername" * 5
LONG_TAG = "12" + "982" * 50 + "424"
LONG_BRANCH = "very" + "long" * 51 + "branchvalue"
LONGREQ = _m(
    "INVITE sip:user@example.com SIP/2.0",
    'To: "I have a user name of ' + "extreme" * 10 + f' proportion"<{LONG_TO_URI}>',
    f"F: sip:{LONG_CALLER}@example.net;tag={LONG_TAG};unknownheaderparam" + "name" * 20
    + "=unknowheaderparam" + "value" * 15 + ";unknownValueless" + "paramname" * 10,
    "Call-ID: longreq.one" + "really" * 20 + "longcallid",
    "CSeq: 3882340 INVITE",
    "Unknown-" + "Long" * 20 + "-Name: unknown-" + "long" * 20 + "-value; unknown-" + "long" * 20
    + "-parameter-name = unknown-" + "long" * 20 + "-parameter-value",
    "Via: SIP/2.0/TCP sip33.example.com",
    "v: SIP/2.0/TCP sip32.example.com",
    "V: SIP/2.0/TCP sip31.example.com",
    "Via: SIP/2.0/TCP sip30.example.com",
    "ViA: SIP/2.0/TCP sip29.example.com",
    "VIa: SIP/2.0/TCP sip28.example.com",
    "VIA: SIP/2.0/TCP sip27.example.com",
    "via: SIP/2.0/TCP sip26.example.com",
    "viA: SIP/2.0/TCP sip25.example.com",
    "vIa: SIP/2.0/TCP sip24.example.com",
    "vIA: SIP/2.0/TCP sip23.example.com",
    "V :  SIP/2.0/TCP sip22.example.com",
    "v :  SIP/2.0/TCP sip21.example.com",
    "V  : SIP/2.0/TCP sip20.example.com",
    "v  : SIP/2.0/TCP sip19.example.com",
    "Via : SIP/2.0/TCP sip18.example.com",
    "Via  : SIP/2.0/TCP sip17.example.com",
    *(f"Via: SIP/2.0/TCP sip{n}.example.com" for n in range(16, 0, -1)),
    f"Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch={LONG_BRANCH}",
    "Max-Forwards: 70",
    f"Contact: <sip:{LONG_CALLER}@host5.example.net>",
    "Content-Type: application/sdp",
    "l: 150",
    "",
    *_sdp("192.0.2.1"),
)

# 3.1.1.8 Extra Trailing Octets in a UDP Datagram
DBLREQ_REGISTER = _m(
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:j.user@example.com;tag=43251j3j324",
    "Max-Forwards: 8",
    "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
    "Contact: sip:j.user@host.example.com",
    "CSeq: 8 REGISTER",
    "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492",
    "Content-Length: 0",
    "",
)
DBLREQ = DBLREQ_REGISTER + _m(
    "",
    "INVITE sip:joe@example.com SIP/2.0",
    "t: sip:joe@example.com",
    "From: sip:caller@example.net;tag=141334",
    "Max-Forwards: 8",
    "Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234",
    "Content-Type: application/sdp",
    "Content-Length: 150",
    "",
    "v=0",
    "o=mhandley 29739 7272939 IN IP4 192.0.2.15",
    "s=-",
    "c=IN IP4 192.0.2.15",
    "t=0 0",
    "m=audio 49217 RTP/AVP 0 12",
    "m =video 3227 RTP/AVP 31",
    "a=rtpmap:31 LPC",
    "",
)

# 3.1.1.9 Semicolon-Separated Parameters in URI User Part
SEMIURI = _m(
    "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0",
    "To: sip:j_user@example.com",
    "From: sip:caller@example.org;tag=33242",
    "Max-Forwards: 3",
    "Call-ID: semiuri.0ha0isndaksdj",
    "CSeq: 8 OPTIONS",
    "Accept: application/sdp, application/pkcs7-mime,",
    "        multipart/mixed, multipart/signed,",
    "        message/sip, message/sipfrag",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
    "l: 0",
    "",
)

# 3.1.1.10 Varied and Unknown Transport Types
TRANSPORTS = _m(
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: <sip:caller@example.com>;tag=323",
    "Max-Forwards: 70",
    "Call-ID:  transports.kijh4akdnaqjkwendsasfdj",
    "Accept: application/sdp",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
    "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
    "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
    "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
    "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
    "l: 0",
    "",
)

# 3.1.1.11 Multipart MIME Message
MPART01_DER = bytes.fromhex(
    "3082015206092A864886F70D010702A08201433082013F02"
    "01013109300706052B0E03021A300B06092A864886F70D010701318201203082"
    "011C020101307C3070310B300906035504061302555331133011060355040813"
    "0A43616C69666F726E69613111300F0603550407130853616E204A6F7365310E"
    "300C060355040A1305736970697431293027060355040B132053697069742054"
    "65737420436572746966696361746520417574686F7269747902080195007102"
    "330113300706052B0E03021A300D06092A864886F70D01010105000481808EF4"
    "66F948F0522DD2E5978E9D95AAE9F2FE15A06659716292E8DA2AA8D8350A68CE"
    "FFAE3CBD2BFF1675DDD5648E593DD64728F26220F7E941749E330D9A15EDABDB"
    "93D10C42102E7B7289D29CC0C9AE2EFBC7C0CFF9172F3B027E4FC027E1546DE4"
    "B6AA3ABB3E66CCCB5DD6C64B8383149CB8E6FF182D944FE57B65BC99D005"
)
MPART01_IDENTITY = (
    "r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+"
    "fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA="
)
MPART01 = _m(
    "MESSAGE sip:kumiko@example.org SIP/2.0",
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport",
    "Max-Forwards: 70",
    "Route: <sip:127.0.0.1:5080>",
    f"Identity: {MPART01_IDENTITY}",
    "Contact: <sip:fluffy@127.0.0.1:5070>",
    "To: <sip:kumiko@example.org>",
    "From: <sip:fluffy@example.com>;tag=2fb0dcc9",
    "Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
    "CSeq: 1 MESSAGE",
    "Content-Transfer-Encoding: binary",
    "Content-Type: multipart/mixed;boundary=7a9cbec02ceef655",
    "Date: Sat, 15 Oct 2005 04:44:56 GMT",
    "User-Agent: SIPimp.org/0.2.5 (curses)",
    "Content-Length: 553",
    "",
    "--7a9cbec02ceef655",
    "Content-Type: text/plain",
    "Content-Transfer-Encoding: binary",
    "",
    "Hello",
    "--7a9cbec02ceef655",
    "Content-Type: application/octet-stream",
    "Content-Transfer-Encoding: binary",
    "",
) + MPART01_DER + b"\r\n--7a9cbec02ceef655--\r\n"

# 3.1.1.12 Unusual Reason Phrase
UNREASON_PHRASE = (
    "= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e"
    " \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435"
)
UNREASON = _m(
    f"SIP/2.0 200 {UNREASON_PHRASE}",
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
    "Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
    "CSeq: 35 INVITE",
    "From: sip:user@example.com;tag=11141343",
    "To: sip:user@example.edu;tag=2229",
    "Content-Length: 154",
    "Content-Type: application/sdp",
    "Contact: <sip:user@host198.example.com>",
    "",
    *_sdp("192.0.2.198"),
)

# 3.1.1.13 Empty Reason Phrase (the SP after the code is there)
NOREASON = _m(
    "SIP/2.0 100 ",
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
    "Call-ID: noreason.asndj203insdf99223ndf",
    "CSeq: 35 INVITE",
    "From: <sip:user@example.com>;tag=39ansfi3",
    "To: <sip:user@example.edu>;tag=902jndnke3",
    "Content-Length: 0",
    "Contact: <sip:user@host105.example.com>",
    "",
)

# --------------------------------------------------------------------------
# §3.1.2 Invalid Messages
# --------------------------------------------------------------------------

# 3.1.2.1 Extraneous Header Field Separators
BADINV01 = _m(
    "INVITE sip:user@example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=134161461246",
    "Max-Forwards: 7",
    "Call-ID: badinv01.0ha0isndaksdjasdf3234nas",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
    'Contact: "Joe" <sip:joe@example.org>;;;;',
    "Content-Length: 152",
    "Content-Type: application/sdp",
    "",
    *_sdp("192.0.2.15"),
)

# 3.1.2.2 Content Length Larger Than Message
CLERR = _m(
    "INVITE sip:user@example.com SIP/2.0",
    "Max-Forwards: 80",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=93942939o2",
    "Contact: <sip:caller@hungry.example.net>",
    "Call-ID: clerr.0ha0isndaksdjweiafasdk3",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523",
    "Content-Type: application/sdp",
    "Content-Length: 9999",
    "",
    *_sdp("192.0.2.155"),
)

# 3.1.2.3 Negative Content-Length
NCL = _m(
    "INVITE sip:user@example.com SIP/2.0",
    "Max-Forwards: 254",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=32394234",
    "Call-ID: ncl.0ha0isndaksdj2193423r542w35",
    "CSeq: 0 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw",
    "Contact: <sip:caller@example53.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: -999",
    "",
    *_sdp("192.0.2.53"),
)

# 3.1.2.4 Request Scalar Fields with Overlarge Values
SCALAR02 = _m(
    "REGISTER sip:example.com SIP/2.0",
    "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3",
    "To: <sip:user@example.com>",
    "From: <sip:user@example.com>;tag=239232jh3",
    "CSeq: 36893488147419103232 REGISTER",
    "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
    "Max-Forwards: 300",
    "Expires: 1" + "0" * 100,
    "Contact: <sip:user@host129.example.com>",
    "  ;expires=280297596632815",
    "Content-Length: 0",
    "",
)

# 3.1.2.5 Response Scalar Fields with Overlarge Values
SCALARLG = _m(
    "SIP/2.0 503 Service Unavailable",
    "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129",
    "To: <sip:user@example.com>",
    "From: <sip:other@example.net>;tag=2easdjfejw",
    "CSeq: 9292394834772304023312 OPTIONS",
    "Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r",
    "Retry-After: 949302838503028349304023988",
    'Warning: 1812 overture "In Progress"',
    "Content-Length: 0",
    "",
)

# 3.1.2.6 Unterminated Quoted String in Display Name
QUOTBAL = _m(
    "INVITE sip:user@example.com SIP/2.0",
    'To: "Mr. J. User <sip:j.user@example.com>',
    "From: sip:caller@example.net;tag=93334",
    "Max-Forwards: 10",
    "Call-ID: quotbal.aksdj",
    "Contact: <sip:caller@host59.example.net>",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234",
    "Content-Type: application/sdp",
    "Content-Length: 152",
    "",
    *_sdp("192.0.2.15"),
)

# 3.1.2.7 <> Enclosing Request-URI
LTGTRURI = _m(
    "INVITE <sip:user@example.com> SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=39291",
    "Max-Forwards: 23",
    "Call-ID: ltgtruri.1@192.0.2.5",
    "CSeq: 1 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.5",
    "Contact: <sip:caller@host5.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: 159",
    "",
    *_sdp("192.0.2.5", t="3149328700 0"),
)

# 3.1.2.8 Malformed SIP Request-URI (embedded LWS)
LWSRURI = _m(
    "INVITE sip:user@example.com; lr SIP/2.0",
    "To: sip:user@example.com;tag=3xfe-9921883-z9f",
    "From: sip:caller@example.net;tag=231413434",
    "Max-Forwards: 5",
    "Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423",
    "CSeq: 2130706432 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395",
    "Contact: <sip:caller@host1.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: 159",
    "",
    *_sdp("192.0.2.1", t="3149328700 0"),
)

# 3.1.2.9 Multiple SP Separating Request-Line Elements
LWSSTART = _m(
    "INVITE  sip:user@example.com  SIP/2.0",
    "Max-Forwards: 8",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=8814",
    "Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com",
    "CSeq: 1893884 INVITE",
    "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923",
    "Contact: <sip:caller@host1.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: 150",
    "",
    *_sdp("192.0.2.1"),
)

# 3.1.2.10 SP Characters at End of Request-Line (two SP after SIP/2.0)
TRWS = _m(
    "OPTIONS sip:remote-target@example.com SIP/2.0\x20\x20",
    "Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093",
    "To: <sip:remote-target@example.com>",
    "From: <sip:local-resource@example.com>;tag=329429089",
    "Call-ID: trws.oicu34958239neffasdhr2345r",
    "Accept: application/sdp",
    "CSeq: 238923 OPTIONS",
    "Max-Forwards: 70",
    "Content-Length: 0",
    "",
)

# 3.1.2.11 Escaped Headers in SIP Request-URI
ESCRURI = _m(
    "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=341518",
    "Max-Forwards: 7",
    "Contact: <sip:caller@host39923.example.net>",
    "Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5",
    "CSeq: 149209342 INVITE",
    "Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw",
    "Content-Type: application/sdp",
    "Content-Length: 150",
    "",
    *_sdp("192.0.2.1"),
)

# 3.1.2.12 Invalid Time Zone in Date Header Field
BADDATE = _m(
    "INVITE sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=2234923",
    "Max-Forwards: 70",
    "Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234",
    "CSeq: 1392934 INVITE",
    "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw",
    "Date: Fri, 01 Jan 2010 16:00:00 EST",
    "Contact: <sip:caller@host5.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: 150",
    "",
    *_sdp("192.0.2.5"),
)

# 3.1.2.13 Failure to Enclose name-addr URI in <>
REGBADCT = _m(
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:user@example.com;tag=998332",
    "Max-Forwards: 70",
    "Call-ID: regbadct.k345asrl3fdbv@10.0.0.1",
    "CSeq: 1 REGISTER",
    "Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw",
    "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E",
    "l: 0",
    "",
)

# 3.1.2.14 Spaces within addr-spec
BADASPEC = _m(
    "OPTIONS sip:user@example.org SIP/2.0",
    "Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234",
    "Max-Forwards: 70",
    'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423',
    'To: "Watson, Thomas" < sip:t.watson@example.org >',
    "Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3",
    "Accept: application/sdp",
    "CSeq: 3923239 OPTIONS",
    "l: 0",
    "",
)

# 3.1.2.15 Non-token Characters in Display Name
BADDN = _m(
    "OPTIONS sip:t.watson@example.org SIP/2.0",
    "Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw",
    "Max-Forwards:      70",
    "From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
    "To:      Watson, Thomas <sip:t.watson@example.org>",
    "Call-ID: baddn.31415@c.example.com",
    "Accept: application/sdp",
    "CSeq:    3923239 OPTIONS",
    "l: 0",
    "",
)

# 3.1.2.16 Unknown Protocol Version
BADVERS = _m(
    "OPTIONS sip:t.watson@example.org SIP/7.0",
    "Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
    "Max-Forwards:     70",
    "From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe",
    "To:      T. Watson <sip:t.watson@example.org>",
    "Call-ID: badvers.31417@c.example.com",
    "CSeq:    1 OPTIONS",
    "l: 0",
    "",
)

# 3.1.2.17 Start Line and CSeq Method Mismatch
MISMATCH01 = _m(
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=34525",
    "Max-Forwards: 6",
    "Call-ID: mismatch01.dj0234sxdfl3",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw",
    "l: 0",
    "",
)

# 3.1.2.18 Unknown Method with CSeq Method Mismatch
MISMATCH02 = _m(
    "NEWMETHOD sip:user@example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=34525",
    "Max-Forwards: 6",
    "Call-ID: mismatch02.dj0234sxdfl3",
    "CSeq: 8 INVITE",
    "Contact: <sip:caller@host.example.net>",
    "Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw",
    "Content-Type: application/sdp",
    "l: 138",
    "",
    "v=0",
    "o=mhandley 29739 7272939 IN IP4 192.0.2.1",
    "c=IN IP4 192.0.2.1",
    "m=audio 49217 RTP/AVP 0 12",
    "m=video 3227 RTP/AVP 31",
    "a=rtpmap:31 LPC",
)

# 3.1.2.19 Overlarge Response Code
BIGCODE = _m(
    "SIP/2.0 4294967301 better not break the receiver",
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
    "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i",
    "CSeq: 353494 INVITE",
    "From: <sip:user@example.com>;tag=39ansfi3",
    "To: <sip:user@example.edu>;tag=902jndnke3",
    "Content-Length: 0",
    "Contact: <sip:user@host105.example.com>",
    "",
)

# --------------------------------------------------------------------------
# §3.2 Transaction Layer Semantics, §3.3 Application-Layer Semantics,
# §3.4 Backward Compatibility: the ones whose outcome is the parser's.
# --------------------------------------------------------------------------

# 3.2.1 Missing Transaction Identifier
BADBRANCH = _m(
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.org;tag=33242",
    "Max-Forwards: 3",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK",
    "Accept: application/sdp",
    "Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n",
    "CSeq: 8 OPTIONS",
    "l: 0",
    "",
)

# 3.3.1 Missing Required Header Fields
INSUF = _m(
    "INVITE sip:user@example.com SIP/2.0",
    "CSeq: 193942 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf",
    "Content-Type: application/sdp",
    "l: 152",
    "",
    *_sdp("192.0.2.95"),
)

# 3.3.2 Request-URI with Unknown Scheme
UNKSCM = _m(
    "OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=384",
    "Max-Forwards: 3",
    "Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34",
    "CSeq: 3923423 OPTIONS",
    "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234",
    "Content-Length: 0",
    "",
)

# 3.3.3 Request-URI with Known but Atypical Scheme
NOVELSC = _m(
    "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=384",
    "Max-Forwards: 3",
    "Call-ID: novelsc.asdfasser0q239nwsdfasdkl34",
    "CSeq: 3923423 OPTIONS",
    "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234",
    "Content-Length: 0",
    "",
)

# 3.3.4 Unknown URI Schemes in Header Fields
UNKSM2 = _m(
    "REGISTER sip:example.com SIP/2.0",
    "To: isbn:2983792873",
    "From: <http://www.example.com>;tag=3234233",
    "Call-ID: unksm2.daksdj@hyphenated-host.example.com",
    "CSeq: 234902 REGISTER",
    "Max-Forwards: 70",
    "Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw",
    "Contact: <name:John_Smith>",
    "l: 0",
    "",
)

# 3.3.5 Proxy-Require and Require
BEXT01 = _m(
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:j_user@example.com",
    "From: sip:caller@example.net;tag=242etr",
    "Max-Forwards: 6",
    "Call-ID: bext01.0ha0isndaksdj",
    "Require: nothingSupportsThis, nothingSupportsThisEither",
    "Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis",
    "CSeq: 8 OPTIONS",
    "Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw",
    "Content-Length: 0",
    "",
)

# 3.3.6 Unknown Content-Type
INVUT = _m(
    "INVITE sip:user@example.com SIP/2.0",
    "Contact: <sip:caller@host5.example.net>",
    "To: sip:j.user@example.com",
    "From: sip:caller@example.net;tag=8392034",
    "Max-Forwards: 70",
    "Call-ID: invut.0ha0isndaksdjadsfij34n23d",
    "CSeq: 235448 INVITE",
    "Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw",
    "Content-Type: application/unknownformat",
    "Content-Length: 40",
    "",
    "<audio>",
    ' <pcmu port="443"/>',
    "</audio>",
)

# 3.3.7 Unknown Authorization Scheme
REGAUT01 = _m(
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:j.user@example.com;tag=87321hj23128",
    "Max-Forwards: 8",
    "Call-ID: regaut01.0ha0isndaksdj",
    "CSeq: 9338 REGISTER",
    "Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw",
    "Authorization: NoOneKnowsThisScheme opaque-data=here",
    "Content-Length:0",
    "",
)

# 3.3.8 Multiple Values in Single Value Required Fields
MULTI01 = _m(
    "INVITE sip:user@company.com SIP/2.0",
    "Contact: <sip:caller@host25.example.net>",
    "Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw",
    "Max-Forwards: 70",
    "CSeq: 5 INVITE",
    "Call-ID: multi01.98asdh@192.0.2.1",
    "CSeq: 59 INVITE",
    "Call-ID: multi01.98asdh@192.0.2.2",
    "From: sip:caller@example.com;tag=3413415",
    "To: sip:user@example.com",
    "To: sip:other@example.net",
    "From: sip:caller@example.net;tag=2923420123",
    "Content-Type: application/sdp",
    "l: 154",
    "Contact: <sip:caller@host36.example.net>",
    "Max-Forwards: 5",
    "",
    *_sdp("192.0.2.25"),
    "",  # the RFC's body ends in an empty line: 152 + 2 = 154 octets
)

# 3.3.9 Multiple Content-Length Values
MCL01 = _m(
    "OPTIONS sip:user@example.com SIP/2.0",
    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423",
    "To: sip:user@example.com",
    "From: sip:other@example.net;tag=3923942",
    "Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf",
    "CSeq: 15932 OPTIONS",
    "Content-Length: 13",
    "Max-Forwards: 60",
    "Content-Length: 5",
    "Content-Type: text/plain",
    "",
    "There's no way to know how many octets are supposed to be here.",
    "",
)

# 3.3.10 200 OK Response with Broadcast Via Header Field Value
BCAST = _m(
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
    "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23",
    "Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf",
    "CSeq: 35 INVITE",
    "From: sip:user@example.com;tag=11141343",
    "To: sip:user@example.edu;tag=2229",
    "Content-Length: 154",
    "Content-Type: application/sdp",
    "Contact: <sip:user@host28.example.com>",
    "",
    *_sdp("192.0.2.198"),
)

# 3.3.11 Max-Forwards of Zero
ZEROMF = _m(
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=3ghsd41",
    "Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas",
    "CSeq: 39234321 OPTIONS",
    "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i",
    "Max-Forwards: 0",
    "Content-Length: 0",
    "",
)

# 3.3.12 REGISTER with a Contact Header Parameter
CPARAM01 = _m(
    "REGISTER sip:example.com SIP/2.0",
    "Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw",
    "Max-Forwards: 70",
    "From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe",
    "To: sip:watson@example.com",
    "Call-ID: cparam01.70710@saturn.example.com",
    "CSeq: 2 REGISTER",
    "Contact: sip:+19725552222@gw1.example.net;unknownparam",
    "l: 0",
    "",
)

# 3.3.13 REGISTER with a url-parameter
CPARAM02 = _m(
    "REGISTER sip:example.com SIP/2.0",
    "Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw",
    "Max-Forwards: 70",
    "From: sip:watson@example.com;tag=838293",
    "To: sip:watson@example.com",
    "Call-ID: cparam02.70710@saturn.example.com",
    "CSeq: 3 REGISTER",
    "Contact: <sip:+19725552222@gw1.example.net;unknownparam>",
    "l: 0",
    "",
)

# 3.3.14 REGISTER with a URL Escaped Header
REGESCRT = _m(
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: sip:user@example.com;tag=8",
    "Max-Forwards: 70",
    "Call-ID: regescrt.k345asrl3fdbv@192.0.2.1",
    "CSeq: 14398234 REGISTER",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
    "M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>",
    "L:0",
    "",
)

# 3.3.15 Unacceptable Accept Offering
SDP01 = _m(
    "INVITE sip:user@example.com SIP/2.0",
    "To: sip:j_user@example.com",
    "Contact: <sip:caller@host15.example.net>",
    "From: sip:caller@example.net;tag=234",
    "Max-Forwards: 5",
    "Call-ID: sdp01.ndaksdj9342dasdd",
    "Accept: text/nobodyKnowsThis",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw",
    "Content-Length: 150",
    "Content-Type: application/sdp",
    "",
    *_sdp("192.0.2.5"),
)

# 3.4.1 INVITE with RFC 2543 Syntax (no branch, no From tag, no
# Content-Length, no Max-Forwards)
INV2543 = _m(
    "INVITE sip:UserB@example.com SIP/2.0",
    "Via: SIP/2.0/UDP iftgw.example.com",
    "From: <sip:+13035551111@ift.client.example.net;user=phone>",
    "Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>",
    "To: sip:+16505552222@ss1.example.net;user=phone",
    "Call-ID: inv2543.1717@ift.client.example.com",
    "CSeq: 56 INVITE",
    "Content-Type: application/sdp",
    "",
    "v=0",
    "o=mhandley 29739 7272939 IN IP4 192.0.2.5",
    "s=-",
    "c=IN IP4 192.0.2.5",
    "t=0 0",
    "m=audio 49217 RTP/AVP 0",
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
