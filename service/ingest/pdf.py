"""Read a PDF's text layer by coordinates: tables rebuilt from their ruling lines, prose in reading order.

A plain text dump of these reports lists every row label first and then the values column by
column (layout family 5); reading the characters' positions against the table's ruling lines
puts each value back on its row. Text outside the tables is read line by line, top to bottom.
"""

from __future__ import annotations

import io
import logging
import re
import time
import zlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

from service.document import Table
from service.errors import DocumentTooLarge, NianbaoError, UnreadableDocument
from service.ingest.docx import (
    Block,
    SourceCell,
    SourceGrid,
    SourceTable,
    join_fragments,
    render_blocks,
)
from service.ingest.limits import Limits, check_chars, too_many_pages, too_much_inflated
from service.ingest.normalize import normalize_text

# pdfminer logs a WARNING for every font quirk it works around (Chromium's PDFs: "Could not get
# FontBBox from font descriptor…", once per font and page) and pdfplumber a few of its own. They
# never change what we read, and with no handler configured Python prints them on stderr, over
# the CLI's output. Only errors are let through.
for _name in ("pdfminer", "pdfplumber"):
    logging.getLogger(_name).setLevel(logging.ERROR)

# A rect this thin is a drawn rule; a bigger filled rect without a stroke is a background or a
# cell shading, and counting its edges as rulings turns ordinary prose into one-column "tables".
_RULE_THICKNESS = 2.0
_SNAP = 1.5  # points: coordinates closer than this are one grid line
_TABLE_SETTINGS: dict[str, Any] = {
    "vertical_strategy": "lines",
    "horizontal_strategy": "lines",
    "snap_tolerance": 3,
    "join_tolerance": 3,
    "intersection_tolerance": 3,
}
_FOOTER = re.compile(
    r"^(?:[-—–―－]\s*\d{1,4}\s*[-—–―－]|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"
    r"|\d{1,4}\s*/\s*\d{1,4})$"
)
_BARE_PAGE_NUMBER = re.compile(r"^\d{1,4}$")
_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+%?$")
_INFLATE_CHUNK = 1 << 20


@dataclass
class _Placed:
    """A block with its vertical position on the page, for reading order."""

    top: float
    block: Block


def read_pdf(
    data: bytes, limits: Limits | None = None, seconds: float | None = None
) -> tuple[str, list[Table], int]:
    """(normalized text, tables, page count) of a PDF with a text layer; refuses scans and junk.

    What may be refused is refused before the expensive step: the page count the PDF declares,
    then the pages actually found and their content streams' inflated size, then the characters
    printed on all pages (counted by pdfium, in C, before any page is laid out). Reading then
    stops past `seconds` of CPU (default NIANBAO_PDF_SECONDS), checked between pages.
    """
    limits = limits or Limits.from_settings()
    budget = _Budget(_pdf_seconds() if seconds is None else seconds)
    pdf = _open_pdf(data)
    try:
        declared = _declared_page_count(pdf)
        if declared is not None and declared > limits.max_pages:
            raise too_many_pages(limits.max_pages, declared)
        inflated = 0
        found = []
        for page in _iter_pages(pdf, limits.max_pages):
            inflated += _content_size(page, limits.max_inflated_bytes - inflated, limits.max_inflated_bytes)
            found.append(page)
        if not found:
            raise UnreadableDocument("the PDF has no pages", "PDF 文件没有页面")
        _check_printed_chars(data, limits)
        pages: list[tuple[list[_Placed], int]] = []
        chars = 0
        for page in found:
            budget.check(len(pages), len(found))
            pages.append(_read_page(page))
            page.close()
            chars += pages[-1][1]
            check_chars(chars, limits)
        page_count = len(pages)
    except NianbaoError:
        raise
    except Exception as exc:  # pdfminer raises many exception types on damaged files
        raise UnreadableDocument(
            f"the PDF is damaged and cannot be read ({type(exc).__name__}: {exc})",
            f"PDF 文件已损坏，无法读取：{exc}",
        ) from exc
    finally:
        # Not pdf.close(): it builds every page of the document first, to close each one.
        pdf.stream.close()
    if sum(count for _, count in pages) == 0:
        raise UnreadableDocument(
            "the PDF has no text layer (a scanned document); it needs OCR before it can be read",
            "PDF 没有文字层（扫描件），需要先进行 OCR 文字识别",
        )
    text, tables = render_blocks(_join_pages([placed for placed, _ in pages]), origin="pdf")
    if not text.strip():
        raise UnreadableDocument(
            "the PDF's text layer is empty; it needs OCR", "PDF 文字层为空，需要 OCR 文字识别"
        )
    return text, tables, page_count


