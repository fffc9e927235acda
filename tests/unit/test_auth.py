"""Tests of sip.auth: Digest parsing, answering (UAC) and challenging/verifying (UAS)."""
from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip.auth import (
    DigestChallenge,
    DigestCredentials,
    DigestError,
    UnsupportedAlgorithm,
    compute_ha1,
    compute_response,
    hash_algorithm,
    parse_challenge,
    parse_credentials,
)
from sip.auth_client import ClientAuthState, build_authorization, select_challenge
from sip.auth_server import DigestChallenger, VerifyResult, format_challenge

SECRET = b"0123456789abcdef0123456789abcdef"
REALM = "sip.example.com"
T0 = 1_700_000_000.0

RFC2617_CHALLENGE = """Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41\""""

RFC2617_AUTHORIZATION = """Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41\""""

RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def rfc7616_challenge(algorithm: str) -> str:
    return (
        'Digest\n    realm="http-auth@example.org",\n    qop="auth, auth-int",\n'
        f'    algorithm={algorithm},\n    nonce="{RFC7616_NONCE}",\n    opaque="{RFC7616_OPAQUE}"'
    )


def answer(challenger_value: str, *, password: str = "secret1001", username: str = "1001",
           method: str = "INVITE", uri: str = "sip:1002@sip.example.com", nc: int = 1,
           body: bytes = b"") -> DigestCredentials:
    value = build_authorization(
        parse_challenge(challenger_value), method=method, uri=uri, username=username,
        password=password, nc=nc, body=body,
    )
    return parse_credentials(value)


def stored_ha1(creds: DigestCredentials, password: str = "secret1001") -> str:
    # What the directory would have stored for this user and hash.
    return DigestChallenger.ha1(creds.username, creds.realm, password, creds.algorithm)


# --------------------------------------------------------------------------- parsing


def test_parse_rfc2617_challenge() -> None:
    ch = parse_challenge(RFC2617_CHALLENGE)
    assert ch == DigestChallenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        algorithm="MD5",
        qop=("auth", "auth-int"),
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
        stale=False,
    )
    assert ch.supported


def test_parse_rfc2617_authorization() -> None:
    c = parse_credentials(RFC2617_AUTHORIZATION)
    assert c == DigestCredentials(
        username="Mufasa",
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        uri="/dir/index.html",
        response="6629fae49393a05397450978507c4ef1",
        algorithm="MD5",
        cnonce="0a4f113b",
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
        qop="auth",
        nc="00000001",
    )
    assert c.hash_algorithm == "MD5"


def test_names_scheme_and_algorithm_are_case_insensitive() -> None:
    ch = parse_challenge('DIGEST REALM="r", Nonce="n", ALGORITHM=sha-256-SESS, QoP="AUTH"')
    assert (ch.realm, ch.nonce, ch.algorithm, ch.qop) == ("r", "n", "SHA-256-sess", ("auth",))
    assert hash_algorithm(ch.algorithm) == "SHA-256"


def test_quoted_string_escapes_are_undone() -> None:
    ch = parse_challenge(r'Digest realm="a \"quoted\" \\ realm", nonce="n\,x"')
    assert ch.realm == 'a "quoted" \\ realm'
    assert ch.nonce == "n,x"


def test_commas_inside_quotes_and_empty_list_elements() -> None:
    ch = parse_challenge('Digest realm="a, b", , nonce="x,y",qop="auth,auth-int",')
    assert ch.realm == "a, b"
    assert ch.nonce == "x,y"
    assert ch.qop == ("auth", "auth-int")


@pytest.mark.parametrize(
    ("text", "stale"),
    [("stale=true", True), ("stale=TRUE", True), ('stale="True"', True),
     ("stale=false", False), ("stale=yes", False), ("opaque=x", False)],
)
def test_stale_flag(text: str, stale: bool) -> None:
    assert parse_challenge(f'Digest realm="r", nonce="n", {text}').stale is stale


def test_unquoted_values_and_userhash_are_tolerated() -> None:
    ch = parse_challenge("Digest realm=r, nonce=ab/c+d==, opaque=o, userhash=true, domain=\"sip:x\"")
    assert (ch.realm, ch.nonce, ch.opaque, ch.domain) == ("r", "ab/c+d==", "o", "sip:x")


