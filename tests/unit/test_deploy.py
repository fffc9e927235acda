"""deploy/: the systemd unit starts the server the way the CLI takes it, as Type=notify; the Dockerfile
installs what the package needs and runs as a non-root user."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from callcontrol.__main__ import _build_parser

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "callcontrol.service"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_is_type_notify_and_runs_serve() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["User"] == ["callcontrol"] and s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    start = shlex.split(s["ExecStart"][0])
    assert start[0] == "/opt/callcontrol/bin/callcontrol" and start[1] == "serve"
    args = _build_parser().parse_args(start[1:])  # the flags exist and parse
    assert (str(args.config), args.data_dir) == ("/etc/callcontrol/callcontrol.toml", "/var/lib/callcontrol")
    check = shlex.split(s["ExecStartPre"][0])
    assert check[1] == "check-config" and check[2:] == start[2:]  # checks exactly what serve will run
    assert "/var/lib/callcontrol" == "/var/lib/" + s["StateDirectory"][0]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None or shutil.which("callcontrol") is None,
                    reason="systemd-analyze or the callcontrol command is not installed")
def test_unit_verifies(tmp_path: Path) -> None:
    # systemd-analyze verify wants the ExecStart binary to exist: point it at the installed one.
    unit = tmp_path / "callcontrol.service"
    unit.write_text(UNIT.read_text().replace("/opt/callcontrol/bin/callcontrol", shutil.which("callcontrol")))
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_dockerfile_runs_serve_as_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(f == "python:3.11-slim-bookworm" for f in froms)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["callcontrol"]' in text and 'CMD ["serve"]' in text
    for copied in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (ROOT / copied).exists(), f"Dockerfile copies {copied}, which is not in the repository"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "callcontrol-data"} <= set(ignored)