def _pdf_seconds() -> float:
    from service.config import get_settings

    return get_settings().pdf_seconds


class _Budget:
    """CPU time of the reading thread (not wall time: a busy machine must not refuse reports),
    measured from the start of the read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.thread_time()

    def check(self, done: int, total: int) -> None:
        if time.thread_time() - self.started > self.seconds:
            raise too_complex(self.seconds, done, total)


def too_complex(seconds: float, done: int, total: int) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"the PDF is too complex to read in bounded time: more than {seconds:g} s of CPU "
        f"(NIANBAO_PDF_SECONDS) spent with {done} of its {total} pages read; send a text or "
        "Word (.docx) version of the report",
        f"PDF 过于复杂，无法在限定时间内读取：已用 {seconds:g} 秒以上 CPU 时间（NIANBAO_PDF_SECONDS），"
        f"{total} 页中只读完 {done} 页；请提供文本或 Word（.docx）版本的报告",
    )


def _check_printed_chars(data: bytes, limits: Limits) -> None:
    """Refuse past the character cap by pdfium's count of the characters printed on each page,
    which costs milliseconds where laying the pages out costs seconds. Whitespace is not
    counted (as in the reading), bold overprints are (the reading drops them): a bound from
    above. A PDF pdfium cannot open is left to the reading to judge."""
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return
    try:
        total = 0
        for index in range(len(doc)):
            page = doc[index]
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            textpage.close()
            page.close()
            total += len("".join(text.split()))
            check_chars(total, limits)
    finally:
        doc.close()


def _declared_page_count(pdf: Any) -> int | None:
    """The /Count of the page tree: cheap to read, but it may lie (the pages are counted too)."""
    from pdfminer.pdftypes import resolve1

    try:
        count = resolve1(resolve1(pdf.doc.catalog.get("Pages")).get("Count"))
    except Exception:  # a missing or damaged page tree: the walk below decides
        return None
    return count if isinstance(count, int) else None


def _content_size(page: Any, budget: int, limit: int) -> int:
    """Inflated bytes of the page's content streams, refused past `budget`, before pdfminer
    inflates them whole (a few KB of deflated spaces make a gigabyte)."""
    from pdfminer.pdftypes import PDFStream, resolve1

    used = 0
    for ref in page.page_obj.contents:
        stream = resolve1(ref)
        if isinstance(stream, PDFStream):
            used += _stream_size(stream, budget - used)
            if used > budget:
                raise too_much_inflated(limit, f"the content of page {page.page_number}")
    return used


def _stream_size(stream: Any, cap: int) -> int:
    """The stream's decoded size when its first filter is Flate (counted up to just past `cap`,
    in bounded chunks); otherwise its raw size (the other filters do not inflate much)."""
    from pdfminer.pdftypes import LITERALS_FLATE_DECODE

    if stream.data is not None:
        return len(stream.data)
    data = stream.rawdata or b""
    filters = stream.get_filters()
    if not filters or filters[0][0] not in LITERALS_FLATE_DECODE:
        return len(data)
    if stream.decipher:
        data = stream.decipher(stream.objid, stream.genno, data, stream.attrs)
    inflater = zlib.decompressobj()
    size = 0
    try:
        while data and size <= cap:
            size += len(inflater.decompress(data, _INFLATE_CHUNK))
            data = inflater.unconsumed_tail
    except zlib.error:
        return len(stream.rawdata or b"")  # damaged: pdfminer copes or fails on its own
    return size


def _deduped(page: Any) -> Any:
    """The page without duplicate characters (the same glyph printed twice for a bold effect).

    pdfplumber's Page.dedupe_chars with the same rule (same text, font and size, positions
    within 1pt), but linear after sorting: pdfplumber restores the order with list.index,
    quadratic in the characters of the page (a dense page took seconds).
    """
    from pdfplumber.utils import cluster_objects

    chars = page.chars
    key = itemgetter("upright", "text", "fontname", "size")
    keep: set[int] = set()
    for _, group in groupby(sorted(chars, key=key), key=key):
        for line in cluster_objects(list(group), itemgetter("doctop"), 1):
            for spot in cluster_objects(line, itemgetter("x0"), 1):
                keep.add(id(min(spot, key=itemgetter("doctop", "x0"))))
    return page.filter(lambda obj: obj.get("object_type") != "char" or id(obj) in keep)


def _iter_pages(pdf: Any, max_pages: int) -> Iterator[Any]:
    """pdfplumber pages, built one at a time (pdf.pages builds all of them first)."""
    from pdfminer.pdfpage import PDFPage
    from pdfplumber.page import Page

    doctop = 0.0
    for index, page_obj in enumerate(PDFPage.create_pages(pdf.doc)):
        if index >= max_pages:
            raise too_many_pages(max_pages)
        page = Page(pdf, page_obj, page_number=index + 1, initial_doctop=doctop)
        doctop += page.height
        yield page


def _open_pdf(data: bytes) -> Any:
    """Open with pdfplumber, turning pdfminer's errors into a reason the user can act on."""
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    try:
        return pdfplumber.open(io.BytesIO(data))
    except Exception as exc:
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
        if isinstance(cause, PDFPasswordIncorrect | PDFEncryptionError):
            raise UnreadableDocument(
                "the PDF is encrypted (password protected); send an unprotected copy",
                "PDF 已加密（需要密码），请提供未加密的文件",
            ) from exc
        raise UnreadableDocument(
            f"not a readable PDF ({type(cause).__name__}: {cause})",
            f"无法读取 PDF（文件损坏或不是 PDF）：{cause}",
        ) from exc


