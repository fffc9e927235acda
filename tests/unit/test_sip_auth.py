"""callcontrol.access.sip_auth: digest challenges against the real directory, trust, 403 rules, throttle."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcontrol.access.sip_auth import Reply, RequestAuthenticator, request_user, source_candidates
from callcontrol.access.throttle import LoginThrottle
from callcontrol.directory.service import Directory
from sip.auth import parse_challenge
from sip.auth_client import ClientAuthState, build_authorization
from sip.auth_server import DigestChallenger
from sip.message import Request, Response, make_request
from sip.peer import Peer
from sip.ua import IncomingRequest, UserAgent

REALM = "callcontrol"
SECRET = b"k" * 32
T0 = 1_700_000_000.0
PHONE = Peer("UDP", "192.0.2.10", 5062)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def directory(data_dir: Path) -> AsyncIterator[Directory]:
    d = await Directory.open(data_dir)
    yield d
    await d.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(directory: Directory, clock: Clock) -> RequestAuthenticator:
    return RequestAuthenticator(directory, REALM, is_trusted=lambda h: h == "10.0.0.1", secret=SECRET,
                                clock=clock)


def request(method: str = "REGISTER", *, user: str = "1001", from_user: str | None = None,
            via: str = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKabc;rport=5062",
            uri: str = "sip:127.0.0.1", auth: tuple[str, str] | None = None) -> Request:
    headers = [
        ("Via", via),
        ("From", f"<sip:{from_user or user}@127.0.0.1>;tag=f1"),
        ("To", f"<sip:{user}@127.0.0.1>"),
        ("Call-ID", "call-1"),
        ("CSeq", f"1 {method}"),
        ("Contact", "<sip:1001@192.0.2.10:5062>"),
    ]
    if auth is not None:
        headers.append(auth)
    return make_request(method, uri, headers)


def challenge_of(reply: object, header: str = "WWW-Authenticate") -> str:
    assert isinstance(reply, Reply), reply
    values = [v for n, v in reply.headers if n == header]
    assert len(values) == 1
    return values[0]


def answer(challenge: str, *, username: str = "1001", password: str = "secret1001", method: str = "REGISTER",
           uri: str = "sip:127.0.0.1", proxy: bool = False) -> tuple[str, str]:
    value = build_authorization(parse_challenge(challenge), method=method, uri=uri, username=username,
                                password=password)
    return ("Proxy-Authorization" if proxy else "Authorization", value)


def test_trusted_source_passes_unchallenged(auth: RequestAuthenticator) -> None:
    req = request(via="SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKt1")
    assert auth.decide(req, Peer("UDP", "10.0.0.1", 5060), proxy=True, now=T0) == "trusted"


def test_forged_received_does_not_earn_trust(auth: RequestAuthenticator) -> None:
    # The sender wrote received=10.0.0.1 itself; its true address is the sent-by host.
    req = request(via="SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bKt2;received=10.0.0.1")
    assert source_candidates(req, Peer("UDP", "10.0.0.1", 5060)) == ("192.0.2.66", "10.0.0.1")
    reply = auth.decide(req, Peer("UDP", "10.0.0.1", 5060), proxy=False, now=T0)
    assert isinstance(reply, Reply) and reply.status == 401


def test_forged_sent_by_does_not_earn_trust(auth: RequestAuthenticator) -> None:
    # What the UA core leaves when a stranger claims sent-by 10.0.0.1: received = the true source.
    req = request(via="SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKt3;received=192.0.2.66")
    reply = auth.decide(req, Peer("UDP", "192.0.2.66", 5060), proxy=False, now=T0)
    assert isinstance(reply, Reply) and reply.status == 401


def test_stream_source_is_the_connection(auth: RequestAuthenticator) -> None:
    req = request(via="SIP/2.0/TCP 192.0.2.66:5060;branch=z9hG4bKt4")
    assert auth.decide(req, Peer("TCP", "10.0.0.1", 40000), proxy=True, now=T0) == "trusted"


def test_no_credentials_gets_401_or_407_with_fresh_challenge(auth: RequestAuthenticator) -> None:
    reply = auth.decide(request(), PHONE, proxy=False, now=T0)
    assert isinstance(reply, Reply) and reply.status == 401
    ch = parse_challenge(challenge_of(reply))
    assert (ch.realm, ch.algorithm, ch.qop, ch.stale) == (REALM, "MD5", ("auth",), False)
    proxy_reply = auth.decide(request("INVITE"), PHONE, proxy=True, now=T0)
    assert isinstance(proxy_reply, Reply) and proxy_reply.status == 407
    ch2 = parse_challenge(challenge_of(proxy_reply, "Proxy-Authenticate"))
    assert ch2.nonce != ch.nonce


def test_right_password_returns_the_account(auth: RequestAuthenticator) -> None:
    ch = challenge_of(auth.decide(request(), PHONE, proxy=False, now=T0))
    result = auth.decide(request(auth=answer(ch)), PHONE, proxy=False, now=T0 + 1)
    assert not isinstance(result, Reply) and result != "trusted"
    assert (result.id, result.i_account) == ("1001", 1)


def test_invite_with_proxy_credentials(auth: RequestAuthenticator) -> None:
    ch = challenge_of(auth.decide(request("INVITE"), PHONE, proxy=True, now=T0), "Proxy-Authenticate")
    # WWW credentials do not answer a proxy challenge.
    wrong_header = ("Authorization", answer(ch, method="INVITE")[1])
    reply = auth.decide(request("INVITE", auth=wrong_header), PHONE, proxy=True, now=T0)
    assert isinstance(reply, Reply) and reply.status == 407
    result = auth.decide(request("INVITE", auth=answer(ch, method="INVITE", proxy=True)), PHONE, proxy=True,
                         now=T0)
    assert not isinstance(result, Reply) and result != "trusted" and result.id == "1001"


def test_wrong_password_on_our_nonce_is_403_not_another_401(auth: RequestAuthenticator) -> None:
    ch = challenge_of(auth.decide(request(), PHONE, proxy=False, now=T0))
    reply = auth.decide(request(auth=answer(ch, password="nope")), PHONE, proxy=False, now=T0)
    assert reply == Reply(403, "Forbidden")


def test_unknown_user_is_403(auth: RequestAuthenticator) -> None:
    ch = challenge_of(auth.decide(request(user="9999"), PHONE, proxy=False, now=T0))
    reply = auth.decide(request(user="9999", auth=answer(ch, username="9999", password="secret9999")), PHONE,
                        proxy=False, now=T0)
    assert reply == Reply(403, "Forbidden")


def test_from_user_must_be_the_authenticated_user(auth: RequestAuthenticator) -> None:
    ch = challenge_of(auth.decide(request(), PHONE, proxy=False, now=T0))
    reply = auth.decide(request(from_user="1002", auth=answer(ch)), PHONE, proxy=False, now=T0)
    assert isinstance(reply, Reply) and reply.status == 403


def test_expired_nonce_with_right_password_is_stale_401(auth: RequestAuthenticator) -> None:
    ch = challenge_of(auth.decide(request(), PHONE, proxy=False, now=T0))
    reply = auth.decide(request(auth=answer(ch)), PHONE, proxy=False, now=T0 + 301)
    assert isinstance(reply, Reply) and reply.status == 401
    fresh = parse_challenge(challenge_of(reply))
    assert fresh.stale is True and fresh.nonce != parse_challenge(ch).nonce
    # ... and a wrong password is refused even on an expired nonce.
    bad = auth.decide(request(auth=answer(ch, password="x")), PHONE, proxy=False, now=T0 + 301)
    assert isinstance(bad, Reply) and bad.status == 403


def test_nonce_of_another_process_right_password_is_stale(directory: Directory) -> None:
    before = DigestChallenger(REALM, b"o" * 32, algorithms=("MD5",))
    ch = before.challenge(T0)[0]
    auth = RequestAuthenticator(directory, REALM, is_trusted=lambda h: False, secret=SECRET)
    reply = auth.decide(request(auth=answer(ch)), PHONE, proxy=False, now=T0)
    assert isinstance(reply, Reply) and reply.status == 401
    assert parse_challenge(challenge_of(reply)).stale is True
    wrong = auth.decide(request(auth=answer(ch, password="x")), PHONE, proxy=False, now=T0)
    assert wrong == Reply(403, "Forbidden")


def test_replayed_nonce_count_is_rechallenged_stale(auth: RequestAuthenticator) -> None:
    ch = challenge_of(auth.decide(request(), PHONE, proxy=False, now=T0))
    creds = answer(ch)
    assert not isinstance(auth.decide(request(auth=creds), PHONE, proxy=False, now=T0), Reply)
    reply = auth.decide(request(auth=creds), PHONE, proxy=False, now=T0 + 1)
    assert isinstance(reply, Reply) and reply.status == 401
    assert parse_challenge(challenge_of(reply)).stale is True


def test_right_password_with_wrong_digest_uri_is_403(auth: RequestAuthenticator) -> None:
    ch = challenge_of(auth.decide(request(), PHONE, proxy=False, now=T0))
    reply = auth.decide(request(auth=answer(ch, uri="sip:elsewhere")), PHONE, proxy=False, now=T0)
    assert isinstance(reply, Reply) and reply.status == 403


def test_credentials_for_another_realm_are_ignored(auth: RequestAuthenticator) -> None:
    other = DigestChallenger("other-realm", SECRET, algorithms=("MD5",)).challenge(T0)[0]
    reply = auth.decide(request(auth=answer(other)), PHONE, proxy=False, now=T0)
    assert isinstance(reply, Reply) and reply.status == 401


def test_sha256_when_offered(directory: Directory) -> None:
    auth = RequestAuthenticator(directory, REALM, is_trusted=lambda h: False, secret=SECRET,
                                algorithms=("SHA-256", "MD5"))
    reply = auth.decide(request(), PHONE, proxy=False, now=T0)
    assert isinstance(reply, Reply)
    values = [v for n, v in reply.headers if n == "WWW-Authenticate"]
    assert [parse_challenge(v).algorithm for v in values] == ["SHA-256", "MD5"]
    result = auth.decide(request(auth=answer(values[0])), PHONE, proxy=False, now=T0)
    assert not isinstance(result, Reply) and result != "trusted" and result.id == "1001"


def test_failures_throttle_the_source_then_fade(directory: Directory, clock: Clock) -> None:
    throttle = LoginThrottle(free_failures=3, base_delay=10.0, max_delay=60.0, forget_after=900.0)
    auth = RequestAuthenticator(directory, REALM, is_trusted=lambda h: False, secret=SECRET, clock=clock,
                                throttle=throttle)
    for _ in range(4):
        ch = challenge_of(auth.decide(request(), PHONE, proxy=False, now=T0))
        assert auth.decide(request(auth=answer(ch, password="guess")), PHONE, proxy=False, now=T0).status == 403
    # Now even the right password from that source is refused unchecked, with a Retry-After...
    blocked = auth.decide(request(auth=answer(ch)), PHONE, proxy=False, now=T0 + 1)
    assert blocked == Reply(403, "Too Many Failed Attempts", (("Retry-After", "10"),))
    # ... while another source is not affected ...
    other_peer = Peer("UDP", "192.0.2.11", 5060)
    other_via = "SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKo"
    ch_o = challenge_of(auth.decide(request(via=other_via), other_peer, proxy=False, now=T0 + 1))
    result = auth.decide(request(via=other_via, auth=answer(ch_o)), other_peer, proxy=False, now=T0 + 1)
    assert not isinstance(result, Reply) and result != "trusted" and result.id == "1001"
    # ... and the block ends after its delay.
    ch2 = challenge_of(auth.decide(request(), PHONE, proxy=False, now=T0 + 11))
    result = auth.decide(request(auth=answer(ch2)), PHONE, proxy=False, now=T0 + 11)
    assert not isinstance(result, Reply) and result != "trusted" and result.id == "1001"


NOBODY = 'Digest username="nobody", realm="callcontrol", nonce="x", uri="sip:127.0.0.1", response="00"'


def test_throttle_table_is_bounded(directory: Directory) -> None:
    throttle = LoginThrottle(free_failures=1, max_entries=50)
    auth = RequestAuthenticator(directory, REALM, is_trusted=lambda h: False, secret=SECRET, throttle=throttle)
    for i in range(500):
        src = f"198.51.{i // 256}.{i % 256}"
        req = request(via=f"SIP/2.0/UDP {src}:5060;branch=z9hG4bK{i}", user="nobody",
                      auth=("Authorization", NOBODY))
        assert auth.decide(req, Peer("UDP", src, 5060), proxy=False, now=T0 + i) == Reply(403, "Forbidden")
    assert len(throttle._logins) <= 50  # the table the source addresses are kept in


def test_client_auth_state_round_trip(auth: RequestAuthenticator) -> None:
    """What a real UAC does: answer the 401, and is not asked again while the nonce lives."""
    client = ClientAuthState("1001", "secret1001")
    reply = auth.decide(request(), PHONE, proxy=False, now=T0)
    assert isinstance(reply, Reply)
    assert client.on_challenge([v for n, v in reply.headers if n == "WWW-Authenticate"])
    for i in range(3):
        (hdr,) = client.authorization_headers(method="REGISTER", uri="sip:127.0.0.1")
        result = auth.decide(request(auth=hdr), PHONE, proxy=False, now=T0 + i)
        assert not isinstance(result, Reply) and result != "trusted" and result.id == "1001"


@pytest.mark.parametrize(
    ("uri", "user"),
    [("sip:1001@h", "1001"), ("sip:%31001@h", "1001"), ("sips:a@h;x=y", "a"), ("tel:+123", "+123"),
     ("sip:h", None), ("http://x", None), ("not a uri", None)],
)
def test_request_user(uri: str, user: str | None) -> None:
    assert request_user(uri) == user


def test_varying_a_forged_received_does_not_evade_the_throttle(directory: Directory) -> None:
    throttle = LoginThrottle(free_failures=2, base_delay=10.0)
    auth = RequestAuthenticator(directory, REALM, is_trusted=lambda h: False, secret=SECRET, throttle=throttle)
    for i in range(3):
        via = f"SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bKv{i};received=198.51.100.{i}"
        peer = Peer("UDP", f"198.51.100.{i}", 5060)
        ch = challenge_of(auth.decide(request(via=via), peer, proxy=False, now=T0))
        assert auth.decide(request(via=via, auth=answer(ch, password="x")), peer, proxy=False,
                           now=T0).status == 403
    via = "SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bKv9;received=198.51.100.9"
    reply = auth.decide(request(via=via), Peer("UDP", "198.51.100.9", 5060), proxy=False, now=T0)
    assert isinstance(reply, Reply) and (reply.status, reply.reason) == (403, "Too Many Failed Attempts")


async def test_check_answers_invite_with_407_over_a_real_socket(directory: Directory) -> None:
    """``check`` sends the reply itself: 407 with a To tag; then the Account comes through."""
    auth = RequestAuthenticator(directory, REALM, is_trusted=lambda h: False, secret=SECRET)
    outcomes: list[object] = []
    server, client = UserAgent(), UserAgent()

    def on_request(incoming: IncomingRequest) -> None:
        who = auth.check(incoming, proxy=True)
        outcomes.append(who)
        if who is not None:
            incoming.respond(486, to_tag="busy")  # a final answer without a dialog to tear down

    server.on_request = on_request
    host, port = await server.listen("UDP", "127.0.0.1", 0)
    await client.listen("UDP", "127.0.0.1", 0)
    state = ClientAuthState("1001", "secret1001")

    async def invite(cseq: int) -> Response:
        headers = [("From", "<sip:1001@127.0.0.1>;tag=a"), ("To", "<sip:1002@127.0.0.1>"),
                   ("Call-ID", "inv-1"), ("CSeq", f"{cseq} INVITE"), ("Max-Forwards", "70"),
                   ("Contact", "<sip:1001@127.0.0.1>"),
                   *state.authorization_headers(method="INVITE", uri="sip:1002@127.0.0.1")]
        done: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def on_response(r: Response) -> None:
            if r.status >= 200 and not done.done():
                done.set_result(r)

        client.send_request(make_request("INVITE", "sip:1002@127.0.0.1", headers), Peer("UDP", host, port),
                            on_response)
        return await asyncio.wait_for(done, 5.0)

    try:
        first = await invite(1)
        assert first.status == 407 and first.to_tag and outcomes == [None]
        assert state.on_challenge(first.headers.get_all("proxy-authenticate"), proxy=True)
        second = await invite(2)
        assert second.status == 486
        account = outcomes[-1]
        assert not isinstance(account, (Reply, str)) and account is not None and account.id == "1001"
    finally:
        server.close()
        client.close()
