"""`callcontrol serve` operating contract: demo credentials never leave loopback; each configuration
mistake is a one-line error and a non-zero exit; a taken port names its listener."""
from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.integration.harness import ROOT, free_port, start

pytestmark = pytest.mark.integration


def test_demo_credentials_refuse_non_loopback_listener(tmp_path) -> None:
    # 0.0.0.0 is not loopback; the seeded demo passwords are in use, so start-up is refused.
    out = subprocess.run(["callcontrol", "serve", "--sip-listen", f"127.0.0.1:{free_port()}",
                          "--ws-listen", f"0.0.0.0:{free_port()}", "--http-listen", f"127.0.0.1:{free_port()}",
                          "--data-dir", str(tmp_path / "data")],
                         check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out
    reasons = [x for x in out.stderr.splitlines() if x.startswith("callcontrol: cannot start:")]
    assert len(reasons) == 1, out.stderr
    assert reasons[0].startswith("callcontrol: cannot start: the demo directory's passwords are still in use")
    assert "0.0.0.0" in reasons[0]
    assert "ready" not in out.stdout


# --------------------------------------------------------------------------- configuration mistakes


def _serve(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["callcontrol", *args], check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def _free_listeners(tmp_path) -> list[str]:
    return ["--sip-listen", f"127.0.0.1:{free_port()}", "--ws-listen", f"127.0.0.1:{free_port()}",
            "--http-listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "data")]


def _one_line_failure(out: subprocess.CompletedProcess[str], status: int) -> str:
    assert out.returncode == status, out
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stdout == "", out.stdout  # no listener line, no "ready"
    # Start-up may have logged (store opened, demo seeded); the reason is the one line of its own.
    lines = [x for x in out.stderr.splitlines() if x.startswith("callcontrol: ")]
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.parametrize(("toml", "expected"), [
    ('[sip]\nlistn = ["udp:127.0.0.1:5060"]', ': sip.listn: unknown key (did you mean sip.listen, list of '
                                            '"udp|tcp|tls:HOST:PORT"?)'),
    ('[media]\nrtp_port = "20000-20100"', ": media.rtp_port: unknown key (did you mean media.rtp_ports"),
    ('[sip]\nt1 = "fast"', ': sip.t1: expected a number, got "fast"'),
    ('[trunk]\nuri = "not a uri"', ': trunk.uri: expected a sip: URI ("sip:HOST[:PORT]"), got "not a uri"'),
])
def test_config_mistake_is_one_line_naming_file_and_key(tmp_path, toml: str, expected: str) -> None:
    config = tmp_path / "callcontrol.toml"
    config.write_text(toml + "\n")
    line = _one_line_failure(_serve(["serve", "--config", str(config), *_free_listeners(tmp_path)]), 2)
    assert line.startswith(f"callcontrol: {config}{expected}"), line


def test_missing_certificate_names_the_path(tmp_path) -> None:
    config = tmp_path / "callcontrol.toml"
    config.write_text(f'[ws]\ncertfile = "{tmp_path}/cert.pem"\n')
    line = _one_line_failure(_serve(["serve", "--config", str(config), *_free_listeners(tmp_path)]), 2)
    assert line == f"callcontrol: ws.certfile {tmp_path}/cert.pem: no such file"


def test_certificate_that_does_not_load_names_the_path(tmp_path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not a certificate\n")
    config = tmp_path / "callcontrol.toml"
    config.write_text(f'[ws]\ncertfile = "{cert}"\n')
    line = _one_line_failure(_serve(["serve", "--config", str(config), *_free_listeners(tmp_path)]), 2)
    assert line == f"callcontrol: ws.certfile {cert}: not a usable PEM certificate and key (PEM lib)"


def test_missing_data_dir_parent_names_the_path(tmp_path) -> None:
    args = _free_listeners(tmp_path)
    args[-1] = str(tmp_path / "nope" / "data")
    line = _one_line_failure(_serve(["serve", *args]), 2)
    assert line == (f"callcontrol: store.data_dir {tmp_path}/nope/data: "
                    f"parent directory {tmp_path}/nope does not exist")


def test_bad_trunk_flag_is_a_start_up_error(tmp_path) -> None:
    line = _one_line_failure(_serve(["serve", "--trunk", "not a uri", *_free_listeners(tmp_path)]), 2)
    assert line.startswith('callcontrol: --trunk: trunk.uri: expected a sip: URI ("sip:HOST[:PORT]"), '
                           'got "not a uri"')


def test_bad_environment_variable_names_it(tmp_path) -> None:
    out = _serve(["serve", *_free_listeners(tmp_path)], env={"CALLCONTROL_SIP__T1": "fast"})
    assert _one_line_failure(out, 2) == ('callcontrol: environment CALLCONTROL_SIP__T1: sip.t1: '
                                         'expected a number, got "fast"')


@pytest.mark.parametrize(("listener", "kind", "flag"), [
    ("WebSocket API", socket.SOCK_STREAM, "--ws-listen"),
    ("HTTP health/metrics", socket.SOCK_STREAM, "--http-listen"),
    ("SIP UDP", socket.SOCK_DGRAM, "--sip-listen"),
])
def test_taken_port_names_the_listener(tmp_path, listener: str, kind: int, flag: str) -> None:
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            taken.listen()
        port = taken.getsockname()[1]
        args = _free_listeners(tmp_path)
        address = f"127.0.0.1:{port}"
        args[args.index(flag) + 1] = f"udp:{address}" if flag == "--sip-listen" else address
        line = _one_line_failure(_serve(["serve", *args]), 1)
    assert line == f"callcontrol: cannot start: {listener} listener 127.0.0.1:{port}: address already in use"


def test_check_config_validates_without_starting(tmp_path) -> None:
    config = tmp_path / "callcontrol.toml"
    ws = free_port()
    config.write_text(f'[ws]\nlisten = "127.0.0.1:{ws}"\n[store]\ndata_dir = "{tmp_path}/data"\n')
    with socket.socket() as taken:  # check-config binds nothing: a taken port is not its business
        taken.bind(("127.0.0.1", ws))
        taken.listen()
        out = _serve(["check-config", "--config", str(config)])
    assert (out.returncode, out.stdout, out.stderr) == (0, f"config OK ({config})\n", "")
    assert not (tmp_path / "data").exists()  # nor opens the store
    config.write_text('[sip]\nlistn = []\n')
    out = _serve(["check-config", "--config", str(config)])
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"callcontrol: {config}: sip.listn: unknown key")
    assert out.stderr.count("\n") == 1


def test_environment_overrides_reach_the_server(tmp_path) -> None:
    ws, http, sip = free_port(), free_port(), free_port()
    proc = start(["callcontrol", "serve"], env={
        "CALLCONTROL_SIP__LISTEN": f"udp:127.0.0.1:{sip}", "CALLCONTROL_WS__LISTEN": f"127.0.0.1:{ws}",
        "CALLCONTROL_HTTP__LISTEN": f"127.0.0.1:{http}",
        "CALLCONTROL_STORE__DATA_DIR": str(tmp_path / "data")})
    try:
        assert proc.lines[:3] == [f"SIP UDP listening on 127.0.0.1:{sip}",
                                  f"WebSocket API on ws://127.0.0.1:{ws}/ws",
                                  f"HTTP health and metrics on http://127.0.0.1:{http}/"]
    finally:
        assert proc.stop() == 0, proc.stderr_text()


def test_first_start_on_a_public_address(tmp_path) -> None:
    # docs/operations.md, "First start on a public address": a real login in an empty store
    # (no demo directory), then the server binds 0.0.0.0.
    data = tmp_path / "data"
    added = subprocess.run(["callcontrol", "directory", "add", "admin", "--login", "ops", "--password-stdin",
                            "--no-demo", "--data-dir", str(data)], input="a-long-secret-1\n", check=False,
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added
    sip, ws, http = free_port(), free_port(), free_port()
    proc = start(["callcontrol", "serve", "--data-dir", str(data)], env={
        "CALLCONTROL_SIP__LISTEN": f"udp:0.0.0.0:{sip}", "CALLCONTROL_MEDIA__HOST": "127.0.0.1",
        "CALLCONTROL_WS__LISTEN": f"0.0.0.0:{ws}", "CALLCONTROL_HTTP__LISTEN": f"0.0.0.0:{http}"})
    try:
        assert proc.lines[:3] == [f"SIP UDP listening on 0.0.0.0:{sip}",
                                  f"WebSocket API on ws://0.0.0.0:{ws}/ws",
                                  f"HTTP health and metrics on http://0.0.0.0:{http}/"]
    finally:
        assert proc.stop() == 0, proc.stderr_text()