def test_unknown_algorithm_is_kept_but_not_answerable() -> None:
    ch = parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-512-256, qop="auth"')
    assert ch.algorithm == "SHA-512-256"
    assert not ch.supported
    with pytest.raises(UnsupportedAlgorithm):
        build_authorization(ch, method="REGISTER", uri="sip:r", username="u", password="p")


def test_unknown_qop_only_is_not_answerable() -> None:
    ch = parse_challenge('Digest realm="r", nonce="n", qop="auth-conf"')
    assert not ch.supported
    with pytest.raises(UnsupportedAlgorithm):
        build_authorization(ch, method="REGISTER", uri="sip:r", username="u", password="p")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "\x00\x01\x02",
        "Basic realm=\"r\"",
        "Digest",
        "Digestrealm=\"r\", nonce=\"n\"",
        'Digest realm="r, nonce="n"',  # unclosed quote swallows the rest
        'Digest realm="r", nonce="n',  # unclosed quote at the end
        'Digest realm="r", nonce="n\\',  # escape at the very end
        'Digest realm="r" nonce="n"',  # missing comma
        'Digest realm="r", nonce',  # name without value
        'Digest realm=, nonce="n"',  # empty unquoted value
        'Digest realm="r", realm="s", nonce="n"',  # duplicate
        'Digest ="r", nonce="n"',  # no name
        'Digest realm="r"',  # no nonce
        'Digest nonce="n"',  # no realm
        'Digest realm="r", nonce=""',  # empty nonce
        'Digest realm="r", nonce="n", qop=""',  # empty qop list
        'Digest realm="r", nonce="n"x',  # junk after quoted value
        'Digest realm=a"b", nonce="n"',  # quote inside a token
    ],
)
def test_malformed_challenges_raise_digest_error(value: str) -> None:
    with pytest.raises(DigestError):
        parse_challenge(value)


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        'Basic dXNlcjpwYXNz',
        'Digest username="u", realm="r", nonce="n", uri="sip:x"',  # no response
        'Digest username="u", realm="r", nonce="n", response="00"',  # no uri
        'Digest realm="r", nonce="n", uri="sip:x", response="00"',  # no username
        'Digest username="u", realm="r", nonce="n", uri="sip:x", response="00", qop=auth',
        ('Digest username="u", realm="r", nonce="n", uri="sip:x", response="00", qop=auth, '
         'nc=1, cnonce="c"'),  # nc not 8 digits
        ('Digest username="u", realm="r", nonce="n", uri="sip:x", response="00", qop=auth, '
         'nc=0000000g, cnonce="c"'),  # nc not hex
        ('Digest username="u", realm="r", nonce="n", uri="sip:x", response="00", qop=auth, '
         'nc=00000001'),  # no cnonce
        'Digest username="u, realm="r", nonce="n", uri="sip:x", response="00"',
    ],
)
def test_malformed_credentials_raise_digest_error(value: str) -> None:
    with pytest.raises(DigestError):
        parse_credentials(value)


def test_digest_error_is_a_value_error() -> None:
    assert issubclass(DigestError, ValueError)
    assert issubclass(UnsupportedAlgorithm, DigestError)


# --------------------------------------------------------------------------- answering: RFC vectors


def test_rfc2617_section_3_5_example() -> None:
    value = build_authorization(
        parse_challenge(RFC2617_CHALLENGE), method="GET", uri="/dir/index.html",
        username="Mufasa", password="Circle Of Life", cnonce="0a4f113b", nc=1,
    )
    c = parse_credentials(value)
    assert c.response == "6629fae49393a05397450978507c4ef1"
    assert (c.qop, c.nc, c.cnonce, c.opaque) == ("auth", "00000001", "0a4f113b",
                                                  "5ccc069c403ebaf9f0171e9517f40e41")
    # qop and nc are written unquoted (RFC 7616 §3.4).
    assert "qop=auth," in value
    assert value.endswith("nc=00000001")
    assert compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == (
        "939e7578ed9e3c518a452acee763bce9"
    )


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_examples(algorithm: str, expected: str) -> None:
    value = build_authorization(
        parse_challenge(rfc7616_challenge(algorithm)), method="GET", uri="/dir/index.html",
        username="Mufasa", password="Circle of Life", cnonce=RFC7616_CNONCE, nc=1,
    )
    c = parse_credentials(value)
    assert c.response == expected
    assert c.algorithm == algorithm
    assert f"algorithm={algorithm}," in value
    assert c.opaque == RFC7616_OPAQUE


