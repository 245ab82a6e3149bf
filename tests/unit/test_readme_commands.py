"""Every `iu-core` command README and the docs pages show exists, with every option it shows.

The shell blocks of README.md and docs/*.md are read line by line; each `iu-core …` invocation is
resolved through the real command tree, and each `--option` it uses must be
an option of that command (or of `iu-core` itself). Whole stories of README
are also run literally against a database by the e2e tests
(tests/e2e/test_readme_stories.py).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from iu_core.cli import cli

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _shell_lines() -> list[str]:
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    lines: list[str] = []
    for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, flags=re.DOTALL):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip().removeprefix("$ ")
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _invocations() -> list[list[str]]:
    found: list[list[str]] = []
    for line in _shell_lines():
        for part in re.split(r"&&|\|\s*(?=\.venv/bin/iu-core|iu-core)|;", line):
            words = part.replace("[", " ").replace("]", " ").replace("…", " ").split()
            for i, word in enumerate(words):
                if word.endswith("iu-core") and (word == "iu-core" or word.endswith("/iu-core")):
                    found.append(words[i + 1 :])
                    break
    return found


def _options(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


INVOCATIONS = _invocations()


def test_readme_shows_commands() -> None:
    assert len(INVOCATIONS) > 60


@pytest.mark.parametrize("words", INVOCATIONS, ids=[" ".join(w)[:60] for w in INVOCATIONS])
def test_every_readme_command_and_option_exists(words: list[str]) -> None:
    command: click.Command = cli
    allowed = set(_options(cli))
    rest = list(words)
    # Options of `iu-core` itself come first (--actor, --database-url, --data-dir).
    while rest and rest[0].startswith("--") and rest[0] in allowed:
        rest = rest[2:]
    path = []
    while rest and isinstance(command, click.Group) and rest[0] in command.commands:
        command = command.commands[rest[0]]
        path.append(rest.pop(0))
    assert path, f"no such command: iu-core {' '.join(words)}"
    allowed |= _options(command)
    for word in rest:
        if word.startswith("--"):
            option = word.split("=", 1)[0]
            assert option in allowed, f"iu-core {' '.join(path)} has no option {option}"
    shlex.join(words)  # printable as a command line
