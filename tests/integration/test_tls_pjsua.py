"""SIP over TLS: two pjsua2 phones register and call each other through ``callcontrol serve``
whose only SIP listener is TLS (so every message of the call, both legs, in-dialog BYE
included, went over TLS: there is no other transport to carry it). The certificate is made
by the test; the phones verify it. And the start-up errors of a TLS listener without a
usable certificate, each one line naming the key or the path."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.certs import make_pki
from tests.integration.harness import ROOT, Proc, SoftPhone, free_port, start, start_softphone

pytest.importorskip("pjsua2")

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, sip_port: int, tls_lines: str) -> Path:
    config = tmp_path / "callcontrol.toml"
    config.write_text(f"""
[sip]
listen = ["tls:127.0.0.1:{sip_port}"]
trusted = []
{tls_lines}
[ws]
listen = "127.0.0.1:{free_port()}"
[http]
listen = "127.0.0.1:{free_port()}"
[store]
data_dir = "{tmp_path / 'data'}"
""")
    return config


def _serve_fails(config: Path, *extra: str) -> str:
    out = subprocess.run([sys.executable, "-m", "callcontrol", "serve", "--config", str(config), *extra],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0, out.stdout
    assert "ready" not in out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("callcontrol:")]
    assert len(lines) == 1, out.stderr  # one line saying why
    return lines[0]


def test_call_between_two_phones_over_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    sip_port = free_port()
    config = _config(tmp_path, sip_port, f'tls_cert = "{pki.cert}"\ntls_key = "{pki.key}"')
    server: Proc = start(["callcontrol", "serve", "--config", str(config)], ready="ready", timeout=30)
    phones: list[SoftPhone] = []
    try:
        assert f"SIP TLS listening on 127.0.0.1:{sip_port}" in server.lines
        assert not any(line.startswith(("SIP UDP", "SIP TCP")) for line in server.lines)
        for user in ("1001", "1002"):  # the REGISTER and its digest challenge, over TLS
            phones.append(start_softphone(user, f"secret{user}", sip_port, transport="tls", ca=str(pki.ca)))
        caller, callee = phones

        caller.send(cmd="call", uri=f"sip:1002@127.0.0.1:{sip_port};transport=tls")
        incoming = callee.event("incoming")
        # Leg B arrived from our TLS listener, over the connection 1002 registered on, and names
        # TLS in its Via and Contact, so that 1002's in-dialog requests come back over TLS.
        assert incoming["src"] == f"127.0.0.1:{sip_port}"
        assert incoming["via"].startswith(f"SIP/2.0/TLS 127.0.0.1:{sip_port};"), incoming["via"]
        assert incoming["contact"].endswith(f"@127.0.0.1:{sip_port};transport=tls>"), incoming["contact"]
        assert incoming["from"].startswith("<sip:1001@") or "1001" in incoming["from"]

        caller.event("state", state="CONFIRMED", timeout=15)
        callee.event("state", state="CONFIRMED", timeout=15)
        callee.send(cmd="hangup")  # 1002's BYE goes to the Contact above: TLS to our listener
        callee.event("state", state="DISCONNECTED", timeout=15)
        ended = caller.event("state", state="DISCONNECTED", timeout=15)
        assert ended["code"] == 200, ended  # leg A ended by our BYE, over TLS, answered by 1001
    finally:
        for phone in phones:
            phone.quit()
        assert server.stop() == 0, server.stderr_text()


def test_trunk_over_tls_is_verified_against_tls_ca(tmp_path: Path) -> None:
    """Outbound TLS: the trunk is ``;transport=tls``; the server opens the connection itself and
    checks the trunk's certificate against ``sip.tls_ca`` (the trunk's CA, not the server's)."""
    server_pki, trunk_pki = make_pki(tmp_path / "server"), make_pki(tmp_path / "trunk")
    sip_port, trunk_port = free_port(), free_port()
    config = _config(tmp_path, sip_port, f'tls_cert = "{server_pki.cert}"\ntls_key = "{server_pki.key}"\n'
                                         f'tls_ca = "{trunk_pki.ca}"\n'
                                         f'[trunk]\nuri = "sip:127.0.0.1:{trunk_port};transport=tls"')
    server = start(["callcontrol", "serve", "--config", str(config)], ready="ready", timeout=30)
    phones: list[SoftPhone] = []
    try:
        phones.append(start_softphone("1001", "secret1001", sip_port, transport="tls", ca=str(server_pki.ca)))
        # The "trunk": a phone whose TLS listener on trunk_port shows the trunk's certificate.
        phones.append(start_softphone("1002", "secret1002", sip_port, transport="tls", ca=str(server_pki.ca),
                                      port=trunk_port, cert=str(trunk_pki.cert), key=str(trunk_pki.key)))
        caller, trunk = phones
        caller.send(cmd="call", uri=f"sip:5551234@127.0.0.1:{sip_port};transport=tls")
        incoming = trunk.event("incoming")
        assert incoming["via"].startswith(f"SIP/2.0/TLS 127.0.0.1:{sip_port};"), incoming["via"]
        assert incoming["to"].startswith(f"<sip:5551234@127.0.0.1:{trunk_port};transport=tls>"), incoming["to"]
        assert incoming["src"] != f"127.0.0.1:{sip_port}"  # a connection the server opened, not its listener
        caller.event("state", state="CONFIRMED", timeout=15)
        caller.send(cmd="hangup")
        trunk.event("state", state="DISCONNECTED", timeout=15)
    finally:
        for phone in phones:
            phone.quit()
        assert server.stop() == 0, server.stderr_text()


def test_tls_listener_without_certificate_is_refused(tmp_path: Path) -> None:
    port = free_port()
    config = _config(tmp_path, port, "")
    line = _serve_fails(config)
    assert line == f"callcontrol: {config}: sip.listen tls:127.0.0.1:{port} needs sip.tls_cert (and sip.tls_key)"


def test_missing_certificate_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    line = _serve_fails(_config(tmp_path, free_port(), f'tls_cert = "{missing}"\ntls_key = "{missing}"'))
    assert line == f"callcontrol: sip.tls_cert {missing}: no such file"


def test_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    one, other = make_pki(tmp_path / "one"), make_pki(tmp_path / "other")
    line = _serve_fails(_config(tmp_path, free_port(), f'tls_cert = "{one.cert}"\ntls_key = "{other.key}"'))
    assert line.startswith(f"callcontrol: sip.tls_cert {one.cert} with key {other.key}: not a usable PEM "
                           f"certificate and key"), line


def test_missing_key_file_names_the_path(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    missing = tmp_path / "missing.key"
    line = _serve_fails(_config(tmp_path, free_port(), f'tls_cert = "{pki.cert}"\ntls_key = "{missing}"'))
    assert line == f"callcontrol: sip.tls_key {missing}: no such file"


def test_tls_listener_from_the_command_line(tmp_path: Path) -> None:
    """``--sip-listen tls:HOST:PORT`` takes the certificate from the config file."""
    pki = make_pki(tmp_path / "pki")
    config = _config(tmp_path, free_port(), f'tls_cert = "{pki.cert}"\ntls_key = "{pki.key}"')
    port = free_port()
    server = start(["callcontrol", "serve", "--config", str(config), "--sip-listen", f"tls:127.0.0.1:{port}"],
                   ready="ready", timeout=30)
    try:
        assert f"SIP TLS listening on 127.0.0.1:{port}" in server.lines
    finally:
        assert server.stop() == 0, server.stderr_text()
