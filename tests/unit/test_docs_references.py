"""What the code and docs cite is in the repository: every docs/ file named exists, SPEC "X" and
DESIGN "X" are sections of docs/spec.md and docs/design.md, a quoted section of a docs/ page is
one of its headings, and nothing points at design notes outside the repository."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "__pycache__", "build", "callcontrol-data", ".hypothesis", ".pytest_cache"}
NAMES = {"Dockerfile", "run-tests"}
SUFFIXES = {".py", ".md", ".toml", ".service", ".xml"}


def sources() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts[:-1]):
            continue
        if path.is_file() and (path.suffix in SUFFIXES or path.name in NAMES):
            out.append(path)
    assert len(out) > 50
    return out


def cites(pattern: str) -> list[tuple[str, re.Match[str]]]:
    regex = re.compile(pattern)
    found = []
    for path in sources():
        text = path.read_text(errors="replace")
        found += [(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}", m)
                  for m in regex.finditer(text)]
    return found


def headings(doc: str) -> set[str]:
    """The page's headings and its bold paragraph labels (**Hold outcome** ...)."""
    text = (ROOT / "docs" / doc).read_text()
    return ({words(line) for line in text.splitlines() if line.startswith("#")}
            | {words(label) for label in re.findall(r"\*\*([^*]+)\*\*", text)})


def words(text: str) -> str:
    """A quote that wraps across comment or docstring lines, as one line of lower-case words."""
    return " ".join(text.replace("#", " ").split()).lower()


def test_every_docs_file_named_exists() -> None:
    missing = [f"{where}: {m.group(0)}" for where, m in cites(r"\bdocs/([\w.-]+\.md)")
               if not (ROOT / "docs" / m.group(1)).is_file()]
    assert missing == []


def test_nothing_points_outside_the_repository() -> None:
    outside = [f"{where}: {m.group(0)}" for where, m in cites(r"\b(SPEC|DESIGN|PEERS)\.md\b|/work/shared")
               if not where.startswith("tests/unit/test_docs_references.py")]
    assert outside == []


def test_spec_and_design_sections_exist() -> None:
    docs = {"SPEC": (ROOT / "docs" / "spec.md").read_text().lower(),
            "DESIGN": (ROOT / "docs" / "design.md").read_text().lower()}
    missing = [f"{where}: {m.group(0)}" for where, m in cites(r"\b(SPEC|DESIGN) \"([^\"]+)\"")
               if words(m.group(2)) not in words(docs[m.group(1)])]
    missing += [f"{where}: {m.group(0)}" for where, m in cites(r"\bSPEC's ([A-Z]\w+)")
                if m.group(1).lower() not in docs["SPEC"]]
    assert missing == []


def test_quoted_sections_of_docs_pages_are_headings() -> None:
    missing = [f"{where}: {m.group(0)}" for where, m in cites(r"\bdocs/([\w.-]+\.md),? \(?\"([^\"]+)\"")
               if (ROOT / "docs" / m.group(1)).is_file()
               and not any(h.startswith(words(m.group(2))) for h in headings(m.group(1)))]
    assert missing == []
