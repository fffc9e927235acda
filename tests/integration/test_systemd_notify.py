"""`callcontrol serve` under systemd's Type=notify: READY=1 once every listener is up, STOPPING=1 on SIGTERM.

A real unix datagram socket stands in for systemd (which is what systemd listens on):
the server is started as the unit starts it, with NOTIFY_SOCKET naming the socket."""
from __future__ import annotations

import os
import socket

import pytest

from tests.integration.harness import free_port, start

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("namespace", ["path", "abstract"])
def test_ready_after_listeners_and_stopping_on_sigterm(tmp_path, namespace: str) -> None:
    if namespace == "path":
        bind_to = env_value = str(tmp_path / "notify.sock")
    else:
        name = f"callcontrol-notify-{os.getpid()}-{free_port()}"
        bind_to, env_value = "\0" + name, "@" + name
    sip, ws, http = free_port(), free_port(), free_port()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(bind_to)
        systemd.settimeout(15)
        proc = start(["callcontrol", "serve", "--sip-listen", f"127.0.0.1:{sip}",
                      "--ws-listen", f"127.0.0.1:{ws}", "--http-listen", f"127.0.0.1:{http}",
                      "--data-dir", str(tmp_path / "data")],
                     env={"NOTIFY_SOCKET": env_value})
        try:
            ready = systemd.recv(65536).decode().split("\n")
            assert ready[0] == "READY=1"
            assert ready[1].startswith("STATUS=ready: SIP UDP listening on 127.0.0.1:")
            for port in (ws, http):  # READY means bound: each listener takes a connection now
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    pass
        finally:
            status = proc.stop()
        assert status == 0, proc.stderr_text()
        assert systemd.recv(65536).decode().split("\n") == ["STOPPING=1", "STATUS=stopping"]
