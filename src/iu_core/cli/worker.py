"""CLI commands (to be filled)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