def test_legacy_rfc2069_answer_without_qop() -> None:
    ch = parse_challenge(
        'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = build_authorization(ch, method="GET", uri="/dir/index.html", username="Mufasa",
                                password="CircleOfLife")
    c = parse_credentials(value)
    # Independent computation of H(HA1:nonce:HA2) with hashlib.
    ha1 = hashlib.md5(b"Mufasa:testrealm@host.com:CircleOfLife").hexdigest()
    ha2 = hashlib.md5(b"GET:/dir/index.html").hexdigest()
    expected = hashlib.md5(f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}".encode()).hexdigest()
    assert c.response == expected == "1949323746fe6a43ef61f9606e7febea"
    assert (c.qop, c.nc, c.cnonce) == (None, None, None)
    assert "cnonce" not in value and "qop" not in value and "nc=" not in value


def test_auth_int_when_it_is_the_only_qop() -> None:
    ch = DigestChallenge(realm="r", nonce="n", qop=("auth-int",))
    body = b"v=0\r\n"
    c = parse_credentials(build_authorization(
        ch, method="INVITE", uri="sip:x", username="u", password="p", body=body, cnonce="c"))
    assert c.qop == "auth-int"

    def h(data: bytes) -> str:
        return hashlib.md5(data).hexdigest()

    ha2 = h(b"INVITE:sip:x:" + h(body).encode())
    assert c.response == h(f"{h(b'u:r:p')}:n:00000001:c:auth-int:{ha2}".encode())


def test_sess_algorithm_without_qop_cannot_be_answered() -> None:
    ch = DigestChallenge(realm="r", nonce="n", algorithm="MD5-sess")
    assert not ch.supported
    with pytest.raises(UnsupportedAlgorithm):
        build_authorization(ch, method="INVITE", uri="sip:x", username="u", password="p")


def test_algorithm_is_echoed_even_when_defaulted() -> None:
    value = build_authorization(DigestChallenge(realm="r", nonce="n", qop=("auth",)),
                                method="INVITE", uri="sip:x", username="u", password="p")
    assert "algorithm=MD5," in value


@pytest.mark.parametrize("nc", [0, -1, 2**32])
def test_nonce_count_out_of_range(nc: int) -> None:
    with pytest.raises(DigestError):
        build_authorization(DigestChallenge(realm="r", nonce="n", qop=("auth",)),
                            method="INVITE", uri="sip:x", username="u", password="p", nc=nc)


@pytest.mark.parametrize("username", ["a\r\nVia: evil", "a\nb", "a\x00b"])
def test_header_injection_is_refused(username: str) -> None:
    with pytest.raises(DigestError):
        build_authorization(DigestChallenge(realm="r", nonce="n", qop=("auth",)),
                            method="INVITE", uri="sip:x", username=username, password="p")


def test_random_cnonce_differs_per_answer() -> None:
    ch = DigestChallenge(realm="r", nonce="n", qop=("auth",))
    a = parse_credentials(build_authorization(ch, method="A", uri="u", username="u", password="p"))
    b = parse_credentials(build_authorization(ch, method="A", uri="u", username="u", password="p"))
    assert a.cnonce and b.cnonce and a.cnonce != b.cnonce
    assert a.response != b.response


def test_select_challenge_takes_the_topmost_supported() -> None:
    values = [
        'Digest realm="r", nonce="n1", algorithm=SHA-512-256, qop="auth"',
        'Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"',
        'Digest realm="r", nonce="n3", algorithm=MD5, qop="auth"',
    ]
    ch = select_challenge(values)
    assert ch is not None and (ch.algorithm, ch.nonce) == ("SHA-256", "n2")
    ch = select_challenge(['Basic realm="r"', "garbage", values[2]])
    assert ch is not None and ch.nonce == "n3"
    assert select_challenge(values[:1]) is None
    assert select_challenge([]) is None