def _read_page(page: Any) -> tuple[list[_Placed], int]:
    """One page's prose lines and tables in reading order, plus its character count."""
    page = _deduped(page)
    chars = [c for c in page.chars if c["text"].strip()]
    if not chars:
        return [], 0
    if _mostly_unmapped(chars):
        raise UnreadableDocument(
            "the PDF's fonts have no Unicode mapping (text reads as glyph codes); it needs OCR",
            "PDF 字体缺少 Unicode 映射，文字无法提取，需要 OCR 文字识别",
        )
    ruled = page.filter(_is_ruling_or_content)
    settings = {**_TABLE_SETTINGS, "explicit_horizontal_lines": _closing_rules(ruled.edges)}
    grids = [g for g in (_Grid.from_cells(t.cells) for t in ruled.find_tables(settings)) if g]
    placed: list[_Placed] = []
    buckets: dict[int, list[dict[str, Any]]] = {}
    prose_chars: list[dict[str, Any]] = []
    for char in chars:
        owner = next((g for g in grids if g.contains(char)), None)
        if owner is None:
            prose_chars.append(char)
        else:
            buckets.setdefault(id(owner.cell_at(char)), []).append(char)
    for grid in grids:
        placed.append(_Placed(grid.top, grid.to_source_table(buckets)))
    placed.extend(_prose_lines(page, prose_chars))
    placed.sort(key=lambda p: p.top)
    return _drop_footers(placed, page.height), len(chars)


def _mostly_unmapped(chars: Sequence[dict[str, Any]]) -> bool:
    unmapped = sum(1 for c in chars if c["text"].startswith("(cid:"))
    return unmapped > len(chars) / 2


def _is_ruling_or_content(obj: dict[str, Any]) -> bool:
    """Keep everything except filled, unstroked rects thicker than a rule (backgrounds, shading)."""
    if obj.get("object_type") != "rect":
        return True
    thickness = min(obj["x1"] - obj["x0"], obj["bottom"] - obj["top"])
    return bool(obj.get("stroke")) or thickness <= _RULE_THICKNESS


