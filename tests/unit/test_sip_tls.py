"""SIP over TLS in the stack: contexts from files (errors name the file), a TLS listener, a
request over a verified TLS connection and its response, a peer whose certificate is not
trusted or names another host (transport error, nothing sent in clear)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callcontrol.b2b.sides import local_contact
from sip import tls
from sip.message import make_request
from sip.peer import Peer
from sip.ua import IncomingRequest, UserAgent
from tests.certs import make_pki


def test_server_context_missing_cert_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(tls.TlsSetupError, match=rf"sip.tls_cert {tmp_path}/nope.pem: No such file"):
        tls.server_context(tmp_path / "nope.pem", tmp_path / "nope.key")


def test_server_context_missing_key_names_the_path(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with pytest.raises(tls.TlsSetupError, match=rf"sip.tls_key {tmp_path}/gone.key: No such file"):
        tls.server_context(pki.cert, tmp_path / "gone.key")


def test_server_context_key_of_another_cert_is_refused(tmp_path: Path) -> None:
    one, other = make_pki(tmp_path / "one"), make_pki(tmp_path / "other")
    with pytest.raises(tls.TlsSetupError, match="not a matching PEM certificate and key"):
        tls.server_context(one.cert, other.key)


def test_client_context_bad_ca_names_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(tls.TlsSetupError, match=rf"sip.tls_ca {bad}: not a PEM CA bundle"):
        tls.client_context(bad)


def test_contact_names_the_tls_transport() -> None:
    ua = UserAgent()
    ua.core.local_addresses.update({"UDP": ("127.0.0.1", 5060), "TLS": ("127.0.0.1", 5061)})
    assert local_contact(ua, "TLS", "1001") == "<sip:1001@127.0.0.1:5061;transport=tls>"
    assert local_contact(ua, "UDP", "1001") == "<sip:1001@127.0.0.1:5060>"


def _options(to_port: int) -> object:
    return make_request("OPTIONS", f"sip:127.0.0.1:{to_port};transport=tls", [
        ("From", "<sip:client@127.0.0.1>;tag=t1"), ("To", f"<sip:127.0.0.1:{to_port}>"),
        ("Call-ID", "tls-options-1"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")])


async def _pair(tmp_path: Path, *, client_ca: Path | None, **pki_opts: object) -> tuple[UserAgent, UserAgent,
                                                                                          list[IncomingRequest]]:
    pki = make_pki(tmp_path / "server", **pki_opts)  # type: ignore[arg-type]
    seen: list[IncomingRequest] = []

    def on_request(incoming: IncomingRequest) -> None:
        seen.append(incoming)
        incoming.respond(200)

    server = UserAgent(on_request=on_request)
    await server.listen("TLS", "127.0.0.1", 0, ssl=tls.server_context(pki.cert, pki.key))
    client_pki = make_pki(tmp_path / "client")
    client = UserAgent()
    await client.listen("TLS", "127.0.0.1", 0, ssl=tls.server_context(client_pki.cert, client_pki.key),
                        client_ssl=tls.client_context(client_ca if client_ca else pki.ca))
    return server, client, seen


async def _send(client: UserAgent, peer: Peer) -> tuple[str, object]:
    done: asyncio.Future[tuple[str, object]] = asyncio.get_running_loop().create_future()
    client.send_request(_options(peer.port), peer,
                        on_response=lambda r: done.done() or done.set_result(("response", r)),
                        on_failure=lambda why: done.done() or done.set_result(("failure", why)))
    return await asyncio.wait_for(done, 10)


async def test_request_and_response_over_verified_tls(tmp_path: Path) -> None:
    server, client, seen = await _pair(tmp_path, client_ca=None)
    try:
        port = server.local_address("TLS")[1]
        kind, resp = await _send(client, Peer("TLS", "127.0.0.1", port))
        assert kind == "response" and resp.status == 200  # type: ignore[attr-defined]
        (incoming,) = seen
        assert incoming.source.transport == "TLS"
        via = incoming.request.top_via
        assert via.transport == "TLS" and via.sent_by[1] == client.local_address("TLS")[1]
    finally:
        client.close()
        server.close()


async def test_certificate_checked_against_the_uri_host_not_the_address(tmp_path: Path) -> None:
    """RFC 5922: a peer found through DNS must prove the domain we were asked for."""
    server, client, seen = await _pair(tmp_path, client_ca=None, names=("trunk.test",), ips=())
    try:
        port = server.local_address("TLS")[1]
        kind, resp = await _send(client, Peer("TLS", "127.0.0.1", port, tls_name="trunk.test"))
        assert kind == "response" and resp.status == 200  # type: ignore[attr-defined]
        assert len(seen) == 1
    finally:
        client.close()
        server.close()


async def test_certificate_of_another_name_is_a_transport_error(tmp_path: Path) -> None:
    server, client, seen = await _pair(tmp_path, client_ca=None, names=("trunk.test",), ips=())
    try:
        port = server.local_address("TLS")[1]
        kind, why = await _send(client, Peer("TLS", "127.0.0.1", port, tls_name="other.test"))
        assert (kind, why) == ("failure", "transport error")
        kind, why = await _send(client, Peer("TLS", "127.0.0.1", port))  # the address is not in it either
        assert (kind, why) == ("failure", "transport error")
        assert seen == []
    finally:
        client.close()
        server.close()


async def test_untrusted_certificate_is_a_transport_error(tmp_path: Path) -> None:
    stranger = make_pki(tmp_path / "stranger")
    server, client, seen = await _pair(tmp_path, client_ca=stranger.ca)
    try:
        port = server.local_address("TLS")[1]
        kind, why = await _send(client, Peer("TLS", "127.0.0.1", port))
        assert (kind, why) == ("failure", "transport error")
        assert seen == []
    finally:
        client.close()
        server.close()
