"""``iu-core vector reindex | status | install`` and ``iu-core search``: the vector index."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from iu_core import vector
from iu_core.cli._common import AppContext, console, err_console, json_option, pass_app, print_json
from iu_core.errors import IuCoreError
from iu_core.sqlfiles import read_sql
from iu_core.vector.language import Language
from iu_core.vector.registry import EMBEDDER_ENV

embedder_option = click.option(
    "--embedder",
    "embedder_name",
    type=click.Choice(vector.embedder_names()),
    envvar=EMBEDDER_ENV,
    show_envvar=True,
    default=None,
    help="Embedder that writes the vectors. Default: e5 (multilingual-e5-small, int8, bundled).",
)


@click.group("vector")
def vector_group() -> None:
    """The vector index: collections of embedded pieces (pgvector)."""


@vector_group.command("reindex")
@click.argument("collection")
@click.option("--iu", "iu_code", default=None, help="Only this information unit (by code).")
@embedder_option
@json_option
@pass_app
def reindex_cmd(
    app: AppContext, collection: str, iu_code: str | None, embedder_name: str | None, as_json: bool
) -> None:
    """Build or rebuild COLLECTION from the current piece trees (unchanged pieces are kept)."""
    embedder = vector.get_embedder(embedder_name)
    progress = Progress(
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pieces"),
        TimeElapsedColumn(),
        console=err_console,
        disable=as_json,
        transient=False,
    )
    task = progress.add_task("reindex", total=None)

    def on_total(pieces: int) -> None:  # the bar appears once the work is known to be valid
        progress.update(task, total=pieces)
        progress.start()

    try:
        with app.connection(autocommit=True) as conn:
            result = vector.reindex(
                conn,
                collection,
                embedder,
                iu_code=iu_code,
                on_total=on_total,
                on_progress=lambda n: progress.advance(task, n),
            )
    finally:
        progress.stop()
    if as_json:
        print_json(result.as_dict())
        return
    console.print(
        f"{escape(collection)}: {result.units} information units, {result.embedded} pieces embedded, "
        f"{result.unchanged} unchanged, {result.removed} removed (model {escape(result.model)})"
    )


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@vector_group.command("status")
@json_option
@pass_app
def status_cmd(app: AppContext, as_json: bool) -> None:
    """Per collection: pieces, stale pieces, model, dims, index size."""
    with app.connection() as conn:
        rows = vector.collection_status(conn)
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    if not rows:
        console.print("no collection yet (iu-core vector reindex COLLECTION, or a live vector route)")
        return
    table = Table("collection", "pieces", "stale", "model", "dims", "index size (all collections)")
    for r in rows:
        model = f"{r.model} {r.model_version}"
        if r.other_models:
            model += f" (+ {', '.join(r.other_models)})"
        table.add_row(
            escape(r.collection),
            str(r.pieces),
            str(r.stale),
            escape(model),
            str(r.dims),
            _size(r.index_bytes),
        )
    console.print(table)


@vector_group.command("install")
@pass_app
def install_cmd(app: AppContext) -> None:
    """Create the vector index in this database (for a server that got pgvector after `db migrate`)."""
    with app.connection(autocommit=True) as conn:
        if not vector.vector_available(conn):
            raise IuCoreError("pgvector is not available on this server (install the extension first)")
        with conn.transaction():
            conn.execute(read_sql("sql/migrations/010_vector.sql").encode("utf-8"))
        ready = vector.vector_ready(conn)
    if not ready:
        raise IuCoreError(vector.NOT_INSTALLED)
    console.print("vector index ready")


@click.command("search")
@click.argument("query")
@click.option("--collection", default=None, help="Search this collection only. Default: every collection.")
@click.option("--iu", "iu_code", default=None, help="Only pieces of this information unit (by code).")
@click.option(
    "--lang",
    type=click.Choice([*(lang.value for lang in Language), "any"]),
    default=None,
    help="Rank pieces of this language; any: every language, scores made comparable. "
    "Default: the language of QUERY (detected).",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--embedder",
    "embedder_name",
    type=click.Choice(vector.embedder_names()),
    default=None,
    help="Embed QUERY with this embedder. Default: the one that wrote the collection's vectors.",
)
@json_option
@pass_app
def search_cmd(
    app: AppContext,
    query: str,
    collection: str | None,
    iu_code: str | None,
    lang: str | None,
    limit: int,
    embedder_name: str | None,
    as_json: bool,
) -> None:
    """Find the pieces that answer QUERY: score, IU code, piece and heading path, snippet."""
    # The function itself, not ``vector.search``: once the submodule of that name is imported,
    # the package attribute is the module.
    from iu_core.vector.search import search as search_pieces

    embedder = vector.get_embedder(embedder_name) if embedder_name else None
    with app.connection() as conn:
        result = search_pieces(
            conn,
            query,
            collection=collection,
            iu_code=iu_code,
            language=(lang if lang == "any" else Language(lang)) if lang else None,
            limit=limit,
            embedder=embedder,
        )
    if as_json:
        print_json(result.as_dict())
        return
    if result.searched_as:
        console.print(f"searched as: {escape(result.searched_as)}")
    if not result.hits:
        console.print(f"no {result.language} piece found")
        return
    table = Table("score", "IU", "piece", "snippet", title=f"{result.language} · {result.model}")
    for hit in result.hits:
        table.add_row(f"{hit.score:.3f}", escape(hit.code), escape(hit.heading_path), escape(hit.snippet))
    console.print(table)


COMMANDS: list[click.Command] = [vector_group, search_cmd]