def _closing_rules(edges: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Horizontal rules where several vertical rules start or end together but none is drawn.

    Word leaves a table's last row open at a page break (and its first row open on the next
    page); without closing it the row, and every cell merged down into it, would be lost.
    """
    verticals = [e for e in edges if e.get("orientation") == "v"]
    rules = []
    for key in ("top", "bottom"):
        for group in _groups(verticals, key):
            if len(group) < 2:
                continue
            y = sum(e[key] for e in group) / len(group)
            x0, x1 = min(e["x0"] for e in group), max(e["x1"] for e in group)
            rules.append(
                {"object_type": "line", "x0": x0, "x1": x1, "top": y, "bottom": y,
                 "y0": y, "y1": y, "width": x1 - x0, "height": 0.0}
            )
    return rules


def _groups(edges: Sequence[dict[str, Any]], key: str) -> list[list[dict[str, Any]]]:
    """Edges whose `key` coordinate agrees within _SNAP, grouped."""
    groups: list[list[dict[str, Any]]] = []
    for edge in sorted(edges, key=lambda e: e[key]):
        if groups and edge[key] - groups[-1][-1][key] <= _SNAP:
            groups[-1].append(edge)
        else:
            groups.append([edge])
    return groups


def _cluster(values: Sequence[float]) -> list[float]:
    """Sorted coordinates with near-duplicates (within _SNAP) merged."""
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > _SNAP:
            out.append(v)
    return out


def _index(bounds: Sequence[float], value: float) -> int:
    """The grid line nearest to a cell edge."""
    return min(range(len(bounds)), key=lambda i: abs(bounds[i] - value))


class _Grid:
    """A ruled table on one page: its grid lines and which source cell covers each position."""

    def __init__(self, xs: list[float], ys: list[float], owners: SourceGrid) -> None:
        self.xs, self.ys, self.owners = xs, ys, owners

    @property
    def top(self) -> float:
        return self.ys[0]

    @classmethod
    def from_cells(cls, cells: Sequence[tuple[float, float, float, float]]) -> _Grid | None:
        """Lay pdfplumber's cell boxes onto one grid; merged boxes cover several positions.

        A one-column "table" is a box drawn around prose, not a data table: None.
        """
        xs = _cluster([v for c in cells for v in (c[0], c[2])])
        ys = _cluster([v for c in cells for v in (c[1], c[3])])
        if len(xs) < 3 or len(ys) < 2:
            return None
        owners: list[list[SourceCell | None]] = [[None] * (len(xs) - 1) for _ in ys[:-1]]
        for x0, top, x1, bottom in cells:
            cell = SourceCell("")
            for r in range(_index(ys, top), _index(ys, bottom)):
                for c in range(_index(xs, x0), _index(xs, x1)):
                    owners[r][c] = cell
        # A position no box covers (a rule missing at a page break) still holds its own text.
        filled = [[o if o is not None else SourceCell("") for o in row] for row in owners]
        return cls(xs, ys, filled)

    def contains(self, char: dict[str, Any]) -> bool:
        cx, cy = _center(char)
        return self.xs[0] <= cx <= self.xs[-1] and self.ys[0] <= cy <= self.ys[-1]

    def cell_at(self, char: dict[str, Any]) -> SourceCell:
        cx, cy = _center(char)
        c = min(max(bisect_right(self.xs, cx) - 1, 0), len(self.xs) - 2)
        r = min(max(bisect_right(self.ys, cy) - 1, 0), len(self.ys) - 2)
        return self.owners[r][c]

    def to_source_table(self, buckets: dict[int, list[dict[str, Any]]]) -> SourceTable:
        """Fill each source cell with its characters' text, lines joined without newlines."""
        from pdfplumber.utils import extract_text

        done: set[int] = set()
        for row in self.owners:
            for cell in row:
                if id(cell) in done:
                    continue
                done.add(id(cell))
                chars = buckets.get(id(cell), [])
                if chars:
                    cell.text = join_fragments(extract_text(chars).split("\n"))
        return SourceTable(rows=[list(row) for row in self.owners])


def _center(char: dict[str, Any]) -> tuple[float, float]:
    return (char["x0"] + char["x1"]) / 2, (char["top"] + char["bottom"]) / 2


def _prose_lines(page: Any, chars: list[dict[str, Any]]) -> list[_Placed]:
    """Lines of the characters outside every ruled table, in reading order.

    Runs of lines split into aligned segments by wide gaps are a table printed without rules:
    they become a grid too (the text-alignment fallback), so their values keep their columns.
    """
    if not chars:
        return []
    keep = {id(c) for c in chars}
    rest = page.filter(lambda o: o.get("object_type") != "char" or id(o) in keep)
    lines = [
        (line["top"], line["text"], _segments(line["chars"]))
        for line in rest.extract_text_lines(strip=True, return_chars=True)
        if line["text"].strip()
    ]
    placed: list[_Placed] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and len(lines[j][2]) >= 2:
            j += 1
        run = [segs for _, _, segs in lines[i:j]]
        if j - i >= 2 and max(len(segs) for segs in run) >= 3:
            placed.append(_Placed(lines[i][0], _aligned_table(run)))
            i = j
            continue
        top, text, _ = lines[i]
        placed.append(_Placed(top, normalize_text(text).strip()))
        i += 1
    return placed


