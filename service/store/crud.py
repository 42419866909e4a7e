"""Reads and writes. One extraction is saved in one transaction: all of it or none of it."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Table, func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from service.contract import Extraction
from service.document import Document
from service.errors import UnreadableDocument
from service.store.db import write_transaction, writing
from service.store.models import (
    DocumentRow,
    DocumentSourceRow,
    ExtractionRow,
    ExtractionVersionRow,
    FieldRow,
    FindingRow,
    utc_now,
)

log = logging.getLogger(__name__)

TABLES: tuple[type[SQLModel], ...] = (DocumentRow, ExtractionRow, FieldRow, FindingRow)
TABLES_BY_NAME: dict[str, type[SQLModel]] = {str(table.__tablename__): table for table in TABLES}
# The plain tables under the models: Core inserts skip the ORM's per-row bookkeeping.
_FIELD_TABLE: Table = FieldRow.__table__  # type: ignore[attr-defined]
_FINDING_TABLE: Table = FindingRow.__table__  # type: ignore[attr-defined]


def save_extraction(session: Session, doc: Document, extraction: Extraction,
                    source: bytes | None = None, reader_version: str | None = None) -> ExtractionRow:
    """Store an extraction with its document (created once per sha256), fields and findings.

    `source` is the uploaded bytes, kept once per document (re-extraction and page images).
    `reader_version` (service.batch.version) records, in the same transaction, which reader read
    these bytes: a later batch skips them. When the bytes already have an extraction under that
    version, that one stands as the version's (the new extraction is stored all the same).

    When the document was stored before under another name, `extraction` is updated in place
    to say the stored name (see _name_as_stored), so what the caller returns is what was stored.
    """
    if "\x00" in doc.text:
        # PostgreSQL text cannot hold NUL; refuse on every backend alike rather than fail on one.
        raise UnreadableDocument(
            "the text contains NUL characters (binary data?)", "文本含有空字符（可能是二进制数据）"
        )
    with writing(session):
        try:
            return _save(session, doc, extraction, source, reader_version)
        except IntegrityError:
            # Another request (or process) stored the same new document between our lookup
            # and our insert.
            session.rollback()
            if session.exec(select(DocumentRow).where(DocumentRow.sha256 == doc.sha256)).first() is None:
                raise
            write_transaction(session)
            return _save(session, doc, extraction, source, reader_version)


def _save(session: Session, doc: Document, extraction: Extraction, source: bytes | None,
          reader_version: str | None = None) -> ExtractionRow:
    document = _upsert_document(session, doc)
    if source is not None and session.get(DocumentSourceRow, document.id) is None:
        session.add(DocumentSourceRow(document_id=document.id, content=source))
    _name_as_stored(extraction, document)
    info = extraction.extraction
    contract = extraction.model_dump(mode="json")
    row = ExtractionRow(
        id=info.id,
        document_id=document.id,
        mode=info.mode,
        model=info.model,
        prompt_version=info.prompt_version,
        created_at=info.created_at,
        contract=contract,
    )
    session.add(row)
    session.flush()  # the extraction must exist before rows that point at it (PostgreSQL checks at once)
    # Hundreds of fields: one executemany INSERT each for fields and findings (SQLAlchemy Core on
    # the tables), not one ORM object (identity map, unit of work, attribute events) per row.
    fields = _field_rows(extraction, contract["fields"])
    if fields:
        session.exec(insert(_FIELD_TABLE), params=fields)
    findings = _finding_rows(extraction)
    if findings:
        session.exec(insert(_FINDING_TABLE), params=findings)
    if reader_version is not None:
        _record_version(session, info.id, doc.sha256, reader_version)
    # What was just written is what the caller holds: no reload (the contract JSON is large).
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
    return row


def _record_version(session: Session, extraction_id: str, sha256: str, reader_version: str) -> None:
    """INSERT … ON CONFLICT DO NOTHING: one statement, no race with a batch or upload that got
    there first (theirs stands)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.exec(dialect_insert(ExtractionVersionRow).values(
        extraction_id=extraction_id, sha256=sha256, reader_version=reader_version, created_at=utc_now(),
    ).on_conflict_do_nothing())


