"""The README is a user's guide: short, its two set-up commands first, and every doc it links exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 250
_CODE_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_DOC_LINK = re.compile(r"\]\((docs/[^)#\s]+\.md)(?:#[^)\s]*)?\)")


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def test_readme_is_under_the_line_limit() -> None:
    lines = _readme().splitlines()
    assert len(lines) < MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_first_code_block_holds_the_two_commands() -> None:
    first = _CODE_BLOCK.search(_readme())
    assert first is not None, "README.md has no code block"
    commands = [line for line in first.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) == 2, commands
    quickstart, tests = commands
    assert "mmsr quickstart" in quickstart
    assert 'pytest -m "not slow"' in tests


def test_first_code_block_comes_before_any_section() -> None:
    text = _readme()
    first = _CODE_BLOCK.search(text)
    assert first is not None
    assert "\n## " not in text[: first.start()], "the two commands must come before the first section"


def test_every_linked_doc_exists() -> None:
    links = _DOC_LINK.findall(_readme())
    assert links, "README.md links no docs/*.md"
    missing = sorted({link for link in links if not (ROOT / link).is_file()})
    assert not missing, f"README.md links missing docs: {missing}"


def test_doc_link_pattern_reads_anchors_and_plain_links() -> None:
    text = "[a](docs/x.md) [b](docs/y.md#part) [c](docs/z.png) [d](https://e/docs/w.md)"
    assert _DOC_LINK.findall(text) == ["docs/x.md", "docs/y.md"]
