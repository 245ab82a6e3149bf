"""The ``iu-core`` commands a docs page shows, as the tests that run the page read them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def sh_blocks(text: str) -> list[list[list[str]]]:
    """Each ```sh block of ``text``: its ``iu-core`` commands as argument lists (without ``iu-core``).

    Backslash continuations are joined, and a comment after `` #`` is dropped.
    """
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        commands = []
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("iu-core "):
                commands.append(shlex.split(line)[1:])
        blocks.append(commands)
    return blocks


def page_commands(page: str | Path, section: str | None = None) -> list[list[str]]:
    """Every ``iu-core`` command of a docs page (``route-filters.md``), or of one ``## section`` of it."""
    path = page if isinstance(page, Path) else DOCS / page
    text = path.read_text(encoding="utf-8")
    if section is not None:
        text = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return [command for block in sh_blocks(text) for command in block]
