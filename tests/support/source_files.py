"""Statutes written as real Word, HTML and PDF files, for the ingest-format tests and the bench.

Everything is generated here from the plain-text statutes in tests/data/statutes
(nothing is downloaded):

- ``paragraphs(text)``: the statute's lines grouped into the paragraphs a
  publisher would print (wrapped lines joined; a label, a bare label's
  caption, or a blank line starts a new paragraph).
- ``write_docx``: python-docx, labelled headings in Word's Heading styles,
  clauses, points and sub-points as *automatic* numbering (``w:numPr``; the
  number is not in the run text), articles numbered ``Điều %1.`` where the
  text allows; quirks: empty paragraphs, a soft line break, non-breaking
  spaces, runs split inside a line, and optionally Vietnamese in NFD.
- ``legislation_gov_uk_html`` / ``thuvienphapluat_html``: the two sites'
  page layouts (site chrome, navigation, scripts, hidden blocks, ``&nbsp;``).
- ``write_pdf``: reportlab with a Unicode TTF font, a paginated layout with
  running headers (alternating, with the page number beside the title, as
  legislation.gov.uk prints Acts), page-number footers and words hyphenated
  at line ends.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from iu_core.domain.autocut import LineMatch, autocut, classify_line

STATUTES = Path(__file__).parents[1] / "data" / "statutes"

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


def unicode_font() -> Path | None:
    """A TTF font with Vietnamese glyphs found on this machine (None: the PDF tests skip)."""
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def statute(name: str) -> str:
    return (STATUTES / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# Paragraphs
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Para:
    text: str
    kind: str  # "label" (part .. article), "enum" (clause, point, ...), "caption", "body"
    rank: int = 0


def _piece_starts(text: str) -> dict[int, LineMatch]:
    """Line number -> the piece autocut starts there (UK sections included)."""
    starts: dict[int, LineMatch] = {}
    line_no = 0
    for node in autocut(text).walk():
        if node.kind != "document" and node.text:
            starts[line_no] = LineMatch(node.kind, node.rank, node.label, node.heading)
        line_no += len(node.text.splitlines())
    return starts


def paragraphs(text: str) -> list[Para]:
    """The statute's paragraphs: wrapped lines joined, labels and captions on their own."""
    out: list[Para] = []
    blank, bare = True, False
    starts = _piece_starts(text)
    for number, raw in enumerate(text.splitlines()):
        line = " ".join(raw.split())
        if not line:
            blank = True
            continue
        match = starts.get(number)
        last = out[-1] if out else None
        if match is not None:
            kind = "label" if match.rank < 50 else "enum"
            out.append(Para(line, kind, match.rank))
            bare = not match.heading and match.rank < 50
        elif bare and (line.isupper() or line[:1].isupper()):
            out.append(Para(line, "caption"))
            bare = False
        elif (
            last is not None
            and not blank
            and last.kind in ("body", "enum")
            and not line.isupper()
            and (line[:1].islower() or last.text[-1] not in ".;:—")
        ):
            out[-1] = Para(last.text + " " + line, last.kind, last.rank)
        else:
            out.append(Para(line, "body"))
            bare = False
        blank = False
    return out


def normalised(text: str) -> str:
    """Whitespace runs as one space, NFC, no soft hyphens: "the same text" across formats."""
    return " ".join(unicodedata.normalize("NFC", text.replace("\u00ad", "")).split())


# ---------------------------------------------------------------------------
# Word
# ---------------------------------------------------------------------------
# (abstract list, level) for each enumerator style, with Word's lvlText and format.
_LISTS: dict[str, tuple[int, int, str, str]] = {
    r"(\d+)\.": (1, 0, "%1.", "decimal"),
    r"\((\d+)\)": (2, 0, "(%1)", "decimal"),
    r"\(([a-z])\)": (2, 1, "(%2)", "lowerLetter"),
    r"\(([ivx]+)\)": (2, 2, "(%3)", "lowerRoman"),
    r"([a-z])\)": (1, 1, "%2)", "lowerLetter"),
}
_ARTICLE = re.compile(r"^(Điều|Article) (\d+)\. (\S.*)$")


