"""The import rules of docs/architecture.md, checked on every test run with scripts/check_imports.py's logic.

No import cycles among callcontrol/, sip/ and ivr/ (imports under ``TYPE_CHECKING`` and inside
functions count), and ``sip/`` and ``ivr/`` import nothing of ``callcontrol``.

"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_imports = _load_checker()


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return check_imports.import_graph(ROOT)


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert [check_imports.shortest_cycle(graph, c) for c in check_imports.cycles(graph)] == []


def test_lower_layers_import_nothing_of_callcontrol(graph: dict[str, set[str]]) -> None:
    assert check_imports.layering_violations(graph) == []


def test_graph_covers_the_three_packages(graph: dict[str, set[str]]) -> None:
    assert {"callcontrol.model.callinfo", "sip.message", "ivr.inband"} <= graph.keys()
    assert "callcontrol.directory.model" in graph["callcontrol.model.callinfo"]


def test_checker_finds_a_type_checking_cycle_and_a_layering_violation(tmp_path: Path) -> None:
    """The check can fail: a cycle seen only by type checkers, and ivr/ importing callcontrol."""
    files = {
        "callcontrol/__init__.py": "",
        "callcontrol/a.py": "from callcontrol.b import B\n",
        "callcontrol/b.py": ("from typing import TYPE_CHECKING\n"
                             "if TYPE_CHECKING:\n    from .a import A\n"),
        "sip/__init__.py": "",
        "ivr/__init__.py": "",
        "ivr/x.py": "def f():\n    import callcontrol.a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = check_imports.import_graph(tmp_path)
    assert check_imports.cycles(graph) == [["callcontrol.a", "callcontrol.b"]]
    assert check_imports.layering_violations(graph) == [("ivr.x", "callcontrol.a")]
    assert check_imports.main(["check_imports.py", str(tmp_path)]) == 1