# --------------------------------------------------------------------------- challenger


def test_challenge_values_sha256_first_sharing_one_nonce() -> None:
    ch = DigestChallenger(REALM, SECRET)
    values = ch.challenge(T0)
    parsed = [parse_challenge(v) for v in values]
    assert [p.algorithm for p in parsed] == ["SHA-256", "MD5"]
    assert parsed[0].nonce == parsed[1].nonce
    assert all(p.realm == REALM and p.qop == ("auth",) and not p.stale for p in parsed)
    assert all(p.opaque == ch.opaque for p in parsed)
    stale = [parse_challenge(v) for v in ch.challenge(T0, stale=True)]
    assert all(p.stale for p in stale)
    assert stale[0].nonce != parsed[0].nonce
    assert "stale=TRUE" in ch.challenge(T0, stale=True)[0]


def test_nonce_embeds_its_issue_time() -> None:
    ch = DigestChallenger(REALM, SECRET)
    nonce = parse_challenge(ch.challenge(T0 + 12.345)[0]).nonce
    raw = base64.urlsafe_b64decode(nonce + "=")
    assert int.from_bytes(raw[:8], "big") == int((T0 + 12.345) * 1000)


@pytest.mark.parametrize("index", [0, 1])
def test_round_trip_with_qop(index: int) -> None:
    ch = DigestChallenger(REALM, SECRET)
    c = answer(ch.challenge(T0)[index])
    assert c.algorithm == ("SHA-256", "MD5")[index]
    assert c.qop == "auth"
    assert ch.verify(c, method="INVITE", now=T0 + 1, ha1=stored_ha1(c),
                     request_uri="sip:1002@sip.example.com") is VerifyResult.OK


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_round_trip_without_qop(algorithm: str) -> None:
    ch = DigestChallenger(REALM, SECRET, algorithms=(algorithm,), qop=())
    value = ch.challenge(T0)[0]
    assert "qop" not in value
    c = answer(value)
    assert c.qop is None and c.nc is None
    assert ch.verify(c, method="INVITE", now=T0 + 1, ha1=stored_ha1(c)) is VerifyResult.OK
    # Legacy credentials to a challenger that demands qop are refused, and vice versa.
    strict = DigestChallenger(REALM, SECRET, algorithms=(algorithm,))
    assert strict.verify(c, method="INVITE", now=T0 + 1, ha1=stored_ha1(c)) is VerifyResult.BAD
    with_qop = answer(strict.challenge(T0)[0])
    assert ch.verify(with_qop, method="INVITE", now=T0 + 1, ha1=stored_ha1(c)) is VerifyResult.BAD


@pytest.mark.parametrize("algorithm", ["SHA-256-sess", "MD5-sess"])
def test_round_trip_sess_algorithms(algorithm: str) -> None:
    ch = DigestChallenger(REALM, SECRET, algorithms=(algorithm,))
    c = answer(ch.challenge(T0)[0])
    assert c.algorithm == algorithm
    ha1 = DigestChallenger.ha1("1001", REALM, "secret1001", hash_algorithm(algorithm))
    assert ch.verify(c, method="INVITE", now=T0, ha1=ha1) is VerifyResult.OK


def test_round_trip_auth_int_covers_the_body() -> None:
    ch = DigestChallenger(REALM, SECRET, qop=("auth-int",))
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    c = answer(ch.challenge(T0)[0], body=body)
    assert c.qop == "auth-int"
    assert ch.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c), body=body + b"x") is VerifyResult.BAD
    assert ch.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c), body=body) is VerifyResult.OK


def test_stale_after_ttl() -> None:
    ch = DigestChallenger(REALM, SECRET, nonce_ttl=300.0)
    c = answer(ch.challenge(T0)[0])
    ha1 = stored_ha1(c)
    assert ch.verify(c, method="INVITE", now=T0 + 300.5, ha1=ha1) is VerifyResult.STALE
    # A wrong answer to an expired nonce is just wrong, not stale.
    assert ch.verify(c, method="INVITE", now=T0 + 300.5,
                     ha1=stored_ha1(c, "other")) is VerifyResult.BAD
    # Before expiry the same credentials pass.
    assert ch.verify(c, method="INVITE", now=T0 + 299.0, ha1=ha1) is VerifyResult.OK


