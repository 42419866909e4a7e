"""Ingest stage: bytes → Document (normalized text + tables), whatever the file's name says."""

from __future__ import annotations

import hashlib
import re

from service.document import CellBox, Document, Table
from service.errors import UnreadableDocument
from service.ingest.filename import clean_filename
from service.ingest.limits import Limits, check_chars, check_tags
from service.ingest.sniff import Kind, decode_text, html_from_mht, sniff_binary, text_kind
from service.ingest.text import read_text

MEDIA_TYPES: dict[Kind, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}

_HTML_TABLE = re.compile(r"<table\b", re.IGNORECASE)

__all__ = ["MEDIA_TYPES", "Limits", "clean_filename", "ingest"]


def _empty() -> UnreadableDocument:
    return UnreadableDocument(
        "the file is empty or contains no readable text", "文件为空或不含可读文本"
    )


def _read_pdf(data: bytes, limits: Limits) -> tuple[str, list[Table], int | None, list[CellBox]]:
    """Text, tables, page count and the cell boxes (where each grid cell stood on its page)."""
    from service.ingest.pdf import read_pdf_document  # lazy: pdf support has heavy dependencies

    read = read_pdf_document(data, limits)
    return read.text, read.tables, read.pages, read.boxes


def _read_docx(data: bytes, limits: Limits) -> tuple[str, list[Table]]:
    from service.ingest.docx import read_docx

    return read_docx(data, limits)


def _read_markup_or_text(decoded: str, kind: Kind, limits: Limits) -> tuple[str, list[Table]]:
    """A decoded page or text. Plain text is refused by its length before normalization (NFKC
    hardly ever lengthens text, so twice the limit is a safe early bound); HTML is counted while
    it renders, since its markup may be many times its text; markup is refused first by its
    number of tags."""
    if kind == "html":
        from service.ingest.html import read_html  # lazy: lxml is for pages only

        check_tags(decoded, limits)
        return read_html(decoded, max_chars=limits.max_chars)
    check_chars(len(decoded) // 2, limits)
    if _HTML_TABLE.search(decoded):
        check_tags(decoded, limits)  # its embedded tables are parsed as HTML
    return read_text(decoded, max_chars=limits.max_chars)


def ingest(data: bytes, filename: str | None = None, limits: Limits | None = None) -> Document:
    """Read a report's bytes into a Document. The format is decided by content first (crawlers
    save HTML as .txt, PDFs arrive as .doc); raises UnreadableDocument / UnsupportedFormat, and
    DocumentTooLarge past the page, character or inflated-size limits (default: the settings)."""
    limits = limits or Limits.from_settings()
    filename = clean_filename(filename)
    if not data.strip():
        raise _empty()
    kind = sniff_binary(data)
    encoding: str | None = None
    pages: int | None = None
    boxes: list[CellBox] = []
    if kind == "pdf":
        text, tables, pages, boxes = _read_pdf(data, limits)
    elif kind == "docx":
        text, tables = _read_docx(data, limits)
    elif (mht := html_from_mht(data)) is not None:
        kind = "html"
        markup, encoding = mht
        text, tables = _read_markup_or_text(markup, kind, limits)
    else:
        decoded, encoding = decode_text(data)
        kind = text_kind(decoded, filename)
        text, tables = _read_markup_or_text(decoded, kind, limits)
    check_chars(len(text), limits)
    if not text.strip():
        raise _empty()
    return Document(
        filename=filename,
        media_type=MEDIA_TYPES[kind],
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding,
        text=text,
        tables=tables,
        pages=pages,
        boxes=boxes,
    )
