"""Ingest stage: bytes → Document (normalized text + tables). PLACEHOLDER: the ingest helper replaces this."""

from __future__ import annotations

import hashlib

from service.document import Document
from service.errors import UnreadableDocument
from service.ingest.normalize import normalize_text


def ingest(data: bytes, filename: str | None = None) -> Document:
    if not data.strip():
        raise UnreadableDocument("the file is empty", "文件为空")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument("cannot decode the file", "无法解码文件") from exc
    return Document(
        filename=filename,
        media_type="text/plain",
        sha256=hashlib.sha256(data).hexdigest(),
        encoding="utf-8",
        text=normalize_text(text),
    )