def test_replay_detection() -> None:
    ch = DigestChallenger(REALM, SECRET)
    value = ch.challenge(T0)[0]
    c1 = answer(value, nc=1)
    ha1 = stored_ha1(c1)
    assert ch.verify(c1, method="INVITE", now=T0 + 1, ha1=ha1) is VerifyResult.OK
    assert ch.verify(c1, method="INVITE", now=T0 + 2, ha1=ha1) is VerifyResult.REPLAY
    c3 = answer(value, nc=3)
    assert ch.verify(c3, method="INVITE", now=T0 + 3, ha1=ha1) is VerifyResult.OK
    c2 = answer(value, nc=2)
    assert ch.verify(c2, method="INVITE", now=T0 + 4, ha1=ha1) is VerifyResult.REPLAY
    assert ch.verify(c3, method="INVITE", now=T0 + 5, ha1=ha1) is VerifyResult.REPLAY
    assert ch.verify(answer(value, nc=4), method="INVITE", now=T0 + 6, ha1=ha1) is VerifyResult.OK
    assert len(ch) == 1


def test_forged_request_does_not_advance_the_nonce_count() -> None:
    ch = DigestChallenger(REALM, SECRET)
    value = ch.challenge(T0)[0]
    ha1 = stored_ha1(answer(value))
    forged = answer(value, nc=100, password="guess")
    assert ch.verify(forged, method="INVITE", now=T0, ha1=ha1) is VerifyResult.BAD
    assert len(ch) == 0
    assert ch.verify(answer(value, nc=1), method="INVITE", now=T0, ha1=ha1) is VerifyResult.OK


def test_wrong_password_and_unknown_user() -> None:
    ch = DigestChallenger(REALM, SECRET)
    c = answer(ch.challenge(T0)[0], password="wrong")
    assert ch.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.BAD
    assert ch.verify(c, method="INVITE", now=T0, ha1=None) is VerifyResult.BAD


def test_wrong_method_uri_and_opaque() -> None:
    ch = DigestChallenger(REALM, SECRET)
    c = answer(ch.challenge(T0)[0], method="REGISTER", uri="sip:sip.example.com")
    ha1 = stored_ha1(c)
    assert ch.verify(c, method="INVITE", now=T0, ha1=ha1) is VerifyResult.BAD
    assert ch.verify(c, method="REGISTER", now=T0, ha1=ha1,
                     request_uri="sip:other.example.com") is VerifyResult.BAD
    c.opaque = "not-ours"
    assert ch.verify(c, method="REGISTER", now=T0, ha1=ha1) is VerifyResult.BAD
    c.opaque = None  # opaque left out by the client is tolerated
    assert ch.verify(c, method="REGISTER", now=T0, ha1=ha1,
                     request_uri="sip:sip.example.com") is VerifyResult.OK


def test_response_hex_case_is_ignored() -> None:
    ch = DigestChallenger(REALM, SECRET)
    c = answer(ch.challenge(T0)[0])
    c.response = c.response.upper()
    assert ch.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.OK


def _resign(challenge_value: str, **changes: str) -> DigestCredentials:
    """Answer a challenge whose fields were altered by an attacker, correctly for those fields."""
    ch = parse_challenge(challenge_value)
    for k, v in changes.items():
        setattr(ch, k, v)
    return parse_credentials(build_authorization(
        ch, method="INVITE", uri="sip:x", username="1001", password="secret1001"))


