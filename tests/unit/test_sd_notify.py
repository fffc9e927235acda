"""sd_notify: one datagram to $NOTIFY_SOCKET (a path or an abstract "@name"), nothing without it."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from callcontrol.ops.sd_notify import notify, notify_address


def receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def test_path_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with receiver(path) as sock:
        assert notify("READY=1", "STATUS=up", environ={"NOTIFY_SOCKET": path})
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_abstract_socket() -> None:
    name = f"callcontrol-test-{os.getpid()}"
    with receiver("\0" + name) as sock:
        assert notify_address({"NOTIFY_SOCKET": "@" + name}) == "\0" + name
        assert notify("STOPPING=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"STOPPING=1"


@pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "vsock:2:1234"}])
def test_nothing_to_notify(env: dict) -> None:
    assert notify("READY=1", environ=env) is False


def test_nobody_listening_is_not_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False
    assert "cannot notify systemd" in caplog.text