def _value(token: str, fmt: str) -> int:
    if fmt == "decimal":
        return int(token)
    if fmt == "lowerLetter":
        return ord(token) - ord("a") + 1
    romans = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"]
    return romans.index(token) + 1 if token in romans else -1


def _numbering_xml(articles: str) -> str:
    levels = {1: [(0, "%1.", "decimal"), (1, "%2)", "lowerLetter")],
              2: [(0, "(%1)", "decimal"), (1, "(%2)", "lowerLetter"), (2, "(%3)", "lowerRoman")],
              3: [(0, f"{articles} %1.", "decimal")]}  # fmt: skip
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    parts = [f"<w:numbering {w}>"]
    for abstract, lvls in levels.items():
        parts.append(f'<w:abstractNum w:abstractNumId="{abstract}"><w:multiLevelType w:val="multilevel"/>')
        for ilvl, text, fmt in lvls:
            parts.append(
                f'<w:lvl w:ilvl="{ilvl}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/>'
                f'<w:lvlText w:val="{text}"/><w:suff w:val="space"/>'
                f'<w:pPr><w:ind w:left="{360 * (ilvl + 1)}" w:hanging="360"/></w:pPr></w:lvl>'
            )
        parts.append("</w:abstractNum>")
    parts.append("@@NUMS@@</w:numbering>")
    return "".join(parts)