def _name_as_stored(extraction: Extraction, document: DocumentRow) -> None:
    """A document is its bytes and keeps the name it first arrived under; an extraction of the
    same bytes under another name says the stored name (so the answer, GET /extractions and
    GET /documents agree) and records the name it came under in a notice."""
    arrived = extraction.document.filename
    if arrived == document.filename:
        return
    extraction.document.filename = document.filename
    extraction.extraction.notices.append(
        f"These bytes are stored as document {document.id} under its first name "
        f"{document.filename!r}; this upload was named {arrived!r}. "
        f"同一文件已以首次上传的名称 {document.filename!r} 存储；本次上传的名称为 {arrived!r}。"
    )


def _upsert_document(session: Session, doc: Document) -> DocumentRow:
    existing = session.exec(select(DocumentRow).where(DocumentRow.sha256 == doc.sha256)).first()
    if existing is not None:
        if existing.text != doc.text:
            # Same bytes, different normalization (the ingest code changed): the newest
            # extraction's spans must point into the text we serve.
            log.warning("document %s: normalized text changed; keeping the newest", existing.id)
            existing.text = doc.text
            existing.chars = len(doc.text)
            existing.boxes = _boxes(doc)
            session.add(existing)
        elif existing.boxes is None and doc.boxes:
            # Stored before cell boxes were kept: a re-extraction brings them.
            existing.boxes = _boxes(doc)
            session.add(existing)
        return existing
    document = DocumentRow(
        id=doc.id,
        sha256=doc.sha256,
        filename=doc.filename,
        media_type=doc.media_type,
        encoding=doc.encoding,
        pages=doc.pages,
        chars=len(doc.text),
        text=doc.text,
        boxes=_boxes(doc),
    )
    session.add(document)
    session.flush()
    return document


def _boxes(doc: Document) -> list[dict[str, object]] | None:
    return [box.model_dump(mode="json") for box in doc.boxes] or None


def get_source(session: Session, document_id: str) -> bytes | None:
    """The bytes as uploaded, or None for documents stored before sources were kept."""
    row = session.get(DocumentSourceRow, document_id)
    return None if row is None else row.content


def _field_rows(extraction: Extraction, dumped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FieldRow's columns per field, in contract order (`position`). `dumped` is the contract's
    JSON form of the fields, already made for the contract column: each field's sources are
    taken from it rather than dumped again one field at a time."""
    ext_id = extraction.extraction.id
    rows: list[dict[str, Any]] = []
    for position, (field, as_json) in enumerate(zip(extraction.fields, dumped, strict=True)):
        rows.append({
            "extraction_id": ext_id,
            "position": position,
            "path": field.path,
            "value": field.value,
            "confidence": field.confidence,
            "level": field.level,
            "sources": as_json["sources"],
            "span_start": field.span[0] if field.span else None,
            "span_end": field.span[1] if field.span else None,
            "flags": list(field.flags),
        })
    return rows


def _finding_rows(extraction: Extraction) -> list[dict[str, Any]]:
    ext_id = extraction.extraction.id
    return [
        {
            "extraction_id": ext_id,
            "position": position,
            "kind": finding.kind,
            "path": finding.path,
            "message": finding.message,
            "spans": [list(span) for span in finding.spans],
        }
        for position, finding in enumerate(extraction.findings)
    ]


def get_document(session: Session, document_id: str) -> DocumentRow | None:
    return session.get(DocumentRow, document_id)


def extraction_ids_for(session: Session, document_id: str) -> list[str]:
    """The document's extractions, oldest first."""
    query = (
        select(ExtractionRow.id)
        .where(ExtractionRow.document_id == document_id)
        .order_by(col(ExtractionRow.created_at), col(ExtractionRow.id))
    )
    return list(session.exec(query).all())


def get_extraction(session: Session, extraction_id: str) -> Extraction | None:
    row = session.get(ExtractionRow, extraction_id)
    return None if row is None else Extraction.model_validate(row.contract)


def get_fields(session: Session, extraction_id: str) -> list[FieldRow]:
    query = select(FieldRow).where(FieldRow.extraction_id == extraction_id).order_by(col(FieldRow.position))
    return list(session.exec(query).all())


def get_findings(session: Session, extraction_id: str) -> list[FindingRow]:
    query = (
        select(FindingRow).where(FindingRow.extraction_id == extraction_id).order_by(col(FindingRow.position))
    )
    return list(session.exec(query).all())


def row_counts(session: Session) -> dict[str, int]:
    """Rows per table: what tests compare to prove that a refused input stored nothing."""
    return {
        name: session.exec(select(func.count()).select_from(table)).one()
        for name, table in TABLES_BY_NAME.items()
    }
