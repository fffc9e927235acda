"""``mypy --strict`` on a use of the Python client (tests/typing/client_usage.py): the typed results
and notifications check, and the deliberate mistakes in it are reported (``--warn-unused-ignores``).
mypy comes with the test extra."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.harness import ROOT

pytestmark = pytest.mark.integration


def test_a_use_of_the_client_type_checks() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--warn-unused-ignores",
                          "--no-incremental", "--cache-dir=/dev/null", "tests/typing/client_usage.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
