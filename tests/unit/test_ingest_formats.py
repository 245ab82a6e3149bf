"""Word, HTML and PDF statutes cut like their plain text: same tree, every piece traced to its source.

The files are written by tests/support/source_files.py from the statutes in
tests/data/statutes (python-docx with heading styles and automatic numbering,
the page layouts of legislation.gov.uk and thuvienphapluat, reportlab with running
headers, page numbers and hyphenation), nothing is downloaded.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from iu_core.domain import sources
from iu_core.domain.autocut import CutNode, autocut, join_text
from iu_core.domain.eid import assign
from iu_core.errors import IuCoreError
from tests.support import source_files as sf

FONT = sf.unicode_font()
needs_font = pytest.mark.skipif(
    FONT is None, reason="no Unicode TTF font (DejaVu, Noto, Liberation) on this machine"
)
WIDE_PAGE = (210.0, 120.0)  # mm: a statute's headings fit on one line, and there are many pages


def _signature(root: CutNode) -> list[tuple[int, str, str, str, str, str]]:
    """Each piece, in tree order: depth, kind, label, eid, heading and text (whitespace normalised)."""
    nodes = {id(n): n for n in root.walk()}
    eids = assign(
        id(root),
        lambda k: [id(c) for c in nodes[k].children],
        lambda k: nodes[k].kind,
        lambda k: nodes[k].label,
    )
    out: list[tuple[int, str, str, str, str, str]] = []
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        heading, text = sf.normalised(node.heading), sf.normalised(node.text)
        out.append((depth, node.kind, node.label, eids[id(node)], heading, text))
        stack.extend((kid, depth + 1) for kid in reversed(node.children))
    return out


def _one_paragraph_a_line(text: str) -> str:
    """A plain-text export of the statute: one paragraph a line (as Word or a web page gives it)."""
    return "\n".join(p.text for p in sf.paragraphs(text)) + "\n"


def _write_all(text: str, folder: Path, *, vietnamese: bool) -> dict[str, Path]:
    assert FONT is not None
    files = {
        "txt": folder / "statute.txt",
        "docx": folder / "statute.docx",
        "html-legislation.gov.uk": folder / "legislation.html",
        "html-thuvienphapluat": folder / "thuvienphapluat.htm",
        "pdf": folder / "statute.pdf",
    }
    files["txt"].write_text(text, encoding="utf-8")
    sf.write_docx(text, files["docx"], nfd=vietnamese)
    files["html-legislation.gov.uk"].write_text(sf.legislation_gov_uk_html(text, "Statute"), encoding="utf-8")
    files["html-thuvienphapluat"].write_text(
        sf.thuvienphapluat_html(text, "Văn bản", nfd_every=3 if vietnamese else 0), encoding="utf-8"
    )
    sf.write_pdf(text, files["pdf"], font=FONT, headers=sf.title_headers("Statute"), page=WIDE_PAGE)
    return files


@needs_font
@pytest.mark.parametrize(
    ("name", "vietnamese"),
    [
        ("us_pl_107_60.txt", False),
        ("uk_fraud_act_2006.txt", False),  # without the page headers of the PDF it was taken from
        ("eu_gdpr_articles_1_2.txt", False),
        ("vn_hien_phap_2013.txt", True),
        ("vn_luat_cong_nghe_thong_tin_2006.txt", True),
    ],
)
def test_the_same_statute_in_every_format_gives_the_same_tree(
    tmp_path: Path, name: str, vietnamese: bool
) -> None:
    source = sf.fraud_act_text() if name.startswith("uk_") else sf.statute(name)
    text = source if vietnamese else _one_paragraph_a_line(source)
    expected = _signature(autocut(text))
    assert len(expected) > 10
    for fmt, path in _write_all(text, tmp_path, vietnamese=vietnamese).items():
        extracted = sources.read_source(path)
        assert extracted.format == fmt.split("-")[0].replace("txt", "text")
        root = autocut(extracted.text)
        assert join_text(root) == extracted.text, fmt  # faithful: the pieces give back the extraction
        assert _signature(root) == expected, fmt


@needs_font
def test_every_piece_records_where_it_came_from(tmp_path: Path) -> None:
    text = sf.statute("vn_luat_cong_nghe_thong_tin_2006.txt")
    for fmt, path in _write_all(text, tmp_path, vietnamese=True).items():
        extracted = sources.read_source(path)
        nodes = autocut(extracted.text).walk()
        found = extracted.sources([n.text for n in nodes])
        fields = sources.FIELDS[extracted.format]
        for node, where in zip(nodes, found, strict=True):
            if not node.text:
                assert where is None
                continue
            assert where is not None and where["format"] == extracted.format, fmt
            assert set(where["start"]) == set(fields) == set(where["end"]), fmt
            if extracted.format != "html":
                assert tuple(where["start"].values()) <= tuple(where["end"].values()), (fmt, where)


@needs_font
def test_word_numbering_is_computed_from_numbering_xml(tmp_path: Path) -> None:
    text = sf.statute("vn_luat_cong_nghe_thong_tin_2006.txt")
    path = sf.write_docx(text, tmp_path / "luat.docx")
    document = docx.Document(str(path))
    numbered = [p for p in document.paragraphs if p._p.pPr is not None and p._p.pPr.numPr is not None]
    assert len(numbered) > 40  # articles (Điều %1.) and clauses (%1.) are automatic numbers
    assert not any(p.text.startswith(("Điều ", "1. ", "2. ")) for p in numbered)  # not in the run text
    assert any(p.style.name.startswith("Heading") for p in document.paragraphs)
    extracted = sources.read_source(path)
    lines = extracted.text.splitlines()
    assert "Điều 5 Chính sách của Nhà nước về ứng dụng và phát triển công nghệ thông tin" in lines
    assert any(line.startswith("Điều 3. Áp dụng Luật") for line in lines)  # "Điều %1." written out
    assert any(line.startswith("1. Cơ quan") for line in lines)


def test_word_quirks_empty_paragraphs_soft_breaks_nbsp_and_nfd(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_paragraph("Chương I", style="Heading 1")
    d.add_paragraph("QUY ĐỊNH CHUNG", style="Heading 1")  # the caption, in the heading style too
    d.add_paragraph("")
    d.add_paragraph("   ")
    d.add_paragraph(unicodedata.normalize("NFD", "Điều 1.\u00a0Phạm vi điều chỉnh"), style="Heading 3")
    p = d.add_paragraph("Luật này quy định")
    p.add_run().add_break()  # Shift+Enter
    p.add_run("về an ninh mạng.")
    d.add_paragraph("Giới thiệu", style="Heading 2")  # an unlabelled heading keeps its level
    d.save(str(tmp_path / "q.docx"))
    extracted = sources.read_source(tmp_path / "q.docx")
    assert extracted.text == (
        "Chương I\nQUY ĐỊNH CHUNG\nĐiều 1. Phạm vi điều chỉnh\n"
        "Luật này quy định\nvề an ninh mạng.\n## Giới thiệu\n"
    )
    assert [s[0] for s in extracted.starts] == [1, 2, 5, 6, 6, 7]  # paragraph numbers, empty ones counted
    root = autocut(extracted.text)
    chapter = root.children[0]
    assert (chapter.label, chapter.heading) == ("Chương I", "QUY ĐỊNH CHUNG")
    assert (chapter.children[0].label, chapter.children[0].heading) == ("Điều 1", "Phạm vi điều chỉnh")


def test_html_leaves_out_scripts_styles_navigation_and_hidden_text(tmp_path: Path) -> None:
    text = _one_paragraph_a_line(sf.statute("eu_gdpr_articles_1_2.txt"))
    page = sf.legislation_gov_uk_html(text, "GDPR")
    extracted = sources.extract(page.encode(), "gdpr.html")
    for chrome in ("Browse Legislation", "legGovUkConfig", "Print options", "Open Government Licence",
                   "Changes to legislation", "should not be read", "font-weight", "1 Fraud"):  # fmt: skip
        assert chrome not in extracted.text
    vn = sf.thuvienphapluat_html(sf.statute("vn_hien_phap_2013.txt"), "Hiến pháp", nfd_every=2)
    extracted = sources.extract(vn.encode(), "hien-phap.aspx")  # HTML by its content, not its name
    assert extracted.format == "html"
    for chrome in ("Trang chủ", "Tải văn bản", "Văn bản liên quan", "Điều 99", "Bản quyền", "JavaScript",
                   "dataLayer", "VIEWSTATE"):  # fmt: skip
        assert chrome not in extracted.text
    assert unicodedata.is_normalized("NFC", extracted.text) and "\u00a0" not in extracted.text
    assert extracted.starts[0][0].startswith("/html[1]/body[1]/form[1]/div[")


def test_html_lists_headings_and_paragraph_boundaries() -> None:
    page = b"""<html><body><h1>Act of Example</h1><h2>Article 3<br>Scope</h2>
    <p>First  paragraph,
    wrapped.</p><p>Second<br/>line.</p>
    <ol><li>one</li><li>two</li></ol><ol type="a" start="3"><li>gamma</li><li value="5">epsilon</li></ol>
    <ol type="i"><li>first</li><li>second</li></ol><ul><li>bullet</li></ul>
    <table><tr><td>cell 1</td><td>cell 2</td></tr></table></body></html>"""
    extracted = sources.extract(page, "x.html")
    assert extracted.text.splitlines() == [
        "# Act of Example", "Article 3", "Scope", "First paragraph, wrapped.", "Second", "line.",
        "1. one", "2. two", "c. gamma", "e. epsilon", "i. first", "ii. second", "bullet", "cell 1", "cell 2",
    ]  # fmt: skip
    assert extracted.starts[3] == ("/html[1]/body[1]/p[1]",)


@needs_font
def test_uk_fraud_act_pdf_cuts_into_sections_without_page_headers(tmp_path: Path) -> None:
    assert FONT is not None
    body = sf.fraud_act_text()
    layout = sf.write_pdf(
        body, tmp_path / "fraud.pdf", font=FONT, headers=sf.legislation_headers("Fraud Act 2006")
    )
    assert layout["pages"] >= 4 and layout["hyphens"] >= 3
    extracted = sources.read_source(tmp_path / "fraud.pdf")
    root = autocut(extracted.text)
    sections = [n for n in root.walk() if n.kind == "section"]
    assert [(s.label, s.heading) for s in sections] == [
        ("1", "Fraud"),
        ("2", "Fraud by false representation"),
        ("3", "Fraud by failing to disclose information"),
        ("4", "Fraud by abuse of position"),
        ("5", "“Gain” and “loss”"),
        ("6", "Possession etc. of articles for use in frauds"),
        ("7", "Making or supplying articles for use in frauds"),
        ("8", "“Article”"),
    ]
    assert all(s in root.children for s in sections)
    for node in root.walk():
        for header in ("Fraud Act 2006 (c. 35)", "Document Generated", "Changes to legislation", "See end"):
            assert header not in node.text, (node.label, header)
    # Headers, footers and page numbers gone, hyphenated words whole again: the text as enacted.
    assert sf.normalised(extracted.text) == sf.normalised(body)
    # Each section's source names the page and line it is printed on.
    reader = PdfReader(tmp_path / "fraud.pdf")
    nodes = root.walk()
    found = dict(zip([id(n) for n in nodes], extracted.sources([n.text for n in nodes]), strict=True))
    for section in sections:
        where = found[id(section)]
        assert where is not None
        page, line = where["start"]["page"], where["start"]["line"]
        printed = reader.pages[page - 1].extract_text().split("\n")[line - 1]
        assert printed.startswith(f"{section.label} "), (section.label, printed)


def test_uk_sections_in_plain_text_skip_running_headers() -> None:
    root = autocut(sf.statute("uk_fraud_act_2006.txt"))
    assert [(n.kind, n.label) for n in root.children] == [("section", str(i)) for i in range(1, 9)]
    # "2 Fraud Act 2006 (c. 35)" is the even page's running header, not a second section 2.
    assert "2 Fraud Act 2006 (c. 35)" in root.children[0].walk()[-1].text


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("1 Interpretation\nIn this Act—\n2 Commencement\nThis Act comes into force.\n", ["1", "2"]),
        ("1 Fraud\ntext\n2 Obtaining services\ntext\n2A Possession\ntext\n", ["1", "2", "2A"]),
        ("Section 1 Scope\n2 Apples\ntext\n", ["Section 1"]),  # a document with Section keywords
        ("Article 1 Scope\n2 Apples\n", ["Article 1"]),
        ("5 Duties\ntext\n3 Page Header Of The Act\ntext\n", ["5"]),  # numbers only rise
        ("1 Fraud\ntext\n12\n2 Gain and loss\n", ["1", "2"]),  # a page number is not a section
        ("1 Fraud\n(1) A person is guilty\n2 the next line of prose\n", ["1", "(1)"]),  # lower case: prose
        ("1 Fraud\nMy Act (c. 1)\n2 My Act (c. 1)\n2 Real\n", ["1", "2"]),
    ],
)
def test_uk_section_lines(text: str, labels: list[str]) -> None:
    root = autocut(text)
    assert [n.label for n in root.walk()[1:]] == labels
    assert join_text(root) == text


def test_uk_section_heading_and_kind() -> None:
    (section,) = autocut("6A Possession etc. of articles for use in frauds\nA person is guilty.\n").children
    assert (section.kind, section.label, section.heading) == (
        "section",
        "6A",
        "Possession etc. of articles for use in frauds",
    )


# ---------------------------------------------------------------------------
# Refused files: one error line each
# ---------------------------------------------------------------------------
def _encrypted_pdf(tmp_path: Path) -> bytes:
    assert FONT is not None
    sf.write_pdf("Article 1 Scope\nText.\n", tmp_path / "plain.pdf", font=FONT)
    writer = PdfWriter(clone_from=str(tmp_path / "plain.pdf"))
    writer.encrypt("secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _scanned_pdf(tmp_path: Path) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    out = io.BytesIO()
    pdf = Canvas(out, pagesize=A4)
    pdf.rect(60, 560, 280, 140, stroke=0, fill=1)  # a page of pixels, no text layer
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _zip_not_word() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("secret.pdf", _encrypted_pdf, "is encrypted with a password"),
        ("scan.pdf", _scanned_pdf, "has no text layer"),
        ("book.docx", lambda _: _zip_not_word(), "is a zip archive but not a Word document"),
        ("old.doc", lambda _: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "save it as .docx"),
        (
            "empty.html",
            lambda _: b"<html><head><script>x()</script></head><body><nav>Home</nav></body>",
            "has no visible text",
        ),
        ("fake.pdf", lambda _: b"Article 1 Scope\n", "is not a PDF"),
        ("fake.docx", lambda _: b"Article 1 Scope\n", "is not a Word document"),
        ("broken.pdf", lambda _: b"%PDF-1.7\n garbage", "not a readable PDF"),
    ],
)
def test_bad_files_are_refused_with_what_to_do(tmp_path: Path, name: str, make: object, message: str) -> None:
    if name.endswith(".pdf") and FONT is None and "secret" in name:
        pytest.skip("no Unicode TTF font on this machine")
    data = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(IuCoreError, match=message) as caught:
        sources.extract(data, name)
    assert "\n" not in str(caught.value)


def test_format_is_sniffed_from_content_not_the_name(tmp_path: Path) -> None:
    page = b"<!DOCTYPE html><html><body><p>Article 1 Scope</p></body></html>"
    assert sources.sniff(page, "download.txt") == "html"
    assert sources.sniff(b"%PDF-1.4\n...", "statute.bin") == "pdf"
    assert sources.sniff(_zip_not_word(), "noname") == "docx"
    assert sources.sniff("# Điều 1\n".encode(), "note.md") == "text"


def test_the_formats_page_shows_only_real_commands_and_options() -> None:
    import re

    import click

    from iu_core.cli import cli

    page = (Path(__file__).parents[2] / "docs" / "ingest-formats.md").read_text(encoding="utf-8")
    shown = [
        line.split()[1:]
        for block in re.findall(r"```sh\n(.*?)```", page, flags=re.DOTALL)
        for line in block.splitlines()
        if line.startswith("iu-core ")
    ]
    assert shown
    for words in shown:
        command: click.Command = cli
        rest = list(words)
        while isinstance(command, click.Group) and rest and rest[0] in command.commands:
            command = command.commands[rest.pop(0)]
        assert not isinstance(command, click.Group), words
        options = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
        assert {w for w in rest if w.startswith("--")} <= options, words


@needs_font
def test_the_ingest_bench_runs_and_every_format_cuts_alike(tmp_path: Path) -> None:
    from bench import ingest_formats_bench

    ingest_formats_bench.main(["--pages", "3", "--runs", "1", "--write", str(tmp_path / "table.md")])
    rows = [
        line.split("|")
        for line in (tmp_path / "table.md").read_text().splitlines()
        if line[:3] in ("| p", "| d", "| h", "| t")
    ]
    assert [r[1].strip() for r in rows] == ["pdf", "docx", "html", "txt"]
    assert len({r[3].strip() for r in rows}) == 1  # the same number of pieces from every format
    assert [r[4].strip() for r in rows] == ["yes"] * 4  # and the same tree


_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _docx_with_numbering(numbering: str, body: str, styles: str = "") -> bytes:
    """A minimal Word package: document.xml, numbering.xml and, optionally, extra styles."""
    out = io.BytesIO()
    d = docx.Document()
    d.save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w") as archive:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                data = f"<w:document {_W}><w:body>{body}</w:body></w:document>".encode()
            elif item.filename == "word/numbering.xml":
                data = f"<w:numbering {_W}>{numbering}</w:numbering>".encode()
            elif item.filename == "word/styles.xml" and styles:
                data = data.replace(b"</w:styles>", styles.encode() + b"</w:styles>")
            archive.writestr(item, data)
    return result.getvalue()


def _p(text: str, num: int | None = None, ilvl: int = 0, style: str = "") -> str:
    ppr = f'<w:pStyle w:val="{style}"/>' if style else ""
    if num is not None:
        ppr += f'<w:numPr><w:ilvl w:val="{ilvl}"/><w:numId w:val="{num}"/></w:numPr>'
    return f'<w:p><w:pPr>{ppr}</w:pPr><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


def _lvl(ilvl: int, fmt: str, text: str, start: int = 1) -> str:
    return (
        f'<w:lvl w:ilvl="{ilvl}"><w:start w:val="{start}"/><w:numFmt w:val="{fmt}"/>'
        f'<w:lvlText w:val="{text}"/><w:suff w:val="space"/></w:lvl>'
    )


def test_word_numbering_levels_formats_restarts_and_style_links() -> None:
    numbering = (
        '<w:abstractNum w:abstractNumId="0">'
        + _lvl(0, "decimal", "%1.")
        + _lvl(1, "decimal", "%1.%2.")
        + _lvl(2, "lowerRoman", "(%3)")
        + "</w:abstractNum>"
        + '<w:abstractNum w:abstractNumId="1">'
        + _lvl(0, "upperRoman", "Chapter %1")
        + _lvl(1, "upperLetter", "%2.")
        + "</w:abstractNum>"
        + '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>'
        + '<w:num w:numId="2"><w:abstractNumId w:val="0"/></w:num>'  # shares the list: numbers go on
        + '<w:num w:numId="3"><w:abstractNumId w:val="0"/>'
        + '<w:lvlOverride w:ilvl="0"><w:startOverride w:val="7"/></w:lvlOverride></w:num>'
        + '<w:num w:numId="4"><w:abstractNumId w:val="1"/></w:num>'
    )
    styles = (
        '<w:style w:type="paragraph" w:styleId="ChapterHeading"><w:name w:val="heading 1"/>'
        '<w:pPr><w:numPr><w:numId w:val="4"/></w:numPr></w:pPr></w:style>'
    )
    body = "".join(
        [
            _p("General", style="ChapterHeading"),  # numbered by its style: "Chapter I"
            _p("One", 1),
            _p("One point one", 1, 1),
            _p("first", 1, 2),
            _p("second", 1, 2),
            _p("One point two", 1, 1),
            _p("", 1),  # an empty numbered paragraph takes its number
            _p("Three", 2),  # another instance of the same list continues it
            _p("Three point one", 2, 1),
            _p("Seven", 3),  # startOverride
            _p("Rules", style="ChapterHeading"),
            _p("Annex", 4, 1),
        ]
    )
    extracted = sources.extract(_docx_with_numbering(numbering, body, styles), "n.docx")
    assert extracted.text.splitlines() == [
        "Chapter I General",
        "1. One",
        "1.1. One point one",
        "(i) first",
        "(ii) second",
        "1.2. One point two",
        "3. Three",
        "3.1. Three point one",
        "7. Seven",
        "Chapter II Rules",
        "A. Annex",
    ]
    assert [s[0] for s in extracted.starts] == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]


@needs_font
def test_a_pdf_locked_only_by_an_owner_password_is_read(tmp_path: Path) -> None:
    assert FONT is not None
    sf.write_pdf("Article 1 Scope\nText.\n", tmp_path / "plain.pdf", font=FONT)
    writer = PdfWriter(clone_from=str(tmp_path / "plain.pdf"))
    writer.encrypt(user_password="", owner_password="publisher", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    extracted = sources.extract(out.getvalue(), "printable.pdf")
    assert extracted.text == "Article 1 Scope\nText.\n"