_Segment = tuple[float, float, str]  # x0, x1, text


def _segments(chars: Sequence[dict[str, Any]]) -> list[_Segment]:
    """A line's characters cut wherever the gap is wider than two characters."""
    from pdfplumber.utils import extract_text

    ordered = sorted(chars, key=lambda c: c["x0"])
    if not ordered:
        return []
    sizes = sorted(c["x1"] - c["x0"] for c in ordered if c["text"].strip())
    gap = 2 * (sizes[len(sizes) // 2] if sizes else 5.0)
    groups: list[list[dict[str, Any]]] = [[ordered[0]]]
    for char in ordered[1:]:
        if char["x0"] - groups[-1][-1]["x1"] > gap:
            groups.append([char])
        else:
            groups[-1].append(char)
    return [
        (g[0]["x0"], max(c["x1"] for c in g), extract_text(g))
        for g in groups
        if "".join(c["text"] for c in g).strip()
    ]


def _aligned_table(run: Sequence[list[_Segment]]) -> SourceTable:
    """Columns are the x-ranges where segments of the run overlap; each line is one row."""
    columns: list[list[float]] = []
    for x0, x1, _ in sorted(seg for segs in run for seg in segs):
        if columns and x0 <= columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], x1)
        else:
            columns.append([x0, x1])
    rows: SourceGrid = []
    for segs in run:
        texts = [""] * len(columns)
        for x0, x1, text in segs:
            col = next(k for k, (c0, c1) in enumerate(columns) if x0 <= c1 and x1 >= c0)
            texts[col] = (texts[col] + " " + text).strip()
        rows.append([SourceCell(t) for t in texts])
    return SourceTable(rows=rows)


def _drop_footers(placed: list[_Placed], page_height: float) -> list[_Placed]:
    """Drop page numbers alone on a line: `- 3 -`, `第3页`, `3/5`, or a bare number at the bottom."""
    out = []
    for i, item in enumerate(placed):
        if isinstance(item.block, str):
            line = re.sub(r"\s+", " ", item.block).strip()
            if _FOOTER.match(line):
                continue
            is_last = i == len(placed) - 1
            if is_last and _BARE_PAGE_NUMBER.match(line) and item.top > page_height * 0.85:
                continue
        out.append(item)
    return out


def _join_pages(pages: Sequence[list[_Placed]]) -> list[Block]:
    """Concatenate pages; a table continued at the top of the next page joins the previous one."""
    blocks: list[Block] = []
    tail: SourceTable | None = None  # the table that ended the previous page
    for placed in pages:
        items = [p.block for p in placed]
        if tail is not None and items and isinstance(items[0], SourceTable):
            rows = _continuation_rows(tail, items[0])
            if rows is not None:
                tail.rows.extend(rows)
                items = items[1:]
                if not items:
                    continue  # the whole page continued the table: it may go on further
        blocks.extend(items)
        tail = items[-1] if items and isinstance(items[-1], SourceTable) else None
    return blocks


def _continuation_rows(previous: SourceTable, nxt: SourceTable) -> SourceGrid | None:
    """The rows to append if `nxt` continues `previous` across a page break, else None.

    Same column count and no header of its own; a header identical to the previous table's
    first row (Word's "repeat header row") is dropped. A label split by the break stays split.
    """
    if not nxt.rows or not previous.rows or len(nxt.rows[0]) != len(previous.rows[0]):
        return None
    first = [c.text for c in nxt.rows[0]]
    if first == [c.text for c in previous.rows[0]]:
        return nxt.rows[1:]
    if _looks_like_header(nxt.rows[0]):
        return None
    return nxt.rows


def _looks_like_header(row: Sequence[SourceCell]) -> bool:
    """Every cell holds a label and none a number: the start of a new table, not a continuation."""
    texts = [c.text.strip() for c in row]
    return all(texts) and not any(_NUMBER.match(t) for t in texts)
