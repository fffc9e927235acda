"""The real server, SIPp phones and a SIPp caller, for the API-document, JS-client and console tests.

``console_rig(tmp)`` starts ``callcontrol serve`` on free ports (its config file kept, so a test
can run ``callcontrol api-schema --config`` on it), then ``scripts/demo_phones.py``: SIPp
phones registered as 1001, 1002, 1003 that answer every call, answer re-INVITEs and BYEs.
``rig.call("1002")`` starts a SIPp caller (``sipp_scenarios/console_caller.xml``) from the
trusted loopback address: it stays in the call, answering what the server sends, until
the server's BYE. Everything is stopped at the end, the server checked to exit 0.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.harness import ROOT, SCENARIOS, Proc, free_port, start

PHONES = ("1001", "1002", "1003")
TIMEOUT = 20.0


@dataclass
class ConsoleRig:
    server: Proc
    config: Path
    sip_port: int
    ws_port: int
    http_port: int
    callers: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def call(self, number: str) -> subprocess.Popen[str]:
        """A SIPp caller calling ``number``; it ends when the server hangs up on it."""
        port, media = free_port(), free_port()
        popen = subprocess.Popen(
            ["sipp", f"127.0.0.1:{self.sip_port}", "-sf", str(SCENARIOS / "console_caller.xml"), "-s", number,
             "-i", "127.0.0.1", "-p", str(port), "-mp", str(media), "-m", "1", "-nostdin",
             "-timeout", "120s", "-timeout_error"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.callers.append(popen)
        return popen

    def caller_done(self, popen: subprocess.Popen[str], timeout: float = TIMEOUT) -> int:
        """Wait (bounded) for a caller to finish; its exit code (0: its call went as scripted)."""
        return popen.wait(timeout)


@contextlib.contextmanager
def console_rig(tmp: Path, console: str = "", directory: tuple[tuple[str, ...], ...] = ()) -> Iterator[ConsoleRig]:
    """``console``: lines for the ``[console]`` table of the config; ``directory``: arguments of
    ``callcontrol directory`` commands run on the data directory before the server starts
    (the demo directory is seeded by the first one)."""
    sip, ws, http = free_port(), free_port(), free_port()
    config = tmp / "callcontrol.toml"
    config.write_text(f"""
[sip]
listen = ["udp:127.0.0.1:{sip}", "tcp:127.0.0.1:{sip}"]
trusted = ["127.0.0.1/32"]
[ws]
listen = "127.0.0.1:{ws}"
[http]
listen = "127.0.0.1:{http}"
[store]
data_dir = "{tmp / 'data'}"
[console]
{console}
""")
    for args in directory:
        subprocess.run(["callcontrol", "directory", *args, "--data-dir", str(tmp / "data")], cwd=ROOT, check=True,
                       capture_output=True, timeout=60)
    server = start(["callcontrol", "serve", "--config", str(config)], ready="ready", timeout=30)
    rig = ConsoleRig(server, config, sip, ws, http)
    try:
        ports = [str(free_port()) for _ in PHONES]
        media = [str(free_port()) for _ in PHONES]
        phones = start([sys.executable, str(ROOT / "scripts" / "demo_phones.py"), "--sip", f"127.0.0.1:{sip}",
                        "--numbers", ",".join(PHONES), "--ports", ",".join(ports), "--media-ports", ",".join(media)],
                       ready="ready", timeout=30)
        try:
            yield rig
        finally:
            for caller in rig.callers:
                if caller.poll() is None:
                    caller.kill()
                caller.wait()
            phones.stop()
        assert server.stop() == 0, server.stderr_text()
    finally:
        server.stop()
