"""The web attendant console in headless Chromium (Debian's ``chromium``, driven by Playwright).

The real server and SIPp phones (tests/integration/console_rig.py); Chromium loads
``/console/`` from the server, logs in as demo-corp and watches i_customer 1. A SIPp caller
calls 1002: the leg appears on 1002's row within 1 s of the ringing notification (a plain
websockets client watching the same customer says when that was), goes connected; the Hold
button makes it holding (and the caller's row held); Hang up clears the row and the caller's
SIPp ends cleanly. The session id is in memory only (no cookie, no web storage; a reload is
logged out). A page served from another origin cannot open the API (the upgrade is refused
with 403). Every wait is one of Playwright's bounded waits on a DOM state, or a bounded read.

Chromium runs as root here, hence --no-sandbox; it gets a fresh profile directory. Set
``CONSOLE_SCREENSHOT=docs/console.png`` to write the README's screenshot of the board. A call
to a ring group (600, made with ``callcontrol directory`` before the server starts) shows
its hunt group on the member's leg.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.integration.console_rig import TIMEOUT, ConsoleRig, console_rig
from tests.integration.harness import ROOT

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = int(TIMEOUT * 1000)
RINGING_TO_ROW_MS = 1000


RING_GROUP = ("add", "ringgroup", "--customer", "1", "--number", "600", "--name", "Sales", "--members", "1002")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleRig]:
    with console_rig(tmp_path_factory.mktemp("console"), directory=(RING_GROUP,)) as rig:
        yield rig


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    assert shutil.which(CHROMIUM), "Debian's chromium is not installed (scripts/run-tests installs it)"
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 720}, timeout=WAIT_MS)
        context.set_default_timeout(WAIT_MS)
        try:
            yield context
        finally:
            context.close()


class Monitor:
    """A websockets client subscribed to customer 1: when did the server announce a state?"""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._send({"cseq": 1, "service": "Session", "method": "login",
                    "params": {"login": "demo-corp", "password": "demo-corp-pass"}})
        sid = self._answer(1)["result"]["session_id"]
        self._send({"cseq": 2, "auth_info": {"session_id": sid}, "service": "CallControl",
                    "method": "enable_api_notifications",
                    "params": {"event": "sip.call_control_notifications", "i_customer": 1}})
        self._answer(2)

    def _send(self, msg: dict[str, Any]) -> None:
        self.ws.send(orjson.dumps(msg).decode())

    def _answer(self, cseq: int) -> dict[str, Any]:
        while True:
            frame = orjson.loads(self.ws.recv(timeout=TIMEOUT))
            if frame.get("cseq") == cseq:
                assert frame["success"] == 1, frame
                return frame

    def until(self, callee: str, state: str) -> None:
        """Read (bounded) until a leg of phone ``callee`` (an incoming leg's callee) is in ``state``."""
        while True:
            frame = orjson.loads(self.ws.recv(timeout=TIMEOUT))
            info = frame.get("result", {}).get("call_info", {})
            if info.get("type") == "incoming" and info["callee"]["id"] == callee and info["state"] == state:
                return



def log_in(page: Any, rig: ConsoleRig) -> None:
    from playwright.sync_api import expect

    page.goto(f"{rig.http_url}/console/")
    page.fill("#login", "demo-corp")
    page.fill("#password", "demo-corp-pass")
    page.click("#login-button")
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    expect(page.locator("#status")).to_have_text("online")


def test_a_call_on_the_board_hold_and_hang_up(rig: ConsoleRig, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, rig)
    expect(page.locator("#board-empty")).to_be_visible()
    with connect(rig.ws_url, open_timeout=TIMEOUT) as ws:
        monitor = Monitor(ws)
        caller = rig.call("1002")
        monitor.until("1002", "ringing")
        row = page.locator('#board tbody[data-ext="1002"] tr.leg')
        expect(row).to_have_count(1, timeout=RINGING_TO_ROW_MS)
        expect(row.locator(".state")).to_have_text("connected")
        expect(row.locator(".peer-name")).to_have_text("sipp")
        expect(row.locator(".via")).to_have_text("")
        external = page.locator('#board tbody[data-ext="sipp"] tr.leg .state')
        expect(external).to_have_text("connected")
        expect(page.locator('#board tbody[data-ext="1002"] .ext-info')).to_have_text("1 call")
        expect(row.locator(".duration")).to_have_text(re.compile(r"^\d+:\d\d$"))
        if os.environ.get("CONSOLE_SCREENSHOT"):
            box = page.locator("main").bounding_box()
            assert box is not None
            page.screenshot(path=str(ROOT / os.environ["CONSOLE_SCREENSHOT"]),
                            clip={"x": 0, "y": 0, "width": 1280, "height": box["y"] + box["height"]})

        row.locator("button.hold").click()
        expect(row.locator(".state")).to_have_text("holding")
        expect(external).to_have_text("held")
        expect(row.locator("button.unhold")).to_be_visible()
        expect(row.locator("button.hold")).to_be_hidden()

        row.locator("button.hangup").click()
        expect(row).to_have_count(0)
        expect(page.locator('#board tbody[data-ext="sipp"] tr.leg')).to_have_count(0)
        expect(page.locator('#board tbody[data-ext="1002"] .ext-info')).to_have_text("idle")
        assert rig.caller_done(caller) == 0, caller.stderr.read() if caller.stderr else ""
        log = page.locator("#log").inner_text()
        for line in ("→ hold 1002", "1002 holding with sipp", "→ hang up 1002", "1002 terminated with sipp"):
            assert line in log, log
    assert errors == []


def test_a_ring_group_call_says_so(rig: ConsoleRig, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    log_in(page, rig)
    caller = rig.call("600")  # ring group "Sales": 1002 (docs/pbx.md)
    row = page.locator('#board tbody[data-ext="1002"] tr.leg')
    expect(row.locator(".state")).to_have_text("connected")
    expect(row.locator(".via")).to_have_text("hunt group 600")
    external = page.locator('#board tbody[data-ext="sipp"] tr.leg')
    expect(external.locator(".peer-name")).to_have_text("600")
    row.locator("button.hangup").click()
    expect(row).to_have_count(0)
    expect(external).to_have_count(0)
    assert rig.caller_done(caller) == 0, caller.stderr.read() if caller.stderr else ""


def test_the_session_is_in_memory_only(rig: ConsoleRig, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    log_in(page, rig)
    stored = page.evaluate("() => [localStorage.length, sessionStorage.length, document.cookie]")
    assert stored == [0, 0, ""]
    assert browser.cookies() == []
    page.reload()
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#board-view")).to_be_hidden()


CROSS_ORIGIN_PAGE = """<!doctype html><title>waiting</title><script>
const ws = new WebSocket(%s);
ws.onopen = () => {
  ws.send(JSON.stringify({cseq: 1, service: "Session", method: "login",
                          params: {login: "demo-corp", password: "demo-corp-pass"}}));
};
ws.onmessage = (ev) => { document.title = "answered " + ev.data; };
ws.onclose = (ev) => { if (!document.title.startsWith("answered")) document.title = "refused " + ev.code; };
</script>"""


def test_a_page_on_another_origin_cannot_open_the_api(rig: ConsoleRig, browser: Any) -> None:
    from playwright.sync_api import expect

    body = (CROSS_ORIGIN_PAGE % orjson.dumps(rig.ws_url).decode()).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{other.server_address[1]}/")
        expect(page).to_have_title(re.compile(r"^(refused|answered)"))
        assert page.title() == "refused 1006", page.title()
        rig.server.wait_for_log("403", timeout=TIMEOUT)  # websockets: the upgrade was rejected
    finally:
        other.shutdown()
        other.server_close()