def test_tampered_nonce() -> None:
    ch = DigestChallenger(REALM, SECRET)
    value = ch.challenge(T0)[0]
    nonce = parse_challenge(value).nonce
    flipped = nonce[:20] + ("A" if nonce[20] != "A" else "B") + nonce[21:]
    c = _resign(value, nonce=flipped)
    assert ch.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.BAD
    # Re-dated to look fresh forever, keeping the old MAC.
    raw = bytearray(base64.urlsafe_b64decode(nonce + "="))
    raw[:8] = int((T0 + 10_000) * 1000).to_bytes(8, "big")
    redated = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    c = _resign(value, nonce=redated)
    assert ch.verify(c, method="INVITE", now=T0 + 10_000, ha1=stored_ha1(c)) is VerifyResult.BAD
    for junk in ["", "x", nonce + "A", nonce[:-1] + "*", "!" * len(nonce)]:
        c = _resign(value, nonce=junk or "z")
        assert ch.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.BAD


def test_nonce_from_another_secret_or_realm() -> None:
    ours = DigestChallenger(REALM, SECRET)
    other_secret = DigestChallenger(REALM, b"another secret of 32 bytes......")
    c = answer(other_secret.challenge(T0)[0])
    assert ours.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.BAD
    # Same secret, different realm: the answer names the other realm.
    other_realm = DigestChallenger("other.example.com", SECRET)
    c = answer(other_realm.challenge(T0)[0])
    assert ours.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.BAD
    # ...and relabelling the realm does not help, because the nonce is bound to it.
    c = _resign(other_realm.challenge(T0)[0], realm=REALM)
    assert ours.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.BAD
    # Our nonce answered for another realm (whose HA1 the directory may also hold).
    c = _resign(ours.challenge(T0)[0], realm="other.example.com")
    assert ours.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.BAD


def test_algorithm_not_offered() -> None:
    sha_only = DigestChallenger(REALM, SECRET, algorithms=("SHA-256",))
    c = _resign(sha_only.challenge(T0)[0], algorithm="MD5")
    assert c.algorithm == "MD5"
    assert sha_only.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.BAD


def test_nonce_from_the_future() -> None:
    ch = DigestChallenger(REALM, SECRET)
    c = answer(ch.challenge(T0 + 3600)[0])
    assert ch.verify(c, method="INVITE", now=T0, ha1=stored_ha1(c)) is VerifyResult.BAD


def test_nc_table_is_bounded_and_evicted_nonces_turn_stale() -> None:
    ch = DigestChallenger(REALM, SECRET, max_nonces=3)
    values = [ch.challenge(T0 + i)[0] for i in range(5)]
    creds = [answer(v) for v in values]
    ha1 = stored_ha1(creds[0])
    for i, c in enumerate(creds):
        assert ch.verify(c, method="INVITE", now=T0 + 10 + i, ha1=ha1) is VerifyResult.OK
    assert len(ch) == 3
    # The evicted nonces lost their history: a replay of theirs must not pass as new.
    assert ch.verify(creds[0], method="INVITE", now=T0 + 20, ha1=ha1) is VerifyResult.STALE
    assert ch.verify(answer(values[1], nc=2), method="INVITE", now=T0 + 20,
                     ha1=ha1) is VerifyResult.STALE
    # Tracked ones still detect replays.
    assert ch.verify(creds[4], method="INVITE", now=T0 + 20, ha1=ha1) is VerifyResult.REPLAY
    # A nonce issued after the eviction is tracked normally.
    fresh = answer(ch.challenge(T0 + 30)[0])
    assert ch.verify(fresh, method="INVITE", now=T0 + 31, ha1=ha1) is VerifyResult.OK


def test_nc_entries_are_dropped_at_nonce_expiry() -> None:
    ch = DigestChallenger(REALM, SECRET, nonce_ttl=60.0)
    for i in range(10):
        c = answer(ch.challenge(T0 + i)[0])
        assert ch.verify(c, method="INVITE", now=T0 + i, ha1=stored_ha1(c)) is VerifyResult.OK
    assert len(ch) == 10
    late = answer(ch.challenge(T0 + 100)[0])
    assert ch.verify(late, method="INVITE", now=T0 + 100, ha1=stored_ha1(late)) is VerifyResult.OK
    assert len(ch) == 1


