"""The one pipeline the CLI, the API and the eval harness call: ingest → locate → parse → check → reconcile."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from service.contract import DocumentInfo, Extraction, ExtractionInfo
from service.document import Document
from service.ingest import ingest

DETERMINISTIC_NOTICE = (
    "No model endpoint configured: values come from the deterministic parsers only. "
    "未配置模型服务：所有数值仅来自确定性解析器。"
)


def extract_bytes(data: bytes, filename: str | None = None) -> tuple[Document, Extraction]:
    """Read a file's bytes end to end. Raises a NianbaoError subclass for unreadable input."""
    doc = ingest(data, filename)
    return doc, extract_document(doc)


def extract_document(doc: Document) -> Extraction:
    from service.reconcile import reconcile
    from service.read import read_document

    sections = read_document(doc)
    fields, findings = reconcile(doc, sections)
    return Extraction(
        document=DocumentInfo(
            id=doc.id, filename=doc.filename, sha256=doc.sha256, media_type=doc.media_type,
            chars=len(doc.text),
        ),
        extraction=ExtractionInfo(
            id="ext_" + uuid.uuid4().hex[:16],
            mode="deterministic",
            created_at=datetime.now(UTC),
            notices=[DETERMINISTIC_NOTICE],
        ),
        fields=fields,
        findings=findings,
    )
