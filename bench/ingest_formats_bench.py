"""Ingest speed by format: one 200-page statute as PDF, Word, HTML and plain text.

    .venv/bin/python -m bench.ingest_formats_bench [--pages 200] [--runs 5] [--write PATH]

Builds a long statute from Luật An ninh mạng 2018 (tests/data/statutes),
repeated with its chapters and articles renumbered until its PDF has at least
``--pages`` A4 pages, and writes it with the generators of the ingest tests
(tests/support/source_files.py): a PDF with running headers, page numbers and
hyphenation (reportlab, DejaVu Sans), a Word file with heading styles and automatic
numbering, a thuvienphapluat-style HTML page, and the plain text. Then, for
each format, it times what ``iu-core ingest`` does before it writes to the
database: read the file, find its format, extract the text, autocut it and
compute every piece's source. The database writes that follow are the same
for every format (the same pieces), so they are left out. Each format runs
``--runs`` times after one untimed warm-up; the table gives the median, and
whether the format's tree (kinds, labels, headings, piece texts after
whitespace normalisation) is the plain text's.
Prints a Markdown table; ``--write`` also saves it to a file.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from tests.support import source_files as sf

from iu_core.domain import sources
from iu_core.domain.autocut import autocut

_ARTICLE = re.compile(r"^Điều \d+\.")
_CHAPTER = re.compile(r"^Chương [IVXLC]+")


def _roman(n: int) -> str:
    out = ""
    for value, digits in ((100, "C"), (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"),
                          (4, "IV"), (1, "I")):  # fmt: skip
        while n >= value:
            out, n = out + digits, n - value
    return out


def long_statute(copies: int) -> str:
    """Luật An ninh mạng repeated ``copies`` times, chapters and articles numbered on."""
    lines = sf.statute("vn_luat_an_ninh_mang_2018.txt").splitlines()
    body_from = next(i for i, line in enumerate(lines) if _CHAPTER.match(line))
    out = lines[:body_from]
    article = chapter = 0
    for _ in range(copies):
        for line in lines[body_from:]:
            if _ARTICLE.match(line):
                article += 1
                line = _ARTICLE.sub(f"Điều {article}.", line)
            elif _CHAPTER.match(line):
                chapter += 1
                line = _CHAPTER.sub(f"Chương {_roman(chapter)}", line)
            out.append(line)
    return "\n".join(out) + "\n"


def write_files(folder: Path, pages: int) -> tuple[dict[str, Path], int, int]:
    """The statute in four formats; returns (files, PDF pages, characters)."""
    font = sf.unicode_font()
    if font is None:
        raise SystemExit("no Unicode TTF font (DejaVu Sans) here: apt-get install fonts-dejavu-core")
    copies = 1
    while True:
        text = long_statute(copies)
        layout = sf.write_pdf(
            text, folder / "statute.pdf", font=font, headers=sf.title_headers("Luật An ninh mạng"),
            page=(210, 297), font_size=10,
        )  # fmt: skip
        if layout["pages"] >= pages:
            break
        copies = int(copies * pages / layout["pages"]) + 1
    (folder / "statute.txt").write_text(text, encoding="utf-8")
    sf.write_docx(text, folder / "statute.docx")
    (folder / "statute.html").write_text(sf.thuvienphapluat_html(text, "Luật An ninh mạng"), encoding="utf-8")
    files = {fmt: folder / f"statute.{fmt}" for fmt in ("pdf", "docx", "html", "txt")}
    return files, layout["pages"], len(text)


def tree_of(path: Path) -> list[tuple[int, str, str, str, str]]:
    """(depth, kind, label, heading, text) of every piece, whitespace normalised: to compare formats."""
    out: list[tuple[int, str, str, str, str]] = []
    stack = [(autocut(sources.read_source(path).text), 0)]
    while stack:
        node, depth = stack.pop()
        out.append((depth, node.kind, node.label, sf.normalised(node.heading), sf.normalised(node.text)))
        stack.extend((kid, depth + 1) for kid in reversed(node.children))
    return out


def ingest_work(path: Path) -> int:
    """Read, extract, cut and trace one file, as ``iu-core ingest`` does; returns the piece count."""
    extracted = sources.read_source(path)
    nodes = autocut(extracted.text).walk()
    extracted.sources([n.text for n in nodes])
    return len(nodes)


def measure(path: Path, runs: int) -> tuple[float, int]:
    pieces = ingest_work(path)  # warm-up, untimed
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        ingest_work(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times), pieces


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=200, help="PDF pages of the statute (default 200)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per format (default 5)")
    parser.add_argument("--write", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="iu-ingest-bench-") as tmp:
        files, pages, chars = write_files(Path(tmp), args.pages)
        sizes = {fmt: path.stat().st_size for fmt, path in files.items()}
        reference = tree_of(files["txt"])
        same = {fmt: tree_of(path) == reference for fmt, path in files.items()}
        rows = []
        for fmt, path in files.items():
            seconds, pieces = measure(path, args.runs)
            rows.append((fmt, seconds, pieces))
    lines = [
        f"One statute of {pages} A4 pages ({chars:,} characters of text), median of {args.runs} runs:",
        "",
        "| format | file size | pieces | same tree | seconds per document | documents/s | pages/s |",
        "|---|---:|---:|:---:|---:|---:|---:|",
    ]
    for fmt, seconds, pieces in rows:
        lines.append(
            f"| {fmt} | {sizes[fmt] / 1024:,.0f} KiB | {pieces:,} | {'yes' if same[fmt] else 'NO'} "
            f"| {seconds:.3f} | {1 / seconds:.2f} | {pages / seconds:,.0f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.write:
        args.write.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