def test_ha1_helper_matches_definition() -> None:
    assert DigestChallenger.ha1("1001", REALM, "secret1001", "SHA-256") == hashlib.sha256(
        f"1001:{REALM}:secret1001".encode()).hexdigest()
    assert DigestChallenger.ha1("1001", REALM, "secret1001", "MD5") == hashlib.md5(
        f"1001:{REALM}:secret1001".encode()).hexdigest()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"short"},
        {"nonce_ttl": 0},
        {"algorithms": ("SHA-512-256",)},
        {"algorithms": ()},
        {"qop": ("auth-conf",)},
        {"algorithms": ("MD5-sess",), "qop": ()},
        {"max_nonces": 0},
    ],
)
def test_challenger_rejects_bad_configuration(kwargs: dict) -> None:
    args = {"realm": REALM, "secret": SECRET, **kwargs}
    with pytest.raises(ValueError):
        DigestChallenger(**args)


# --------------------------------------------------------------------------- client state


def test_client_state_counts_nonce_uses() -> None:
    server = DigestChallenger(REALM, SECRET)
    client = ClientAuthState("1001", "secret1001")
    assert client.authorization_headers(method="REGISTER", uri="sip:x") == []
    assert client.on_challenge(server.challenge(T0))
    assert client.realms == (REALM,)
    ha1 = DigestChallenger.ha1("1001", REALM, "secret1001", "SHA-256")
    for n in (1, 2, 3):
        [(name, value)] = client.authorization_headers(method="REGISTER", uri="sip:x")
        assert name == "Authorization"
        c = parse_credentials(value)
        assert (c.nc, c.algorithm) == (f"{n:08x}", "SHA-256")
        assert server.verify(c, method="REGISTER", now=T0 + n, ha1=ha1) is VerifyResult.OK


def test_client_state_stale_renews_and_refusal_stops_the_loop() -> None:
    server = DigestChallenger(REALM, SECRET)
    client = ClientAuthState("1001", "secret1001")
    assert client.on_challenge(server.challenge(T0))
    client.authorization_headers(method="REGISTER", uri="sip:x")
    client.authorization_headers(method="REGISTER", uri="sip:x")
    # Expired nonce: the server says stale, the client starts again at nc=1.
    assert client.on_challenge(server.challenge(T0 + 400, stale=True))
    [(_, value)] = client.authorization_headers(method="REGISTER", uri="sip:x")
    assert parse_credentials(value).nc == "00000001"
    # Answered and challenged again without stale: the password is wrong, do not retry.
    assert not client.on_challenge(server.challenge(T0 + 401))
    assert client.realms == ()
    # A later request starts afresh.
    assert client.on_challenge(server.challenge(T0 + 402))


def test_client_state_proxy_and_several_realms() -> None:
    proxy = DigestChallenger("proxy.example.com", SECRET, algorithms=("MD5",))
    registrar = DigestChallenger(REALM, SECRET)
    client = ClientAuthState("1001", "secret1001")
    assert client.on_challenge(proxy.challenge(T0), proxy=True)
    assert client.on_challenge(registrar.challenge(T0))
    headers = dict(client.authorization_headers(method="INVITE", uri="sip:2@x"))
    p = parse_credentials(headers["Proxy-Authorization"])
    a = parse_credentials(headers["Authorization"])
    assert (p.realm, p.algorithm, a.realm, a.algorithm) == (
        "proxy.example.com", "MD5", REALM, "SHA-256")
    assert proxy.verify(p, method="INVITE", now=T0, ha1=DigestChallenger.ha1(
        "1001", "proxy.example.com", "secret1001", "MD5")) is VerifyResult.OK
    client.forget("proxy.example.com")
    assert client.realms == (REALM,)
    client.forget()
    assert client.realms == ()


def test_client_state_ignores_unusable_challenges() -> None:
    client = ClientAuthState("u", "p")
    assert not client.on_challenge(["garbage", 'Basic realm="r"',
                                    'Digest realm="r", nonce="n", algorithm=SHA-512-256'])
    assert client.realms == ()


# --------------------------------------------------------------------------- properties

_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)
_nonempty = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)
_methods = st.sampled_from(["INVITE", "REGISTER", "BYE", "ACK", "OPTIONS", "SUBSCRIBE"])


