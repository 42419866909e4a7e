"""Read a .docx body (paragraphs and tables in document order) into normalized text + grids.

Also holds the layout renderer shared with the PDF reader (`render_blocks`), so both binary
formats produce exactly the same text layout: prose one line each, a table row as ONE line of its
original cells joined by TAB, a blank line around each table, and cell spans into that text.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from service.document import Cell, Table
from service.errors import NianbaoError, UnreadableDocument
from service.ingest.limits import Limits, check_chars, too_much_inflated
from service.ingest.normalize import normalize_text

# --------------------------------------------------------------------------------------------
# Shared layout model and renderer (used by service.ingest.pdf too)
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class SourceCell:
    """One cell as printed in the source; a merged cell is one object at several grid positions."""

    text: str


SourceGrid = list[list[SourceCell]]


@dataclass
class SourceTable:
    """A table as laid out in the source, before rendering into the document text."""

    rows: SourceGrid = field(default_factory=list)


Block = str | SourceTable

_WS = re.compile(r"\s+")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


def clean_cell_text(text: str) -> str:
    """Normalize and collapse all white space (incl. newlines and tabs) to single spaces."""
    return _WS.sub(" ", normalize_text(text)).strip()


def join_fragments(fragments: Sequence[str]) -> str:
    """Join the lines/paragraphs of one cell without newlines.

    Chinese text wrapped inside a cell must be glued back (`商业` + `企业`); a space is kept only
    between two Latin words or numbers, where gluing would change the meaning.
    """
    out = ""
    for frag in fragments:
        frag = clean_cell_text(frag)
        if not frag:
            continue
        if out and _ASCII_WORD.match(out[-1]) and _ASCII_WORD.match(frag[0]):
            out += " "
        out += frag
    return out


def pad_grid(rows: SourceGrid) -> SourceGrid:
    """Make the grid rectangular: missing positions become empty cells of their own."""
    width = max((len(r) for r in rows), default=0)
    return [r + [SourceCell("") for _ in range(width - len(r))] for r in rows]


def _row_entries(grid: SourceGrid, r: int) -> list[tuple[SourceCell, bool]]:
    """The row's original cells in order; the flag says whether the cell starts in this row.

    A horizontally merged cell appears once; a vertically merged cell continued from above
    appears as an empty entry (what Word's own text export does: leading tabs).
    """
    entries: list[tuple[SourceCell, bool]] = []
    prev: SourceCell | None = None
    for cell in grid[r]:
        if cell is prev:
            continue
        prev = cell
        starts_here = r == 0 or all(cell is not other for other in grid[r - 1])
        entries.append((cell, starts_here))
    return entries


def render_blocks(blocks: Sequence[Block], origin: str) -> tuple[str, list[Table]]:
    """Lay blocks out as the one document text and build Tables whose spans index into it."""
    lines: list[str] = []
    pos = 0
    tables: list[Table] = []

    def add_line(line: str) -> int:
        nonlocal pos
        if lines:
            pos += 1  # the "\n" before this line
        start = pos
        lines.append(line)
        pos += len(line)
        return start

    for block in blocks:
        if isinstance(block, str):
            line = normalize_text(block).strip("\n")
            if line.strip():
                add_line(line)
            continue
        grid = pad_grid(block.rows)
        if not grid or not grid[0]:
            continue
        if lines and lines[-1] != "":
            add_line("")
        cells: dict[int, Cell] = {}
        out_rows: list[list[Cell]] = []
        table_start = table_end = -1
        for r in range(len(grid)):
            parts: list[str] = []
            offset = 0
            placed: list[tuple[SourceCell, int, str]] = []
            for cell, starts_here in _row_entries(grid, r):
                text = clean_cell_text(cell.text) if starts_here else ""
                if parts:
                    offset += 1  # the TAB
                if starts_here:
                    placed.append((cell, offset, text))
                parts.append(text)
                offset += len(text)
            start = add_line("\t".join(parts))
            if table_start < 0:
                table_start = start
            table_end = start + offset
            for cell, off, text in placed:
                cells[id(cell)] = Cell(text=text, span=(start + off, start + off + len(text)))
            out_rows.append([_cell_for(cells, c, start) for c in grid[r]])
        tables.append(Table(rows=out_rows, origin=origin, span=(table_start, table_end)))
        add_line("")
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines), tables


def _cell_for(cells: dict[int, Cell], cell: SourceCell, row_start: int) -> Cell:
    """The rendered Cell of a source cell (a continuation without a rendering: empty at row start)."""
    found = cells.get(id(cell))
    if found is None:
        found = cells[id(cell)] = Cell(text="", span=(row_start, row_start))
    return found


# --------------------------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_PACKAGE_RELS = "_rels/.rels"
_OFFICE_DOCUMENT = "/officeDocument"
_DEFAULT_MAIN = "word/document.xml"
_MAX_RELS_BYTES = 1 << 20
_CHUNK = 1 << 20
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_SKIP = {_MC_FALLBACK, _W + "del", _W + "moveFrom", _W + "pPr", _W + "rPr", _W + "tcPr"}


def read_docx(data: bytes, limits: Limits | None = None) -> tuple[str, list[Table]]:
    """Body paragraphs and tables in document order; merged cells expanded to the table grid."""
    limits = limits or Limits.from_settings()
    body = _open_body(data, limits.max_inflated_bytes)
    text, tables = render_blocks(list(_counted(_body_blocks(body), limits)), origin="docx")
    if not text.strip():
        raise UnreadableDocument("the .docx file contains no text", ".docx 文件中没有文字")
    return text, tables


def _counted(blocks: Iterator[Block], limits: Limits) -> Iterator[Block]:
    """The blocks, refused as soon as their text passes the character limit (before rendering)."""
    chars = 0
    for block in blocks:
        if isinstance(block, str):
            chars += len(block) + 1
        else:
            chars += sum(len(cell.text) + 1 for row in block.rows for cell in row)
        check_chars(chars, limits)
        yield block


def _damaged(exc: Exception) -> UnreadableDocument:
    return UnreadableDocument(
        f"not a readable .docx file ({type(exc).__name__}: {exc})",
        f"无法读取 .docx 文件（文件损坏或不是 Word 2007+ 格式）：{exc}",
    )


def _open_body(data: bytes, max_inflated: int) -> Any:
    """The w:body element, or a clear refusal for a damaged, non-docx or oversized file.

    Only the main document part is inflated (images and the rest are never read), through a
    capped stream: its declared size is checked first, then the bytes actually produced, since
    a zip's declared sizes can lie. Entities are not expanded (no "billion laughs").
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            xml = _inflate(package, _main_part(package), max_inflated)
    except (NianbaoError, MemoryError):
        raise
    except Exception as exc:  # zipfile/zlib raise many types on damaged archives
        raise _damaged(exc) from exc
    try:
        root = etree.fromstring(xml, parser=etree.XMLParser(
            remove_blank_text=True, resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise UnreadableDocument(
            f"damaged .docx file (XMLSyntaxError: {exc})", f".docx 文件已损坏：{exc}"
        ) from exc
    body = root.find(_W + "body")
    if body is None:
        raise UnreadableDocument("the .docx file has no document body", ".docx 文件中没有正文")
    return body


def _main_part(package: zipfile.ZipFile) -> str:
    """The name of the main document part: the package relationship says, else word/document.xml."""
    names = set(package.namelist())
    if _PACKAGE_RELS in names:
        rels = etree.fromstring(_inflate(package, _PACKAGE_RELS, _MAX_RELS_BYTES),
                                parser=etree.XMLParser(resolve_entities=False, no_network=True))
        for rel in rels:
            if str(rel.get("Type", "")).endswith(_OFFICE_DOCUMENT):
                target = str(rel.get("Target", "")).lstrip("/")
                if target in names:
                    return target
    if _DEFAULT_MAIN in names:
        return _DEFAULT_MAIN
    raise UnreadableDocument(
        "the ZIP archive holds no Word document part (word/document.xml)",
        "压缩包中没有 Word 文档正文（word/document.xml）",
    )


def _inflate(package: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One member's bytes, refused past `limit` by its declared size or while streaming."""
    info = package.getinfo(name)
    if info.file_size > limit:
        raise too_much_inflated(limit, name)
    out = bytearray()
    with package.open(info) as member:
        while chunk := member.read(_CHUNK):
            out += chunk
            if len(out) > limit:
                raise too_much_inflated(limit, name)
    return bytes(out)


def _body_blocks(container: Any) -> Iterator[Block]:
    """Paragraphs and tables in the order the body holds them (content controls unwrapped)."""
    for child in container:
        tag = child.tag
        if tag == _W + "p":
            text = _paragraph_text(child)
            for line in text.split("\n"):
                if line.strip():
                    yield line
        elif tag == _W + "tbl":
            yield SourceTable(rows=_table_grid(child))
        elif tag in (_W + "sdt", _W + "customXml", _W + "sdtContent"):
            inner = child.find(_W + "sdtContent") if tag == _W + "sdt" else child
            if inner is not None:
                yield from _body_blocks(inner)


def _paragraph_text(p: Any) -> str:
    """A paragraph's visible text: runs, tabs, breaks; not deleted text nor VML fallbacks."""
    out: list[str] = []
    _collect_text(p, out)
    return "".join(out)


def _collect_text(el: Any, out: list[str]) -> None:
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIP:
            continue
        if tag == _W + "t":
            out.append(child.text or "")
        elif tag == _W + "tab":
            out.append("\t")
        elif tag in (_W + "br", _W + "cr"):
            out.append("\n")
        elif tag == _W + "noBreakHyphen":
            out.append("-")
        elif tag == _W + "p":
            out.append("\n")  # a paragraph nested in a text box
            _collect_text(child, out)
        else:
            _collect_text(child, out)


def _cell_text(tc: Any) -> str:
    """All paragraphs of a cell (nested tables included) joined without newlines."""
    fragments: list[str] = []
    for block in _body_blocks(tc):
        if isinstance(block, str):
            fragments.append(block)
            continue
        seen: set[int] = set()
        for row in block.rows:
            for cell in row:
                if id(cell) not in seen:
                    seen.add(id(cell))
                    fragments.append(cell.text)
    return join_fragments(fragments)


def _children(el: Any, tag: str) -> Iterator[Any]:
    """Direct children with this tag, looking through content controls around rows/cells."""
    for child in el:
        if child.tag == tag:
            yield child
        elif child.tag in (_W + "sdt", _W + "customXml"):
            inner = child.find(_W + "sdtContent") if child.tag == _W + "sdt" else child
            if inner is not None:
                yield from _children(inner, tag)


def _int_prop(parent: Any, path: str) -> int:
    el = parent.find(path) if parent is not None else None
    if el is None:
        return 0
    try:
        return int(el.get(_W + "val", "0"))
    except ValueError:
        return 0


def _merge_state(tc_pr: Any, tag: str) -> str | None:
    """'restart', 'continue' or None for a w:vMerge / w:hMerge property."""
    el = tc_pr.find(_W + tag) if tc_pr is not None else None
    if el is None:
        return None
    return "restart" if el.get(_W + "val") == "restart" else "continue"


def _table_grid(tbl: Any) -> SourceGrid:
    """Expand gridSpan / hMerge horizontally and vMerge vertically to the table's column grid."""
    grid: SourceGrid = []
    for tr in _children(tbl, _W + "tr"):
        tr_pr = tr.find(_W + "trPr")
        row: list[SourceCell] = [SourceCell("") for _ in range(_int_prop(tr_pr, _W + "gridBefore"))]
        for tc in _children(tr, _W + "tc"):
            tc_pr = tc.find(_W + "tcPr")
            span = max(1, _int_prop(tc_pr, _W + "gridSpan"))
            col = len(row)
            above = grid[-1][col] if grid and col < len(grid[-1]) else None
            if _merge_state(tc_pr, "vMerge") == "continue" and above is not None:
                cell = above
            elif _merge_state(tc_pr, "hMerge") == "continue" and row:
                cell = row[-1]
            else:
                cell = SourceCell(_cell_text(tc))
            row.extend(cell for _ in range(span))
        row.extend(SourceCell("") for _ in range(_int_prop(tr_pr, _W + "gridAfter")))
        grid.append(row)
    return pad_grid(grid)
