"""Read a PDF's text layer by coordinates: tables rebuilt from their ruling lines, prose in reading order.

A plain text dump of these reports lists every row label first and then the values column by
column (layout family 5); reading the characters' positions against the table's ruling lines
puts each value back on its row. Text outside the tables is read line by line, top to bottom.

pdfium (C) interprets the pages: characters with their boxes, and the painted paths. They are
laid out as pdfminer/pdfplumber would lay them out, and pdfplumber's table finder and text-line
grouping do the rest; pdfminer only walks the page tree and measures the content streams
before pdfium inflates them.
"""

from __future__ import annotations

import ctypes
import io
import itertools
import logging
import math
import re
import threading
import time
import zlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple

import pdfplumber
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfpage import PDFPage
from pdfminer.pdftypes import LITERALS_FLATE_DECODE, PDFStream, resolve1
from pdfplumber.table import TableFinder
from pdfplumber.utils import chars_to_textmap, extract_text

from service.document import CellBox, Table
from service.errors import DocumentTooLarge, NianbaoError, UnreadableDocument
from service.ingest.docx import (
    Block,
    SourceCell,
    SourceGrid,
    SourceTable,
    join_fragments,
    pad_grid,
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
# pdfium is not thread-safe, not even across documents: every call into it from this process
# (reading a PDF, rendering a page image) holds this lock.
PDFIUM_LOCK = threading.RLock()
_BBox = tuple[float, float, float, float]  # x0, top, x1, bottom in points from the page's top-left


@dataclass
class _Placed:
    """A block with its vertical position on the page, for reading order."""

    top: float
    block: Block


class PdfRead(NamedTuple):
    """What a PDF reads into: the text, its tables, the page count, and where each grid cell stood."""

    text: str
    tables: list[Table]
    pages: int
    boxes: list[CellBox]


def read_pdf(
    data: bytes, limits: Limits | None = None, seconds: float | None = None
) -> tuple[str, list[Table], int]:
    """(normalized text, tables, page count) of a PDF with a text layer: read_pdf_document without the boxes."""
    read = read_pdf_document(data, limits, seconds)
    return read.text, read.tables, read.pages


def read_pdf_document(
    data: bytes, limits: Limits | None = None, seconds: float | None = None
) -> PdfRead:
    """Text, tables, page count and cell boxes of a PDF with a text layer; refuses scans and junk.

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
        inflated = found = 0
        for page_obj in _iter_pages(pdf, limits.max_pages):
            found += 1
            inflated += _content_size(page_obj, found, limits.max_inflated_bytes - inflated,
                                      limits.max_inflated_bytes)
        if not found:
            raise UnreadableDocument("the PDF has no pages", "PDF 文件没有页面")
    except NianbaoError:
        raise
    except Exception as exc:  # pdfminer raises many exception types on damaged files
        raise _damaged(exc) from exc
    finally:
        # Not pdf.close(): it builds every page of the document first, to close each one.
        pdf.stream.close()
    with PDFIUM_LOCK:
        pages = _read_pages(data, found, limits, budget)
    if sum(page.chars for page in pages) == 0:
        raise UnreadableDocument(
            "the PDF has no text layer (a scanned document); it needs OCR before it can be read",
            "PDF 没有文字层（扫描件），需要先进行 OCR 文字识别",
        )
    blocks = _join_pages([page.placed for page in pages])
    text, tables = render_blocks(blocks, origin="pdf")
    if not text.strip():
        raise UnreadableDocument(
            "the PDF's text layer is empty; it needs OCR", "PDF 文字层为空，需要 OCR 文字识别"
        )
    return PdfRead(text, tables, found, _cell_boxes(blocks, tables, pages))


@dataclass
class _PageRead:
    """One page read: its blocks in reading order, its character count, where each ruled grid
    cell stood (reading coordinates), and the rendered page's frame in those coordinates."""

    placed: list[_Placed]
    chars: int
    cells: list[tuple[SourceCell, _BBox]]
    frame: _BBox


def _read_pages(data: bytes, found: int, limits: Limits, budget: _Budget) -> list[_PageRead]:
    """Every page laid out by pdfium (the caller holds PDFIUM_LOCK)."""
    doc = _open_pdfium(data)
    try:
        if len(doc) != found:  # the two readers disagree on a damaged page tree
            raise UnreadableDocument(
                f"the PDF's page tree is damaged ({found} or {len(doc)} pages)",
                f"PDF 文件的页面目录已损坏（{found} 页或 {len(doc)} 页）",
            )
        loaded = _load_pages(doc, limits)
        pages: list[_PageRead] = []
        chars = 0
        try:
            for index, (page, textpage) in enumerate(loaded):
                budget.check(index, found)
                content = _PageContent.of(page, textpage)
                pages.append(_read_page(content))
                chars += pages[-1].chars
                check_chars(chars, limits)
        finally:
            _close(loaded)
    except NianbaoError:
        raise
    except Exception as exc:  # pdfium's errors on a page it cannot load
        raise _damaged(exc) from exc
    finally:
        doc.close()
    return pages


def _cell_boxes(blocks: Sequence[Block], tables: Sequence[Table], pages: Sequence[_PageRead]) -> list[CellBox]:
    """A CellBox for every ruled grid cell, on the span its text got in the rendered document.

    render_blocks renders the non-empty source tables in order, position for position: the
    source cell at (r, c) is the rendered cell at (r, c). Boxes are moved into the frame of the
    rendered page (the crop box, turned upright), which is what a page image shows.
    """
    where = {id(cell): (number, bbox) for number, page in enumerate(pages, start=1) for cell, bbox in page.cells}
    rendered = [b for b in blocks if isinstance(b, SourceTable) and (g := pad_grid(b.rows)) and g[0]]
    if len(rendered) != len(tables):  # render_blocks changed its rule: no boxes rather than wrong ones
        return []
    boxes: list[CellBox] = []
    done: set[int] = set()
    for block, table in zip(rendered, tables, strict=True):
        for source_row, row in zip(block.rows, table.rows, strict=False):
            for source, cell in zip(source_row, row, strict=False):
                if id(source) in done or id(source) not in where or cell.span is None:
                    continue
                done.add(id(source))
                number, (x0, top, x1, bottom) = where[id(source)]
                fx0, ftop, fx1, fbottom = pages[number - 1].frame
                width, height = fx1 - fx0, fbottom - ftop
                boxes.append(CellBox(
                    span=cell.span, page=number,
                    bbox=(_clip(x0 - fx0, width), _clip(top - ftop, height),
                          _clip(x1 - fx0, width), _clip(bottom - ftop, height)),
                    page_width=width, page_height=height,
                ))
    boxes.sort(key=lambda b: b.span)
    return boxes


def _clip(value: float, limit: float) -> float:
    return round(min(max(value, 0.0), limit), 2)


def render_page_png(data: bytes, number: int, scale: float, max_pixels: int) -> bytes | None:
    """Page `number` (1-based) as a PNG at `scale` pixels per point, shrunk to at most
    `max_pixels` pixels; None when the PDF has no such page. pdfium renders the crop box,
    turned upright: the frame CellBox coordinates are given in."""
    with PDFIUM_LOCK:
        doc = _open_pdfium(data)
        try:
            if not 1 <= number <= len(doc):
                return None
            page = doc[number - 1]
            try:
                width, height = page.get_size()
                scale = min(scale, (max_pixels / max(width * height, 1.0)) ** 0.5)
                while math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:
                    scale *= 0.98  # pdfium rounds the bitmap's sides up
                bitmap = page.render(scale=scale)
                image = bitmap.to_pil().copy()  # to_pil shares the bitmap's memory
                bitmap.close()
            finally:
                page.close()
        finally:
            doc.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _damaged(exc: Exception) -> UnreadableDocument:
    return UnreadableDocument(
        f"the PDF is damaged and cannot be read ({type(exc).__name__}: {exc})",
        f"PDF 文件已损坏，无法读取：{exc}",
    )


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


def _load_pages(doc: Any, limits: Limits) -> list[tuple[Any, Any]]:
    """Every page with its text page, refused past the character cap by pdfium's count of the
    characters printed, which costs milliseconds where reading the pages costs far more.
    Whitespace is not counted (as in the reading), bold overprints are (the reading drops
    them): a bound from above. The pages stay loaded for the reading."""
    loaded: list[tuple[Any, Any]] = []
    total = 0
    try:
        for index in range(len(doc)):
            page = doc[index]
            loaded.append((page, page.get_textpage()))
            total += len("".join(loaded[-1][1].get_text_range().split()))
            check_chars(total, limits)
    except BaseException:
        _close(loaded)
        raise
    return loaded


def _close(loaded: Sequence[tuple[Any, Any]]) -> None:
    for page, textpage in loaded:
        textpage.close()
        page.close()


def _declared_page_count(pdf: Any) -> int | None:
    """The /Count of the page tree: cheap to read, but it may lie (the pages are counted too)."""
    try:
        count = resolve1(resolve1(pdf.doc.catalog.get("Pages")).get("Count"))
    except Exception:  # a missing or damaged page tree: the walk below decides
        return None
    return count if isinstance(count, int) else None


def _content_size(page_obj: Any, number: int, budget: int, limit: int) -> int:
    """Inflated bytes of the page's content streams, refused past `budget`, before pdfium
    inflates them whole (a few KB of deflated spaces make a gigabyte)."""
    used = 0
    for ref in page_obj.contents:
        stream = resolve1(ref)
        if isinstance(stream, PDFStream):
            used += _stream_size(stream, budget - used)
            if used > budget:
                raise too_much_inflated(limit, f"the content of page {number}")
    return used


def _stream_size(stream: Any, cap: int) -> int:
    """The stream's decoded size when its first filter is Flate (counted up to just past `cap`,
    in bounded chunks); otherwise its raw size (the other filters do not inflate much)."""
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


def _dedupe(chars: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The characters without duplicates (the same glyph printed twice for a bold effect).

    pdfplumber's Page.dedupe_chars with the same rule (same text, font and size, positions
    within 1pt, chained), but linear after sorting: pdfplumber restores the order with
    list.index, quadratic in the characters of the page (a dense page took seconds).
    """
    key = itemgetter("upright", "text", "fontname", "size")
    keep: set[int] = set()
    for _, group in groupby(sorted(chars, key=key), key=key):
        for line in _chained(list(group), "doctop"):
            for spot in _chained(line, "x0"):
                keep.add(id(min(spot, key=itemgetter("doctop", "x0"))))
    return [c for c in chars if id(c) in keep]


def _chained(objs: list[dict[str, Any]], key: str) -> list[list[dict[str, Any]]]:
    """pdfplumber's cluster_objects with a tolerance of 1pt: sorted values each within 1pt of
    the one before are one cluster."""
    if len(objs) == 1:
        return [objs]
    groups: list[list[dict[str, Any]]] = []
    for obj in sorted(objs, key=itemgetter(key)):
        if groups and obj[key] <= groups[-1][-1][key] + 1:
            groups[-1].append(obj)
        else:
            groups.append([obj])
    return groups


def _iter_pages(pdf: Any, max_pages: int) -> Iterator[Any]:
    """pdfminer's pages in page-tree order, refused past `max_pages` (the tree may lie)."""
    for index, page_obj in enumerate(PDFPage.create_pages(pdf.doc)):
        if index >= max_pages:
            raise too_many_pages(max_pages)
        yield page_obj


def _encrypted() -> UnreadableDocument:
    return UnreadableDocument(
        "the PDF is encrypted (password protected); send an unprotected copy",
        "PDF 已加密（需要密码），请提供未加密的文件",
    )


def _open_pdf(data: bytes) -> Any:
    """Open with pdfplumber, turning pdfminer's errors into a reason the user can act on."""
    try:
        return pdfplumber.open(io.BytesIO(data))
    except Exception as exc:
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
        if isinstance(cause, PDFPasswordIncorrect | PDFEncryptionError):
            raise _encrypted() from exc
        raise UnreadableDocument(
            f"not a readable PDF ({type(cause).__name__}: {cause})",
            f"无法读取 PDF（文件损坏或不是 PDF）：{cause}",
        ) from exc


def _open_pdfium(data: bytes) -> Any:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise _encrypted() from exc
        raise UnreadableDocument(
            f"not a readable PDF (pdfium: {exc})", f"无法读取 PDF（文件损坏或不是 PDF）：{exc}"
        ) from exc


_Matrix = tuple[float, float, float, float, float, float]
_Point = tuple[float, float]


def _mul(m: _Matrix, n: _Matrix) -> _Matrix:
    """m then n (PDF's row-vector convention, as pdfminer's mult_matrix)."""
    a, b, c, d, e, f = m
    a1, b1, c1, d1, e1, f1 = n
    return (a * a1 + b * c1, a * b1 + b * d1, c * a1 + d * c1, c * b1 + d * d1,
            e * a1 + f * c1 + e1, e * b1 + f * d1 + f1)


def _apply(m: _Matrix, x: float, y: float) -> _Point:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _pairs(box: Sequence[float]) -> tuple[tuple[float, float], tuple[float, float]]:
    """(left, bottom, right, top) → its x values and its y values."""
    left, bottom, right, top = box
    return (left, right), (bottom, top)


def _address_binding(function: Any, *argtypes: Any) -> Any:
    """A pdfium function returning a handle as a plain address, so that handles compare and
    hash as ints (pypdfium2's bindings return pointer objects, a cast each to compare)."""
    address = ctypes.cast(function, ctypes.c_void_p).value
    assert address is not None  # a symbol of the loaded library
    return ctypes.CFUNCTYPE(ctypes.c_void_p, *argtypes)(address)


_text_object = _address_binding(pdfium_c.FPDFText_GetTextObject, ctypes.c_void_p, ctypes.c_int)
_text_font = _address_binding(pdfium_c.FPDFTextObj_GetFont, ctypes.c_void_p)


@dataclass
class _PageContent:
    """What the reading uses of one page, as pdfplumber lays it out (its characters' boxes, its
    rules' edges, top-down coordinates), but taken from pdfium: pdfminer interprets content
    streams in Python, 70-90% of the reading time; pdfium does it in C.

    The boxes are pdfminer's: from the baseline's descent up one font size, one advance wide.
    Paths are classified as pdfminer does (a single segment is a line, a closed axis-aligned
    four-point loop a rect, anything else a curve) and turned into edges as pdfplumber does.
    """

    chars: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    width: float
    height: float
    frame: _BBox = (0.0, 0.0, 0.0, 0.0)  # the crop box (what a page image shows), same coordinates

    @classmethod
    def of(cls, page: Any, textpage: Any) -> _PageContent:
        x0, y0, x1, y1 = page.get_mediabox()
        rotation = page.get_rotation() % 360
        # pdfminer's page matrix: the media box's origin at (0, 0), the page turned upright
        ctm: _Matrix = {
            90: (0, -1, 1, 0, -y0, x1),
            180: (-1, 0, 0, -1, x1, y1),
            270: (0, 1, -1, 0, y1, -x0),
        }.get(rotation, (1, 0, 0, 1, -x0, -y0))
        width, height = (y1 - y0, x1 - x0) if rotation in (90, 270) else (x1 - x0, y1 - y0)
        corners = [_apply(ctm, x, y) for x, y in itertools.product(*_pairs(page.get_cropbox()))]
        frame = (min(p[0] for p in corners), height - max(p[1] for p in corners),
                 max(p[0] for p in corners), height - min(p[1] for p in corners))
        content = cls([], [], width, height, frame)
        order = content._read_paths(page, ctm)
        content._read_chars(textpage.raw, ctm)
        # pdfium orders a turned page's characters its own way: back to the content's order
        # (the objects'), which pdfplumber's line grouping keeps
        ranks = [order.get(c["object"], -1) for c in content.chars]
        if any(a > b for a, b in zip(ranks, ranks[1:], strict=False)):
            ranked = sorted(zip(ranks, range(len(ranks)), content.chars, strict=True))
            content.chars = [char for _, _, char in ranked]
        return content

    def _read_chars(self, textpage: Any, ctm: _Matrix) -> None:
        """The printed, non-blank characters (the reading drops blanks: none is needed).

        A text object's characters share its font, size, matrix and writing direction: those
        are asked once per object, the box once per character (ctypes calls are the cost).
        """
        box, matrix = pdfium_c.FS_RECTF(), pdfium_c.FS_MATRIX()
        ox, oy = ctypes.c_double(), ctypes.c_double()
        turned = ctm[:4] != (1, 0, 0, 1)
        handle = ctypes.cast(textpage, ctypes.c_void_p).value
        current = None
        font = size = height = a = b = c = d = 0.0
        vertical = upright = False
        for i in range(pdfium_c.FPDFText_CountChars(textpage)):
            code = pdfium_c.FPDFText_GetUnicode(textpage, i)
            text = chr(code) if 0 < code < 0x110000 else "\ufffd"
            if text.isspace():
                continue  # blanks, and the spaces and line breaks pdfium infers
            obj = _text_object(handle, i)
            if obj != current:
                current = obj
                pdfium_c.FPDFText_GetMatrix(textpage, i, matrix)
                pdfium_c.FPDFText_GetCharOrigin(textpage, i, ox, oy)
                a, b, c, d = matrix.a, matrix.b, matrix.c, matrix.d
                size = pdfium_c.FPDFText_GetFontSize(textpage, i)
                font = _text_font(obj) or 0
                height = size * max(abs(a), abs(d))
                # vertical writing moves the origin off the text object's baseline, to the
                # glyph's corner; horizontal writing leaves it there
                vertical = not (b or c) and abs(oy.value - matrix.f) >= 0.01
                if turned:
                    a, b, c, d, _, _ = _mul((a, b, c, d, 0, 0), ctm)
                upright = a * d > 0 and b * c <= 0
            pdfium_c.FPDFText_GetLooseCharBox(textpage, i, box)
            if vertical:
                # one font size wide, one vertical advance tall (pdfium's loose box has both,
                # but unscaled by the text matrix)
                pdfium_c.FPDFText_GetCharOrigin(textpage, i, ox, oy)
                x0, y0 = ox.value, oy.value
                x1, y1 = x0 + size * matrix.a, y0 + (box.top - box.bottom) * matrix.d
            else:
                # the advance from the loose box, one font size tall from the descent
                x0, x1, y0 = box.left, box.right, box.bottom
                y1 = y0 + size * matrix.d
            if turned:
                corners = [_apply(ctm, x, y) for x in (x0, x1) for y in (y0, y1)]
                x0, x1 = min(p[0] for p in corners), max(p[0] for p in corners)
                y0, y1 = min(p[1] for p in corners), max(p[1] for p in corners)
            else:
                x0, x1 = min(x0, x1) + ctm[4], max(x0, x1) + ctm[4]
                y0, y1 = min(y0, y1) + ctm[5], max(y0, y1) + ctm[5]
            self.chars.append({
                "text": text,
                "unmapped": bool(pdfium_c.FPDFText_HasUnicodeMapError(textpage, i)),
                "fontname": font,
                "size": height,
                "upright": upright,
                "x0": x0, "x1": x1, "top": self.height - y1, "bottom": self.height - y0,
                "doctop": self.height - y1, "object": obj,
            })

    def _read_paths(self, page: Any, ctm: _Matrix) -> dict[int, int]:
        """The edges of the page's painted paths; returns the text objects' order."""
        lines: list[dict[str, Any]] = []
        rects: list[dict[str, Any]] = []
        curves: list[dict[str, Any]] = []
        order: dict[int, int] = {}
        for obj, matrix in _page_objects(page.raw, pdfium_c.FPDFPage_CountObjects,
                                         pdfium_c.FPDFPage_GetObject, ctm):
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_TEXT:
                order[ctypes.cast(obj, ctypes.c_void_p).value or 0] = len(order)
            if kind != pdfium_c.FPDF_PAGEOBJ_PATH:
                continue
            for shape, pts in _subpaths(obj, matrix):
                self._classify(shape, pts, _stroked(obj), lines, rects, curves)
        for line in lines:
            line["orientation"] = "h" if line["top"] == line["bottom"] else "v"
        self.edges = lines + [e for r in rects for e in _rect_edges(r)] + [
            e for c in curves for e in _curve_edges(c)
        ]
        return order

    def _classify(self, shape: str, pts: list[_Point], stroke: bool, lines: list[dict[str, Any]],
                  rects: list[dict[str, Any]], curves: list[dict[str, Any]]) -> None:
        """pdfminer's paint_path for one subpath (points already on the page)."""
        if len(shape) > 3 and shape[-2:] == "lh" and pts[-2] == pts[0]:
            shape = shape[:-2] + "h"
            pts = pts[:-1]
        if shape in ("ml", "mlh"):
            lines.append({"object_type": "line", **self._box(pts[:2])})
        elif shape in ("mlllh", "mllll") and pts[0] == pts[4] and _is_square(pts):
            rect = self._box([pts[0], pts[2]])
            if stroke or min(rect["width"], rect["height"]) <= _RULE_THICKNESS:
                rects.append({"object_type": "rect", **rect})
        else:
            curves.append({"object_type": "curve", **self._box(pts),
                           "pts": [(x, self.height - y) for x, y in pts]})

    def _box(self, pts: Sequence[_Point]) -> dict[str, float]:
        x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
        top, bottom = self.height - max(p[1] for p in pts), self.height - min(p[1] for p in pts)
        return {"x0": x0, "x1": x1, "top": top, "bottom": bottom, "doctop": top,
                "width": x1 - x0, "height": bottom - top}


def _page_objects(parent: Any, count: Any, get: Any, matrix: _Matrix) -> Iterator[tuple[Any, _Matrix]]:
    """Every object of a page or form, forms entered, with the matrix to the page."""
    for i in range(count(parent)):
        obj = get(parent, i)
        own = pdfium_c.FS_MATRIX()
        if not pdfium_c.FPDFPageObj_GetMatrix(obj, own):
            continue
        full = _mul((own.a, own.b, own.c, own.d, own.e, own.f), matrix)
        if pdfium_c.FPDFPageObj_GetType(obj) == pdfium_c.FPDF_PAGEOBJ_FORM:
            yield from _page_objects(obj, pdfium_c.FPDFFormObj_CountObjects,
                                     pdfium_c.FPDFFormObj_GetObject, full)
        else:
            yield obj, full


def _stroked(obj: Any) -> bool:
    """Whether the path is stroked (a rect only filled may be a background, not a rule)."""
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    return bool(pdfium_c.FPDFPath_GetDrawMode(obj, fill, stroke)) and bool(stroke.value)


def _subpaths(obj: Any, matrix: _Matrix) -> Iterator[tuple[str, list[_Point]]]:
    """The path's subpaths as pdfminer sees them: operators (m, l, c, h) and each one's point
    on the page (a curve's end point; a close's the subpath's start)."""

    x, y = ctypes.c_float(), ctypes.c_float()
    shape: list[str] = []
    pts: list[_Point] = []
    bezier = 0
    for i in range(pdfium_c.FPDFPath_CountSegments(obj)):
        segment = pdfium_c.FPDFPath_GetPathSegment(obj, i)
        kind = pdfium_c.FPDFPathSegment_GetType(segment)
        pdfium_c.FPDFPathSegment_GetPoint(segment, x, y)
        point = _apply(matrix, x.value, y.value)
        if kind == pdfium_c.FPDF_SEGMENT_MOVETO:
            if len(shape) > 1:
                yield "".join(shape), pts
            shape, pts, bezier = ["m"], [point], 0
        elif kind == pdfium_c.FPDF_SEGMENT_BEZIERTO:
            bezier += 1
            if bezier % 3:
                continue  # a control point: pdfminer keeps the end point only
            shape.append("c")
            pts.append(point)
        else:
            shape.append("l")
            pts.append(point)
        if pdfium_c.FPDFPathSegment_GetClose(segment) and pts:
            shape.append("h")
            pts.append(pts[0])
    if len(shape) > 1:
        yield "".join(shape), pts


def _is_square(pts: Sequence[_Point]) -> bool:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts[:4]
    return (x0 == x1 and y1 == y2 and x2 == x3 and y3 == y0) or (
        y0 == y1 and x1 == x2 and y2 == y3 and x3 == x0
    )


def _rect_edges(rect: dict[str, Any]) -> list[dict[str, Any]]:
    """pdfplumber's rect_to_edges: the four sides."""
    top, bottom = rect["top"], rect["bottom"]
    return [
        {**rect, "object_type": "rect_edge", "height": 0, "bottom": top, "orientation": "h"},
        {**rect, "object_type": "rect_edge", "height": 0, "top": bottom, "doctop": bottom,
         "orientation": "h"},
        {**rect, "object_type": "rect_edge", "width": 0, "x1": rect["x0"], "orientation": "v"},
        {**rect, "object_type": "rect_edge", "width": 0, "x0": rect["x1"], "orientation": "v"},
    ]


def _curve_edges(curve: dict[str, Any]) -> list[dict[str, Any]]:
    """pdfplumber's curve_to_edges: one edge per pair of successive points."""
    return [
        {
            "object_type": "curve_edge",
            "x0": min(p0[0], p1[0]), "x1": max(p0[0], p1[0]),
            "top": min(p0[1], p1[1]), "doctop": min(p0[1], p1[1]), "bottom": max(p0[1], p1[1]),
            "width": abs(p0[0] - p1[0]), "height": abs(p0[1] - p1[1]),
            "orientation": "v" if p0[0] == p1[0] else ("h" if p0[1] == p1[1] else None),
        }
        for p0, p1 in zip(curve["pts"], curve["pts"][1:], strict=False)
    ]


@dataclass
class _RuledPage:
    """The two things pdfplumber's TableFinder asks of a page (with the "lines" strategy)."""

    edges: list[dict[str, Any]]
    bbox: tuple[float, float, float, float]


def _read_page(page: _PageContent) -> _PageRead:
    """One page's prose lines and tables in reading order, its character count, its grid cells' boxes."""
    chars = [c for c in _dedupe(page.chars) if c["text"].strip()]
    if not chars:
        return _PageRead([], 0, [], page.frame)
    if _mostly_unmapped(chars):
        raise UnreadableDocument(
            "the PDF's fonts have no Unicode mapping (text reads as glyph codes); it needs OCR",
            "PDF 字体缺少 Unicode 映射，文字无法提取，需要 OCR 文字识别",
        )
    edges = page.edges
    settings = {**_TABLE_SETTINGS, "explicit_horizontal_lines": _closing_rules(edges)}
    ruled = _RuledPage(edges, (0.0, 0.0, page.width, page.height))
    finder = TableFinder(ruled, settings)  # type: ignore[arg-type]
    grids = [g for g in (_Grid.from_cells(t.cells) for t in finder.tables) if g]
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
    cells = [item for grid in grids for item in grid.boxes.values()]
    placed.extend(_prose_lines(page, prose_chars, cells))
    placed.sort(key=lambda p: p.top)
    return _PageRead(_drop_footers(placed, page.height), len(chars), cells, page.frame)


def _mostly_unmapped(chars: Sequence[dict[str, Any]]) -> bool:
    unmapped = sum(1 for c in chars if c["unmapped"])
    return unmapped > len(chars) / 2


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

    def __init__(self, xs: list[float], ys: list[float], owners: SourceGrid,
                 boxes: dict[int, tuple[SourceCell, _BBox]]) -> None:
        self.xs, self.ys, self.owners = xs, ys, owners
        self.boxes = boxes  # id(cell) → (cell, the rectangle it covers)

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
        boxes: dict[int, tuple[SourceCell, _BBox]] = {}
        for x0, top, x1, bottom in cells:
            cell = SourceCell("")
            r0, r1, c0, c1 = _index(ys, top), _index(ys, bottom), _index(xs, x0), _index(xs, x1)
            for r in range(r0, r1):
                for c in range(c0, c1):
                    owners[r][c] = cell
            boxes[id(cell)] = (cell, (xs[c0], ys[r0], xs[c1], ys[r1]))
        # A position no box covers (a rule missing at a page break) still holds its own text.
        filled: SourceGrid = []
        for r, row in enumerate(owners):
            filled.append([])
            for c, owner in enumerate(row):
                if owner is None:
                    owner = SourceCell("")
                    boxes[id(owner)] = (owner, (xs[c], ys[r], xs[c + 1], ys[r + 1]))
                filled[-1].append(owner)
        return cls(xs, ys, filled, boxes)

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


def _prose_lines(page: _PageContent, chars: list[dict[str, Any]],
                 boxes: list[tuple[SourceCell, _BBox]] | None = None) -> list[_Placed]:
    """Lines of the characters outside every ruled table, in reading order.

    Runs of lines split into aligned segments by wide gaps are a table printed without rules:
    they become a grid too (the text-alignment fallback), so their values keep their columns;
    their cells' boxes (line height, the segments' width) go to `boxes`.
    """
    if not chars:
        return []
    textmap = chars_to_textmap(chars, layout_bbox=(0, 0, page.width, page.height),
                               layout_width=page.width, layout_height=page.height)
    lines = [
        (line["top"], line["text"], _segments(line["chars"]), line["bottom"])
        for line in textmap.extract_text_lines(strip=True, return_chars=True)
        if line["text"].strip()
    ]
    placed: list[_Placed] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and len(lines[j][2]) >= 2:
            j += 1
        run = [segs for _, _, segs, _ in lines[i:j]]
        if j - i >= 2 and max(len(segs) for segs in run) >= 3:
            heights = [(top, bottom) for top, _, _, bottom in lines[i:j]]
            placed.append(_Placed(lines[i][0], _aligned_table(run, heights, boxes)))
            i = j
            continue
        top, text, _, _ = lines[i]
        placed.append(_Placed(top, normalize_text(text).strip()))
        i += 1
    return placed


_Segment = tuple[float, float, str]  # x0, x1, text


def _segments(chars: Sequence[dict[str, Any]]) -> list[_Segment]:
    """A line's characters cut wherever the gap is wider than two characters."""
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


def _aligned_table(run: Sequence[list[_Segment]], heights: Sequence[tuple[float, float]] | None = None,
                   boxes: list[tuple[SourceCell, _BBox]] | None = None) -> SourceTable:
    """Columns are the x-ranges where segments of the run overlap; each line is one row. With the
    lines' (top, bottom), each cell's box goes to `boxes`: its segments' extent, else its column's."""
    columns: list[list[float]] = []
    for x0, x1, _ in sorted(seg for segs in run for seg in segs):
        if columns and x0 <= columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], x1)
        else:
            columns.append([x0, x1])
    rows: SourceGrid = []
    for r, segs in enumerate(run):
        texts = [""] * len(columns)
        extents = [list(c) for c in columns]
        inked = [False] * len(columns)
        for x0, x1, text in segs:
            col = next(k for k, (c0, c1) in enumerate(columns) if x0 <= c1 and x1 >= c0)
            texts[col] = (texts[col] + " " + text).strip()
            extents[col] = [x0, x1] if not inked[col] else [min(extents[col][0], x0), max(extents[col][1], x1)]
            inked[col] = True
        rows.append([SourceCell(t) for t in texts])
        if heights is not None and boxes is not None:
            top, bottom = heights[r]
            boxes.extend((cell, (x0, top, x1, bottom)) for cell, (x0, x1) in zip(rows[-1], extents, strict=True))
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
