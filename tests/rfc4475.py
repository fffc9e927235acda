"""The RFC 4475 (SIP Torture Test Messages) corpus, and what callcontrol answers to each message.

Every message is transcribed from the RFC as one Python string per line and
joined with CRLF (RFC 4475 §2: each line of a message ends in CRLF, the body's
lines included). Folded lines keep their leading whitespace exactly. The
RFC's notations are expanded here: <allOneLine> lines are written as one line,
<hex>..</hex> as Python escapes (control characters, UTF-8 text) or
bytes.fromhex (mpart01's binary part), <repeat count=N>x</repeat> as ``x * N``.
``tests/unit/test_rfc4475.py`` checks the transcription itself (the body of
every well-formed message is exactly Content-Length octets long) and the
parser on every message; ``CASES`` says what the server answers to each, and
is checked at the UA core (unit) and on the wire against ``callcontrol serve``
over UDP and TCP (``tests/integration/test_rfc4475_wire.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


# --------------------------------------------------------------------------
# What callcontrol answers, message by message
# --------------------------------------------------------------------------

# Who answers: the UA core itself (sip/ua_core.py with the server's UasPolicy), the server's
# TU (OPTIONS, the registrar, the B2BUA: the request reaches it), or nobody (a response, or
# a message that cannot be answered).
By = Literal["core", "tu", "nobody"]
# Over a stream (TCP) the framer sees the bytes first: "answer" as over UDP; "close": a
# framing error, after which the stream cannot be trusted, so the connection is closed
# unanswered (RFC 4475 §3.1.2.3, §3.3.9); "wait": Content-Length promises more than was
# sent, so the framer waits for the rest (§3.1.2.2).
Stream = Literal["answer", "close", "wait"]


@dataclass(frozen=True)
class Case:
    """One message of the corpus, the answer ``callcontrol serve`` gives it, and why."""

    id: str
    data: bytes
    status: int | None  # None: no answer
    by: By
    rfc: str  # what RFC 4475 says of it
    headers: tuple[tuple[str, str], ...] = ()  # (name, start of the value) the answer carries
    stream: Stream = "answer"
    # The UDP test adds ;rport to the top Via so the answer comes back to its socket (RFC 3581,
    # what phones send); not where the Via is the defect, or already has rport.
    rport: bool = True


ALLOWED = ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")
DIGEST_401 = ("WWW-Authenticate", "Digest ")
DIGEST_407 = ("Proxy-Authenticate", "Digest ")

# The answers are those of a server that does not trust the sender, so a request that reaches
# the registrar or the B2BUA is challenged: a valid message is "accepted" when it is processed
# (a challenge, a 481, a 200), not refused as malformed.
CASES = [
    # ---- §3.1.1 Valid Messages: parsed and processed
    Case("3.1.1.1-wsinv", WSINV, 481, "core",
         "a valid INVITE; its To tag names a dialog we do not have (RFC 3261 §12.2.2)"),
    Case("3.1.1.2-intmeth", INTMETH, 501, "core",
         "a valid request of a method nobody knows: 501 (RFC 3261 §21.5.2) with Allow", (ALLOWED,)),
    Case("3.1.1.3-esc01", ESC01, 407, "tu", "a valid INVITE with escapes: processed (challenged)", (DIGEST_407,)),
    Case("3.1.1.4-escnull", ESCNULL, 401, "tu", "a valid REGISTER with escaped NULs: processed", (DIGEST_401,)),
    Case("3.1.1.5-esc02", ESC02, 501, "core",
         "RE%47IST%45R is an unknown method, not REGISTER: 501 with Allow", (ALLOWED,)),
    Case("3.1.1.6-lwsdisp", LWSDISP, 200, "tu", "no LWS between display name and <: valid"),
    Case("3.1.1.7-longreq", LONGREQ, 407, "tu", "long values everywhere: processed", (DIGEST_407,)),
    Case("3.1.1.8-dblreq", DBLREQ, 401, "tu",
         "the REGISTER is processed, the octets after the datagram's Content-Length ignored (RFC 3261 "
         "§18.3); on a stream those octets are a second message, framed by its Content-Length 150 and "
         "leaving five octets that are no message: a framing error", (DIGEST_401,), stream="close"),
    Case("3.1.1.9-semiuri", SEMIURI, 200, "tu", "';' in the user part: valid"),
    Case("3.1.1.10-transports", TRANSPORTS, 200, "tu", "unknown Via transports: valid"),
    Case("3.1.1.11-mpart01", MPART01, 405, "core",
         "a valid MESSAGE; a method SIP defines that the server does not implement: 405 with Allow "
         "(RFC 3261 §8.2.1)", (ALLOWED,), rport=False),
    Case("3.1.1.12-unreason", UNREASON, None, "nobody", "a valid response matching no transaction: dropped"),
    Case("3.1.1.13-noreason", NOREASON, None, "nobody", "a valid response matching no transaction: dropped"),
    # ---- §3.1.2 Invalid Messages
    Case("3.1.2.1-badinv01", BADINV01, 400, "core", "'should respond with a 400', over UDP too: the "
         "Via is the defect, so the answer goes to the packet's source", rport=False),
    Case("3.1.2.2-clerr", CLERR, 400, "core",
         "over UDP 'MUST reject with 400'; over a stream the receiver waits for the rest", stream="wait"),
    Case("3.1.2.3-ncl", NCL, 400, "core", "'should respond with 400'; on a stream the framing is lost: "
         "the connection is closed", stream="close"),
    Case("3.1.2.4-scalar02", SCALAR02, 400, "core", "400 for the CSeq beyond 2**32-1"),
    Case("3.1.2.5-scalarlg", SCALARLG, None, "nobody", "a response with overlarge values: 'simply discard it'"),
    Case("3.1.2.6-quotbal", QUOTBAL, 400, "core", "unterminated quote: 400 (the strict choice)"),
    Case("3.1.2.7-ltgtruri", LTGTRURI, 400, "core", "'reasonable always to reject ... with a 400'"),
    Case("3.1.2.8-lwsruri", LWSRURI, 400, "core", "'should respond with a 400'"),
    Case("3.1.2.9-lwsstart", LWSSTART, 400, "core", "'acceptable to reject this request as malformed'"),
    Case("3.1.2.10-trws", TRWS, 400, "core", "'acceptable to reject this request as malformed'"),
    Case("3.1.2.11-escruri", ESCRURI, 400, "core", "headers in a Request-URI: 400 (the strict choice)"),
    Case("3.1.2.12-baddate", BADDATE, 400, "core", "only GMT is legal: 400 (the strict choice)"),
    Case("3.1.2.13-regbadct", REGBADCT, 400, "core", "a URI with '?' outside <>: 400"),
    Case("3.1.2.14-badaspec", BADASPEC, 400, "core", "'reasonable to reject this request with a 400'"),
    Case("3.1.2.15-baddn", BADDN, 400, "core", "'reasonable always to reject this kind of error with a 400'"),
    Case("3.1.2.16-badvers", BADVERS, 505, "core", "'should respond ... with a 505 Version Not Supported'"),
    Case("3.1.2.17-mismatch01", MISMATCH01, 400, "core", "'will respond with a 400 Bad Request'"),
    Case("3.1.2.18-mismatch02", MISMATCH02, 400, "core", "501, or '400 Bad Request is also acceptable'"),
    Case("3.1.2.19-bigcode", BIGCODE, None, "nobody", "a response code above 699: 'should simply drop it'"),
    # ---- §3.2 Transaction Layer Semantics
    Case("3.2.1-badbranch", BADBRANCH, 200, "tu",
         "branch z9hG4bK with nothing after it: 'could reject with 400 ... or fall back'; served"),
    # ---- §3.3 Application-Layer Semantics
    Case("3.3.1-insuf", INSUF, 400, "core", "no Call-ID, From, To: 'Ideally, it will respond with a 400'"),
    Case("3.3.2-unkscm", UNKSCM, 416, "core", "'will reject it with a 416 Unsupported URI Scheme'"),
    Case("3.3.3-novelsc", NOVELSC, 416, "core", "soap.beep is never meaningful here: 416"),
    Case("3.3.4-unksm2", UNKSM2, 400, "tu", "a registrar rejects it with 400: the To of a REGISTER must be "
         "a SIP or SIPS URI (the address-of-record)"),
    Case("3.3.5-bext01", BEXT01, 420, "core", "an unsupported Require: 420 listing both tags in Unsupported "
         "(Proxy-Require is for proxies)",
         (("Unsupported", "nothingSupportsThis, nothingSupportsThisEither"),)),
    Case("3.3.6-invut", INVUT, 415, "core", "a body of unknown type: 415 with Accept",
         (("Accept", "application/sdp"),)),
    Case("3.3.7-regaut01", REGAUT01, 401, "tu",
         "an unknown Authorization scheme: 401 with a challenge in a scheme we know", (DIGEST_401,)),
    Case("3.3.8-multi01", MULTI01, 400, "core", "several values in single-value headers: 400"),
    Case("3.3.9-mcl01", MCL01, 400, "core", "conflicting Content-Length: 400; on a stream the framing is "
         "lost: the connection is closed", stream="close"),
    Case("3.3.10-bcast", BCAST, None, "nobody", "a response matching no transaction: dropped"),
    Case("3.3.11-zeromf", ZEROMF, 200, "tu", "Max-Forwards 0: an endpoint processes it"),
    Case("3.3.12-cparam01", CPARAM01, 401, "tu", "a valid REGISTER: processed", (DIGEST_401,)),
    Case("3.3.13-cparam02", CPARAM02, 401, "tu", "a valid REGISTER: processed", (DIGEST_401,)),
    Case("3.3.14-regescrt", REGESCRT, 401, "tu", "a valid REGISTER (escaped header in the Contact): "
         "processed", (DIGEST_401,)),
    Case("3.3.15-sdp01", SDP01, 406, "core", "Accept rules out the SDP of our answer: 406",
         (("Accept", "application/sdp"),)),
    # ---- §3.4 Backward Compatibility
    Case("3.4.1-inv2543", INV2543, 407, "tu", "RFC 2543 syntax over UDP: processed; on a stream it has "
         "no Content-Length, a framing error (RFC 3261 §18.3)", (DIGEST_407,), stream="close"),
]


def read_answer(data: bytes) -> tuple[int, dict[str, str]]:
    """The status and the (first value of each) header of an answer, read without the parser:
    an answer to a request that lacks From, To or Call-ID (§3.3.1) lacks them too."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
    lines = head.split("\r\n")
    version, status, _ = (lines[0] + " ").split(" ", 2)
    assert version == "SIP/2.0", lines[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return int(status), headers


def check_answer(case: Case, data: bytes) -> None:
    """``data`` is the answer ``case`` says the server gives."""
    status, headers = read_answer(data)
    assert status == case.status, f"{case.id}: {status} instead of {case.status} ({case.rfc})"
    for name, start in case.headers:
        value = headers.get(name.lower())
        assert value is not None and value.startswith(start), f"{case.id}: {name}: {value!r}"
