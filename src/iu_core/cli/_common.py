"""What every command shares: the application context, output helpers, shared groups."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
import psycopg
from rich.console import Console
from rich.table import Column, Table

from iu_core import db
from iu_core.errors import IuCoreError
from iu_core.ops.change import Changed
from iu_core.ops.records import Record
from iu_core.ops.times import parse_timestamp
from iu_core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

# Piped output (logs, CI) gets a wide page instead of rich's 80-column default,
# so tables are not cropped; a terminal uses its own width.
_PIPE_WIDTH = None if sys.stdout.isatty() else 160
console = Console(highlight=False, soft_wrap=True, width=_PIPE_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class AppContext:
    """Resolved once per command: where the database is, and a way to reach it."""

    settings: Settings
    # The embedded default database is migrated on first use; `db migrate` and
    # `db sql` (which apply or show the migration themselves) turn this off.
    auto_migrate: bool = True
    _url: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        if self._url is None:
            url = db.resolve_url(self.settings)
            if self.settings.embedded and self.auto_migrate:
                from iu_core.embedded import ensure_migrated

                done = ensure_migrated(url)
                if done:
                    err_console.print(f"{done} ({self.settings.data_dir})", markup=False)
            self._url = url
        return self._url

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        return db.connect(self.url, autocommit=autocommit)

    @contextmanager
    def connection(
        self, *, autocommit: bool = False, migrated: bool = True
    ) -> Iterator[psycopg.Connection[Any]]:
        """A connection; with ``migrated`` (the default) to a database whose schema is
        up to date, else one clear line (``db`` commands pass ``migrated=False``)."""
        conn = self.connect(autocommit=autocommit)
        try:
            if migrated:
                from iu_core.migrations import require_schema

                require_schema(conn)
                if not autocommit:
                    conn.commit()  # the check's snapshot is not the command's
            with conn:
                yield conn
        finally:
            conn.close()


pass_app = click.make_pass_decorator(AppContext)


actor_option = click.option(
    "--actor",
    envvar="IU_CORE_ACTOR",
    show_envvar=True,
    default=None,
    help="Who is recorded as applying the change. Default: the operating-system user.",
)


def _start_tracing(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        from iu_core import tracing

        tracing.start()
        ctx.call_on_close(tracing.flush)


def otel_option(func: F) -> F:
    """``--otel``: trace this command with OpenTelemetry (docs/tracing.md)."""
    return click.option(
        "--otel",
        is_flag=True,
        envvar="IU_CORE_OTEL",
        show_envvar=True,
        expose_value=False,
        callback=_start_tracing,
        help="Trace with OpenTelemetry, exported as the OTEL_* variables say (needs iu-core[otel]).",
    )(func)


def json_option(func: F) -> F:
    """``--json``: print machine-readable output instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def _default(value: Any) -> Any:
    if isinstance(value, Record):
        return value.as_dict()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2, ensure_ascii=False) + "\n")


@contextmanager
def operator_connection(app: AppContext) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to a database whose schema is up to date (else one clear line)."""
    with app.connection(autocommit=True) as conn:
        yield conn


def print_changed(changed: Changed, as_json: bool) -> None:
    """What a mutating command did: its summary line, or the whole result as JSON."""
    if as_json:
        print_json(changed.as_dict())
    else:
        console.print(changed.summary, markup=False)


def wide_table(first: str, *headers: str, first_width: int = 0) -> Table:
    """A table whose first column (a route code, an id) is never cut; the others fold."""
    return Table(
        Column(first, no_wrap=True, min_width=max(first_width, len(first))),
        *(Column(h, overflow="fold") for h in headers),
    )


def _option_name(param: click.Parameter | None, fallback: str) -> str:
    return param.opts[0] if param is not None and param.opts else fallback


class Timestamp(click.ParamType[dt.datetime]):
    """``--since`` and friends: ISO 8601 with ``Z``, an offset or none (UTC), as the tool prints times.

    A time it cannot read is the one ``error:`` line of ``iu_core.ops.times``.
    """

    name = "TIMESTAMP"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return parse_timestamp(str(value), _option_name(param, "time"))


class Bounded(click.ParamType[float]):
    """A number of seconds, hours, ... within bounds; out of them, one ``error:`` line that says which."""

    def __init__(
        self, kind: type[int] | type[float], low: float, high: float, unit: str, *, low_open: bool = False
    ):
        self.kind, self.low, self.high, self.unit, self.low_open = kind, low, high, unit, low_open
        self.name = "INTEGER" if kind is int else "NUMBER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        name = _option_name(param, "value")
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            raise IuCoreError(f"{name}: {value!r} is not a number of {self.unit}") from None
        if number != number or number in (float("inf"), float("-inf")):  # NaN, infinity
            raise IuCoreError(f"{name}: {value!r} is not a number of {self.unit}")
        too_low = number <= self.low if self.low_open else number < self.low
        if too_low or number > self.high:
            side = "above" if self.low_open else "at least"
            bounds = f"{side} {self.low:g}, at most {self.high:g} {self.unit}"
            raise IuCoreError(f"{name}: {value} {self.unit} is out of range ({bounds})")
        return number


TIMESTAMP = Timestamp()
