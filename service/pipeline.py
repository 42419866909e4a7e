"""The one pipeline the CLI, the API and the eval harness call: ingest → locate → parse → check → reconcile."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from service.contract import DocumentInfo, Extraction, ExtractionInfo
from service.document import Document
from service.errors import NoReportContent
from service.ingest import ingest

DETERMINISTIC_NOTICE = (
    "No model endpoint configured: values come from the deterministic parsers only. "
    "未配置模型服务：所有数值仅来自确定性解析器。"
)


TABLE_SECTIONS = ("active_disclosure", "applications", "reviews_and_litigation")
_REPORT_HEADING = re.compile(r"政\s*府\s*信\s*息\s*公\s*开.{0,30}?(?:年\s*度\s*报\s*告|年\s*报)", re.S)


def looks_like_report(text: str) -> bool:
    """A report with its tables missing is still a report; anything else is refused."""
    return bool(_REPORT_HEADING.search(text[:3000]))


def extract_bytes(data: bytes, filename: str | None = None) -> tuple[Document, Extraction]:
    """Read a file's bytes end to end. Raises a NianbaoError subclass for unreadable input."""
    doc = ingest(data, filename)
    return doc, extract_document(doc)


def extract_document(doc: Document) -> Extraction:
    from service.parse.solve import deadline
    from service.read import read_document
    from service.reconcile import reconcile

    with deadline():
        sections = read_document(doc)
    if not any(s.found for s in sections if s.section in TABLE_SECTIONS) and not looks_like_report(doc.text):
        raise NoReportContent(
            "no recognizable table and no annual-report heading: this does not look like a "
            "政府信息公开工作年度报告",
            "未找到可识别的表格，也没有年度报告标题：这不像政府信息公开工作年度报告",
        )
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
