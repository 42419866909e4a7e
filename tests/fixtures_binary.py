"""Build .docx and .pdf bytes for tests and the test corpus, so no binary file is committed.

A document is a sequence of items: a `str` is a paragraph, a table is a list of rows of strings.
In a table, `MERGE_LEFT` marks a cell merged into its left neighbour and `MERGE_UP` one merged
into the cell above (a merged area is a rectangle anchored at its top-left cell). A row that is
exactly `[PAGE_BREAK]` breaks the table across pages; the item `PAGE_BREAK` breaks the page.
A "\\n" inside a cell string makes separate paragraphs (docx) / lines (pdf) in that cell.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

MERGE_LEFT = "<merge-left>"
MERGE_UP = "<merge-up>"
PAGE_BREAK = "<page-break>"
CJK_FONT = "STSong-Light"

TableSpec = Sequence[Sequence[str]]
Item = str | TableSpec


def merge_areas(rows: TableSpec) -> list[tuple[int, int, int, int]]:
    """(row0, col0, row1, col1) inclusive of every merged rectangle spanning more than one cell."""
    areas = []
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            if text in (MERGE_LEFT, MERGE_UP):
                continue
            c1 = c
            while c1 + 1 < len(row) and row[c1 + 1] == MERGE_LEFT:
                c1 += 1
            r1 = r
            while r1 + 1 < len(rows) and c < len(rows[r1 + 1]) and rows[r1 + 1][c] == MERGE_UP:
                r1 += 1
            if (r1, c1) != (r, c):
                areas.append((r, c, r1, c1))
    return areas


def _split_at_page_breaks(rows: TableSpec) -> list[list[list[str]]]:
    """Table chunks between `[PAGE_BREAK]` rows; a merge cut by the break restarts empty."""
    chunks: list[list[list[str]]] = [[]]
    for row in rows:
        if list(row) == [PAGE_BREAK]:
            chunks.append([])
            continue
        cells = list(row)
        if not chunks[-1]:
            cells = ["" if t == MERGE_UP else t for t in cells]
        chunks[-1].append(cells)
    return [c for c in chunks if c]


# ------------------------------------------------------------------------------------ docx


def build_docx(items: Sequence[Item]) -> bytes:
    """A .docx whose body holds the paragraphs and tables in order, merges as gridSpan/vMerge."""
    import docx

    document = docx.Document()
    for item in items:
        if isinstance(item, str):
            if item == PAGE_BREAK:
                document.add_page_break()
            else:
                document.add_paragraph(item)
            continue
        for k, chunk in enumerate(_split_at_page_breaks(item)):
            if k:
                document.add_page_break()
            _add_docx_table(document, chunk)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _add_docx_table(document: object, rows: TableSpec) -> None:
    width = max(len(r) for r in rows)
    table = document.add_table(rows=len(rows), cols=width)  # type: ignore[attr-defined]
    table.style = "Table Grid"
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            if text not in (MERGE_LEFT, MERGE_UP):
                _set_cell_text(table.cell(r, c), text)
    for r0, c0, r1, c1 in merge_areas(rows):
        text = rows[r0][c0]
        merged = table.cell(r0, c0).merge(table.cell(r1, c1))
        _set_cell_text(merged, text)


def _set_cell_text(cell: object, text: str) -> None:
    """One paragraph per "\\n"-separated part (python-docx cells start with one empty paragraph)."""
    parts = text.split("\n")
    paragraphs = cell.paragraphs  # type: ignore[attr-defined]
    for extra in paragraphs[1:]:
        extra._element.getparent().remove(extra._element)
    paragraphs[0].text = parts[0]
    for part in parts[1:]:
        cell.add_paragraph(part)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------- pdf


def _register_cjk_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def build_pdf(
    items: Sequence[Item],
    *,
    page_numbers: bool = True,
    col_widths: Sequence[float] | None = None,
    ruled: bool = True,
) -> bytes:
    """An A4 PDF with a real text layer: paragraphs, ruled tables (spans drawn as merged cells),
    and a `- N -` footer on every page. `ruled=False` prints tables without any rule."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import (
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    _register_cjk_font()
    body = ParagraphStyle("body", fontName=CJK_FONT, fontSize=10.5, leading=15, wordWrap="CJK")
    cell_style = ParagraphStyle("cell", parent=body, fontSize=9, leading=12)
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=72, rightMargin=72, topMargin=72, bottomMargin=72)
    flow: list[object] = []
    for item in items:
        if isinstance(item, str):
            flow.append(PageBreak() if item == PAGE_BREAK else Paragraph(_escape(item), body))
            continue
        for k, chunk in enumerate(_split_at_page_breaks(item)):
            if k:
                flow.append(PageBreak())
            width = max(len(r) for r in chunk)
            widths = list(col_widths) if col_widths else [doc.width / width] * width
            data = [
                [
                    "" if t in (MERGE_LEFT, MERGE_UP) else Paragraph(_escape(t).replace("\n", "<br/>"), cell_style)
                    for t in row
                ]
                + [""] * (width - len(row))
                for row in chunk
            ]
            style: list[tuple[object, ...]] = [("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
            if ruled:
                style.append(("GRID", (0, 0), (-1, -1), 0.5, "black"))
            style += [("SPAN", (c0, r0), (c1, r1)) for r0, c0, r1, c1 in merge_areas(chunk)]
            flow.append(Table(data, colWidths=widths, style=TableStyle(style)))
        flow.append(Spacer(1, 6))

    def footer(canvas: object, document: object) -> None:
        if page_numbers:
            canvas.setFont(CJK_FONT, 9)  # type: ignore[attr-defined]
            number = canvas.getPageNumber()  # type: ignore[attr-defined]
            canvas.drawCentredString(A4[0] / 2, 40, f"- {number} -")  # type: ignore[attr-defined]

    doc.build(flow, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_scanned_pdf(pages: int = 2, with_image: bool = True) -> bytes:
    """A PDF with pages but no text layer: a raster image and/or ruled vector graphics only."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    for _ in range(pages):
        if with_image:
            from PIL import Image, ImageDraw

            image = Image.new("L", (200, 100), 255)
            ImageDraw.Draw(image).rectangle((10, 10, 190, 90), outline=0)
            pdf.drawImage(ImageReader(image), 72, 500, width=400, height=200)
        for k in range(6):  # an empty ruled grid: vector graphics, no characters
            pdf.line(72, 300 + 20 * k, 500, 300 + 20 * k)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def build_encrypted_pdf(user_password: str = "secret") -> bytes:
    """A text PDF that needs a password to open."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    _register_cjk_font()
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, encrypt=user_password)
    pdf.setFont(CJK_FONT, 12)
    pdf.drawString(72, 700, "政府信息公开工作年度报告")
    pdf.showPage()
    pdf.save()
    return out.getvalue()
