"""Ingest stage: bytes → Document (normalized text + tables), whatever the file's name says."""

from __future__ import annotations

import hashlib

from service.document import Document, Table
from service.errors import UnreadableDocument
from service.ingest.html import read_html
from service.ingest.sniff import Kind, decode_text, html_from_mht, sniff_binary, text_kind
from service.ingest.text import read_text

MEDIA_TYPES: dict[Kind, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}

__all__ = ["MEDIA_TYPES", "ingest"]


def _empty() -> UnreadableDocument:
    return UnreadableDocument(
        "the file is empty or contains no readable text", "文件为空或不含可读文本"
    )


def _read_pdf(data: bytes) -> tuple[str, list[Table], int | None]:
    from service.ingest.pdf import read_pdf  # lazy: pdf support has heavy dependencies

    text, tables, pages = read_pdf(data)
    return text, tables, pages


def _read_docx(data: bytes) -> tuple[str, list[Table]]:
    from service.ingest.docx import read_docx

    return read_docx(data)


def ingest(data: bytes, filename: str | None = None) -> Document:
    """Read a report's bytes into a Document. The format is decided by content first (crawlers
    save HTML as .txt, PDFs arrive as .doc); raises UnreadableDocument / UnsupportedFormat."""
    if not data.strip():
        raise _empty()
    kind = sniff_binary(data)
    encoding: str | None = None
    pages: int | None = None
    if kind == "pdf":
        text, tables, pages = _read_pdf(data)
    elif kind == "docx":
        text, tables = _read_docx(data)
    elif (mht := html_from_mht(data)) is not None:
        kind = "html"
        markup, encoding = mht
        text, tables = read_html(markup)
    else:
        decoded, encoding = decode_text(data)
        kind = text_kind(decoded, filename)
        text, tables = read_html(decoded) if kind == "html" else read_text(decoded)
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
    )
