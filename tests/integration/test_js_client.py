"""The JavaScript client's own tests (tests/js/client.test.mjs) under Node, against the real server.

This starts what they need (tests/integration/console_rig.py: ``callcontrol serve``, SIPp phones
1001-1003) and runs ``node --test`` on them: login and cseq matching, a method for every API
method (checked against the served AsyncAPI document) reaching the server with valid params,
a SIPp call's notifications (event emitter and async iterator), hold, a connection cut and
``Session.resume`` replaying what was missed, terminate; and ``tsc --strict`` on a use of the
TypeScript declarations. ``ws`` and ``typescript`` come from npm (tests/js/package.json);
scripts/run-tests runs ``npm ci`` in tests/js when they are missing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.console_rig import console_rig
from tests.integration.harness import ROOT

pytestmark = pytest.mark.integration

JS_TESTS = ROOT / "tests" / "js"


def test_js_client_under_node(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed (Node 20 or later runs tests/js)"
    assert (JS_TESTS / "node_modules" / "ws").is_dir(), \
        "tests/js/node_modules is missing: run `npm ci --prefix tests/js` (scripts/run-tests does)"
    with console_rig(tmp_path) as rig:
        env = {**os.environ, "CC_WS_URL": rig.ws_url, "CC_HTTP_URL": rig.http_url,
               "CC_SIP_PORT": str(rig.sip_port), "CC_ROOT": str(ROOT)}
        out = subprocess.run([node, "--test", "--test-reporter=spec", str(JS_TESTS / "client.test.mjs")], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    summary = {line.split()[1]: line.split()[2] for line in out.stdout.splitlines() if line.startswith("ℹ ")}
    assert (summary.get("pass"), summary.get("fail")) == ("4", "0"), out.stdout[-3000:]
