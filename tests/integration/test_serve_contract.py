"""`callcontrol serve` operating contract: demo credentials never leave loopback."""
from __future__ import annotations

import subprocess

import pytest

from tests.integration.harness import ROOT, free_port

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
