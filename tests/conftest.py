"""What every test process shares.

Each process a test starts (``callcontrol serve``, the ``callcontrol`` commands, the phone
scripts) must run this checkout's code. The ``callcontrol`` console script of an editable
install imports whichever checkout ran ``pip install -e`` last, which on a machine with
several worktrees need not be this one; putting this tree first on ``PYTHONPATH`` (inherited
by every subprocess) makes the console script import it whatever the install points at.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