def write_docx(text: str, path: Path, *, nfd: bool = False, quirks: bool = True) -> Path:
    """The statute as a Word document with heading styles and automatic numbering."""
    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    body_paras = paragraphs(text)
    articles = "Điều" if any(p.text.startswith("Điều ") for p in body_paras) else "Article"
    nums: list[tuple[int, int, int]] = []  # (numId, abstract, first number), restarting every level

    def new_num(abstract: int, start: int = 1) -> int:
        nums.append((len(nums) + 1, abstract, start))
        return len(nums)

    article_num = new_num(3)
    expected_article = 1
    current: dict[int, int] = {}  # abstract -> numId of the list open in this provision
    counters: dict[int, dict[int, int]] = {}  # numId -> level -> value

    def fix(s: str) -> str:
        return unicodedata.normalize("NFD", s) if nfd else s

    for index, para in enumerate(body_paras):
        if quirks and index % 7 == 3:
            document.add_paragraph("")  # an empty paragraph, as editors leave them
        numbered: tuple[int, int, str] | None = None  # numId, ilvl, text after the number
        line = para.text
        if para.kind == "label":
            m = _ARTICLE.match(line)
            if m and m.group(1) == articles:
                if int(m.group(2)) != expected_article:  # Word's "set numbering value": a new list
                    article_num = new_num(3, int(m.group(2)))
                numbered = (article_num, 0, m.group(3))
                expected_article = int(m.group(2)) + 1
            current = {}
            style = "Heading 1" if para.rank <= 20 else "Heading 2" if para.rank < 40 else "Heading 3"
        elif para.kind == "caption":
            style = document.paragraphs[-1].style.name if document.paragraphs else "Normal"
        else:
            style = "Normal"
        if para.kind == "enum":
            for pattern, (abstract, ilvl, _lvl_text, fmt) in _LISTS.items():
                m = re.match(r"^" + pattern + r" (\S.*)$", line)
                if not m:
                    continue
                num_id = current.get(abstract) or new_num(abstract)
                current[abstract] = num_id
                levels = counters.setdefault(num_id, {})
                value = levels.get(ilvl, 0) + 1
                if _value(m.group(1), fmt) == value:
                    levels[ilvl] = value
                    for deeper in [k for k in levels if k > ilvl]:
                        del levels[deeper]
                    numbered = (num_id, ilvl, m.group(2))
                break
        p = document.add_paragraph(style=style)
        rest = numbered[2] if numbered else line
        if numbered:
            ppr = p._p.get_or_add_pPr()
            ppr.append(parse_xml(
                f'<w:numPr xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                f'<w:ilvl w:val="{numbered[1]}"/><w:numId w:val="{numbered[0]}"/></w:numPr>'
            ))  # fmt: skip
        if quirks and para.kind == "body" and index % 5 == 0 and " " in rest:
            words = rest.split(" ")
            cut = next((i for i in range(len(words) // 2, len(words)) if words[i][:1].islower()), None)
            if cut:  # a soft line break (Shift+Enter) inside the paragraph
                p.add_run(fix(" ".join(words[:cut])))
                p.add_run().add_break()
                p.add_run(fix(" ".join(words[cut:])))
                continue
        if quirks and " " in rest and not numbered:
            head, tail = rest.split(" ", 1)
            p.add_run(fix(head)).bold = para.kind != "body"
            p.add_run(fix("\u00a0" + tail))  # a non-breaking space after the first word
        else:
            p.add_run(fix(rest))

    numbering = _numbering_xml(articles).replace(
        "@@NUMS@@",
        "".join(
            f'<w:num w:numId="{num_id}"><w:abstractNumId w:val="{abstract}"/>'
            + "".join(
                f'<w:lvlOverride w:ilvl="{lvl}"><w:startOverride w:val="{start if lvl == 0 else 1}"/>'
                "</w:lvlOverride>"
                for lvl in range(3)
            )
            + "</w:num>"
            for num_id, abstract, start in nums
        ),
    )
    target = document.part.numbering_part.element  # the template's (empty) numbering part
    for child in list(target):
        target.remove(child)
    for child in parse_xml(numbering.encode("utf-8")):
        target.append(child)
    document.save(str(path))
    return path


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------
def _e(text: str) -> str:
    return html.escape(text, quote=False)


def legislation_gov_uk_html(text: str, title: str) -> str:
    """The statute in the page layout of legislation.gov.uk (site chrome around the Act)."""
    body: list[str] = []
    for para in paragraphs(text):
        label = classify_line(para.text)
        if para.kind == "label":
            level = 2 if para.rank <= 20 else 3
            number, _, rest = para.text.partition(" ")
            if rest and number.isdigit():  # a UK section: <span>1</span><span>Fraud</span>, no space between
                title_span = f"<span class=\"LegP1GroupTitle\">{_e(rest)}</span>"
                inner = f"<span class=\"LegP1No\">{_e(number)}</span>{title_span}"
            else:
                inner = f'<span class="LegP1No">{_e(para.text)}</span>'
            body.append(f'<h{level} class="LegP1GroupTitle">{inner}')
            body.append(f"</h{level}>")
        elif para.kind == "caption":
            level = 3 if body[-1] == "</h3>" else 2
            body[-1] = f'<br/><span class="LegP1Title">{_e(para.text)}</span></h{level}>'
        elif para.kind == "enum" and label is not None:
            number, _, rest = para.text.partition(" ")  # the number and the text in spans of their own
            if not re.fullmatch(r"\(?[0-9a-zđA-Z]{1,5}[.)]{0,2}", number):  # "1.Công": printed as one
                number, rest = "", para.text
            body.append(
                f'<p class="LegP2ParaText"><span class="LegP2No">{_e(number)}</span>'
                f'<span class="LegP2Text">{_e(rest)}</span></p>'
            )
        else:
            body.append(f'<p class="LegText">{_e(para.text)}</p>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>{_e(title)}</title>
<link rel="stylesheet" href="/styles/legislation.css"/>
<style>.LegP1No {{ font-weight: bold }}</style>
<script type="text/javascript">var legGovUkConfig = {{"section": "Article 1 should not be read"}};</script>
</head><body id="doc">
<header id="layout1"><div id="siteLogo">legislation.gov.uk</div>
<nav id="primaryNav"><ul><li><a href="/">Home</a></li><li><a href="/browse">Browse Legislation</a></li>
<li><a href="/new">New Legislation</a></li></ul></nav></header>
<div id="layout2">
<nav id="breadcrumbs" aria-label="breadcrumb"><ol><li>Home</li><li>{_e(title)}</li></ol></nav>
<div id="content"><div id="viewLegContents"><div id="infoSection" aria-hidden="true">Changes to legislation:
There are outstanding changes not yet made.</div>
<div class="LegSnippet" id="viewLegSnippet">
{chr(10).join(body)}
</div></div><div id="tools" style="display: none">Print options</div></div></div>
<footer id="footer"><p>All content is available under the Open Government Licence v3.0</p></footer>
<script>document.querySelectorAll('.LegP1No').forEach(function (n) {{ n.title = '1 Fraud'; }});</script>
</body></html>
"""


def thuvienphapluat_html(text: str, title: str, *, nfd_every: int = 0) -> str:
    """The statute in the page layout of thuvienphapluat.vn: every line a ``<p>``, labels bold."""
    body: list[str] = []
    for i, para in enumerate(paragraphs(text)):
        shown = unicodedata.normalize("NFD", para.text) if nfd_every and i % nfd_every == 0 else para.text
        if para.kind == "label":
            body.append(f'<p style="margin-top:6.0pt"><a name="dieu_{i}"></a><b>{_e(shown)}</b></p>')
        elif para.kind == "caption":
            body.append(f'<p align="center" style="text-align:center"><b>{_e(shown)}</b></p>')
        elif para.kind == "enum":
            number, _, rest = shown.partition(" ")
            body.append(f"<p>{_e(number)}&nbsp;{_e(rest)}</p>")
        else:
            body.append(f'<p style="margin-top:6.0pt"><span lang="VI">{_e(shown)}</span></p>')
    return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN">
<html xmlns="http://www.w3.org/1999/xhtml"><head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8"/>
<title>{_e(title)}</title><script src="/js/jquery.min.js"></script>
<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}</script>
<style>#divContentDoc p {{ margin: 0 }}</style></head>
<body><form method="post" action="./van-ban" id="aspnetForm">
<div class="aspNetHidden"><input type="hidden" name="__VIEWSTATE" value="/wEPDwUKMTY1"/></div>
<header id="header"><nav class="menu"><a href="/">Trang chủ</a> |
<a href="/van-ban">Văn bản pháp luật</a></nav></header>
<div id="ctl00_Content_ThongTinVB_pnlDocContent"><div class="content1"><div id="divContentDoc">
<div class="TaiVanBan" style="display:none">Tải văn bản</div>
{chr(10).join(body)}
</div></div></div>
<aside class="right-col"><div class="box-title">Văn bản liên quan</div>
<p>Điều 99. Không phải nội dung</p></aside>
<footer><p>Bản quyền thuộc THƯ VIỆN PHÁP LUẬT</p></footer>
<noscript><p>Bật JavaScript</p></noscript></form></body></html>
"""


# ---------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------
HeaderFn = Callable[[int], Sequence[str]]


def legislation_headers(title: str, generated: str = "Document Generated: 2023-04-24") -> HeaderFn:
    """legislation.gov.uk's running head: page number beside the title on even pages."""
    notice = (
        "Changes to legislation: There are currently no known outstanding",
        f"effects for the {title}. (See end of Document for details)",
    )

    def header(page: int) -> Sequence[str]:
        if page == 1:
            return notice
        if page % 2 == 0:
            return (f"{page} {title} (c. 35)", generated, *notice)
        return (f"{title} (c. 35)", generated, str(page), *notice)

    return header


def title_headers(title: str) -> HeaderFn:
    """A running head on every page: the title, then the page number."""
    return lambda page: (title, f"Page {page}")


def _split_word(word: str, fits: Callable[[str], bool]) -> tuple[str, str] | None:
    """Hyphenate ``word`` so that its head and a hyphen fit: letters only, at least 3 each side."""
    if not word.isalpha() or len(word) < 7:
        return None
    for cut in range(len(word) - 3, 2, -1):
        if fits(word[:cut] + "-") and word[cut].islower():
            return word[:cut] + "-", word[cut:]
    return None


def _starts_like_label(words: list[str]) -> bool:
    first = " ".join(words[:3])
    return bool(words) and (classify_line(first) is not None or words[0][:1].isdigit())


def layout_lines(paras: list[Para], fits: Callable[[str], bool]) -> tuple[list[str], int]:
    """Paragraphs wrapped to the page width; words hyphenated at line ends. Returns (lines, hyphens)."""
    out: list[str] = []
    hyphens = 0
    for para in paras:
        words = para.text.split()
        line: list[str] = []
        while words:
            word = words.pop(0)
            if fits(" ".join([*line, word])) or not line:
                line.append(word)
                continue
            done = list(line)
            split = _split_word(word, lambda head, done=done: fits(" ".join([*done, head])))
            if split is not None and not _starts_like_label([split[1], *words]):
                line.append(split[0])
                words.insert(0, split[1])
                hyphens += 1
            else:
                words.insert(0, word)
                while len(line) > 1 and _starts_like_label(words):  # never start a line with "(2)"
                    words.insert(0, line.pop())
            out.append(" ".join(line))
            line = []
        if line:
            out.append(" ".join(line))
    return out, hyphens


_MM = 72 / 25.4  # PDF points per millimetre


def _registered_font(font: Path) -> str:
    """The reportlab name of ``font`` (a TrueType file), registered once per process."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    name = f"body-{font.stem}"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, str(font)))
    return name


def write_pdf(
    text: str,
    path: Path,
    *,
    font: Path,
    headers: HeaderFn | None = None,
    footer: bool = True,
    font_size: float = 10,
    page: tuple[float, float] = (148, 210),  # A5 in mm: more pages, more running headers
) -> dict[str, int]:
    """The statute as a paginated PDF. Returns {"pages": n, "hyphens": n, "lines": n}.

    Drawn with reportlab: the font embedded as a subset with its ToUnicode map (the
    text layer reads back as typed), a page's lines in one text object, one ``Tj`` a
    line. The layout, in mm from the top of the page: margins 15 left and right, 12
    at the top; the running head in 8 pt, 4 a line, then 4 blank; the body in
    ``font_size`` on lines of ``font_size / 2``, a new page when a line would come
    within 20 of the bottom; the page number in 8 pt centred 15 above the bottom.
    """
    from reportlab import rl_config
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.pdfgen.textobject import PDFTextObject

    head = headers or (lambda page: ())
    name = _registered_font(font)
    width_mm, height_mm = page
    left, right, top, bottom = 15.0, 15.0, 12.0, 20.0
    pad = 1.0  # the text starts this far inside the left margin
    body_line = font_size * 0.5
    x = (left + pad) * _MM

    def baseline(y: float, line_height: float, size: float) -> float:
        """The baseline of a row ``line_height`` high whose top is ``y`` mm from the top of the page."""
        return (height_mm - (y + 0.5 * line_height + 0.3 * size / _MM)) * _MM

    room = width_mm - left - right - pad
    lines, hyphens = layout_lines(paragraphs(text), lambda s: stringWidth(s, name, font_size) / _MM <= room)
    a85 = rl_config.useA85
    rl_config.useA85 = 0  # Flate alone, as most producers write content streams
    try:
        canvas = Canvas(str(path), pagesize=(width_mm * _MM, height_mm * _MM), invariant=1)

        def start_page(number: int) -> tuple[PDFTextObject, float]:
            printed = canvas.beginText()
            y = top
            running = list(head(number))
            if running:
                printed.setFont(name, 8, leading=4 * _MM)
                printed.setTextOrigin(x, baseline(y, 4, 8))
                for line in running:
                    printed.textLine(line)
                    y += 4
            y += 4
            printed.setFont(name, font_size, leading=body_line * _MM)
            printed.setTextOrigin(x, baseline(y, body_line, font_size))
            return printed, y

        def end_page(printed: PDFTextObject, number: int) -> None:
            canvas.drawText(printed)
            if footer:
                canvas.setFont(name, 8)
                centre = (left + (width_mm - left - right) / 2) * _MM
                canvas.drawCentredString(centre, baseline(height_mm - 15, 5, 8), str(number))
            canvas.showPage()

        pages = 1
        printed, y = start_page(pages)
        for line in lines:
            if y + body_line > height_mm - bottom:
                end_page(printed, pages)
                pages += 1
                printed, y = start_page(pages)
            printed.textLine(line)
            y += body_line
        end_page(printed, pages)
        canvas.save()
    finally:
        rl_config.useA85 = a85
    return {"pages": pages, "hyphens": hyphens, "lines": len(lines)}


_FRAUD_HEADERS = re.compile(
    r"^(?:\d+ )?Fraud Act 2006 \(c\. 35\)$|^Document Generated: .*$|^\d+$"
    r"|^Changes to legislation: .*$|^effects for the Fraud Act 2006\. \(See end of Document for details\)$"
)


def fraud_act_text() -> str:
    """The Fraud Act 2006 as enacted, without the page headers of the PDF it was taken from."""
    lines = statute("uk_fraud_act_2006.txt").splitlines()
    return "\n".join(line for line in lines if not _FRAUD_HEADERS.match(line)) + "\n"