@settings(max_examples=200, deadline=None)
@given(
    username=_text, realm=_text, nonce=_nonempty, uri=_nonempty, cnonce=_nonempty,
    opaque=st.none() | _text, password=_text, method=_methods,
    algorithm=st.sampled_from(["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"]),
    qop=st.sampled_from([("auth",), ("auth-int",), ("auth", "auth-int"), ()]),
    nc=st.integers(1, 0xFFFFFFFF), body=st.binary(max_size=64),
)
def test_build_then_parse_credentials_round_trip(
    username: str, realm: str, nonce: str, uri: str, cnonce: str, opaque: str | None,
    password: str, method: str, algorithm: str, qop: tuple[str, ...], nc: int, body: bytes,
) -> None:
    ch = DigestChallenge(realm=realm, nonce=nonce, algorithm=algorithm, qop=qop, opaque=opaque)
    if not ch.supported:  # -sess without qop
        with pytest.raises(UnsupportedAlgorithm):
            build_authorization(ch, method=method, uri=uri, username=username, password=password)
        return
    value = build_authorization(ch, method=method, uri=uri, username=username, password=password,
                                body=body, cnonce=cnonce, nc=nc)
    c = parse_credentials(value)
    assert (c.username, c.realm, c.nonce, c.uri, c.opaque, c.algorithm) == (
        username, realm, nonce, uri, opaque, algorithm)
    if qop:
        assert (c.cnonce, c.nc, c.qop) == (cnonce, f"{nc:08x}", "auth" if "auth" in qop else "auth-int")
    else:
        assert (c.cnonce, c.nc, c.qop) == (None, None, None)
    ha1 = compute_ha1(username, realm, password, algorithm)
    assert c.response == compute_response(
        algorithm=c.algorithm, ha1=ha1, nonce=c.nonce, method=method, uri=c.uri, qop=c.qop,
        nc=c.nc, cnonce=c.cnonce, body=body)


@settings(max_examples=200, deadline=None)
@given(
    realm=_text, nonce=_nonempty, opaque=st.none() | _text, domain=st.none() | _text,
    stale=st.booleans(),
    algorithm=st.sampled_from(["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"]),
    qop=st.sampled_from([("auth",), ("auth-int",), ("auth", "auth-int"), ()]),
)
def test_format_then_parse_challenge_round_trip(
    realm: str, nonce: str, opaque: str | None, domain: str | None, stale: bool,
    algorithm: str, qop: tuple[str, ...],
) -> None:
    ch = DigestChallenge(realm=realm, nonce=nonce, algorithm=algorithm, qop=qop, opaque=opaque,
                         stale=stale, domain=domain)
    assert parse_challenge(format_challenge(ch)) == ch


@pytest.mark.parametrize("field", [{"algorithm": "MD5, qop=x"}, {"realm": "a\r\nb"}, {"nonce": "\x00"}])
def test_format_challenge_refuses_unsafe_values(field: dict) -> None:
    ch = DigestChallenge(realm="r", nonce="n")
    for k, v in field.items():
        setattr(ch, k, v)
    with pytest.raises(DigestError):
        format_challenge(ch)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.text(alphabet='Digest realm=",\\ nonce', max_size=60).map(
    lambda s: "Digest " + s))
def test_parsers_fail_only_with_digest_error(value: str) -> None:
    for parse in (parse_challenge, parse_credentials):
        try:
            parse(value)
        except DigestError:
            pass


@settings(max_examples=100, deadline=None)
@given(username=_text, password=_text, method=_methods, uri=_nonempty,
       index=st.integers(0, 1), delay=st.floats(0, 299))
def test_challenger_accepts_every_honest_answer(
    username: str, password: str, method: str, uri: str, index: int, delay: float,
) -> None:
    ch = DigestChallenger(REALM, SECRET)
    c = answer(ch.challenge(T0)[index], username=username, password=password, method=method,
               uri=uri)
    ha1 = DigestChallenger.ha1(username, REALM, password, c.algorithm)
    assert ch.verify(c, method=method, now=T0 + delay, ha1=ha1, request_uri=uri) is VerifyResult.OK
    assert ch.verify(c, method=method, now=T0 + delay, ha1=ha1) is VerifyResult.REPLAY
