"""The review API: one document's fields for review, reviewer decisions with optimistic locking,
history, status, the cross-document queue, re-extraction and the template grid."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from service import review
from service.api.deps import SessionDep, SettingsDep, WriterDep
from service.api.errors import error_body
from service.api.public import ErrorPublic
from service.contract import Extraction

router = APIRouter(tags=["review"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorPublic} for s in (401, 403, 404, 422)
}


class BoxPublic(BaseModel):
    """Where the field's cell stood on a PDF page: `bbox` is (x0, top, x1, bottom) in PDF points
    from the top-left corner of GET /documents/{id}/pages/{page}.png (times its scale)."""

    page: int
    bbox: list[float]
    page_width: float
    page_height: float


class FieldPublic(BaseModel):
    path: str
    label_zh: str
    value: Any
    level: str
    confidence: float
    flags: list[str]
    sources: dict[str, Any]
    span: list[int] | None
    reviewed: bool
    reviewed_value: Any
    version: int
    disagrees: bool
    box: BoxPublic | None = None


class ReviewDocumentInfo(BaseModel):
    id: str
    filename: str | None
    media_type: str
    chars: int
    pages: int | None


class FindingPublic(BaseModel):
    kind: str
    path: str
    message: str
    spans: list[list[int]]


class DocumentReview(BaseModel):
    document: ReviewDocumentInfo
    extraction_id: str
    template: str | None
    status: str
    fields: list[FieldPublic]
    findings: list[FindingPublic]


class FieldChange(BaseModel):
    action: Literal["accept", "edit", "blank", "alternative"]
    value: Any = None
    version: int | None = None


class HistoryEntry(BaseModel):
    at: datetime
    user: str
    action: str
    old: Any
    new: Any
    version: int | None


class StatusChange(BaseModel):
    status: Literal["reviewed", "to_review"]


class StatusPublic(BaseModel):
    document_id: str
    status: str


class QueueItem(BaseModel):
    document_id: str
    path: str
    value: Any
    level: str
    confidence: float


class ConflictPublic(BaseModel):
    detail: str
    field: FieldPublic


@router.get("/documents/{document_id}/review", response_model=DocumentReview, responses=_ERRORS)
def read_review(document_id: str, session: SessionDep) -> dict[str, Any]:
    """The newest extraction's fields with reviewed values laid over them, and its findings."""
    return review.document_review(session, document_id)


@router.patch("/documents/{document_id}/fields/{path}", response_model=FieldPublic,
              responses={**_ERRORS, 409: {"model": ConflictPublic}})
def change_field(document_id: str, path: str, change: FieldChange, session: SessionDep, user: WriterDep,
                 if_match: str | None = Header(default=None)) -> Any:
    """Accept, edit, blank or pick an alternative. `version` (body or If-Match) must be the field's
    current version: otherwise 409 with the stored field, and nothing is overwritten."""
    version = change.version
    if version is None and if_match is not None:
        try:
            version = int(if_match.strip().strip('"').removeprefix("W/").strip('"'))
        except ValueError:
            version = None
    if version is None:
        raise review.InvalidReview("give the field's version (body `version` or If-Match)",
                                   "请提供字段版本（请求体 version 或 If-Match 头）")
    given = "value" in change.model_fields_set
    try:
        return review.apply_review(session, document_id, path,
                                   review.Change(change.action, change.value, given), version, user)
    except review.StaleVersion as stale:
        body = {**error_body(stale.code, stale.message_zh, stale.message_en), "detail": stale.message_en,
                "field": stale.field}
        return JSONResponse(status_code=409, content=body)


@router.get("/documents/{document_id}/fields/{path}/history", response_model=list[HistoryEntry],
            responses=_ERRORS)
def field_history(document_id: str, path: str, session: SessionDep) -> list[dict[str, Any]]:
    """Every decision on the field, oldest first."""
    return review.history(session, document_id, path)


@router.post("/documents/{document_id}/status", response_model=StatusPublic, responses=_ERRORS)
def change_status(document_id: str, body: StatusChange, session: SessionDep, user: WriterDep) -> dict[str, Any]:
    return review.set_status(session, document_id, body.status, user)


@router.get("/review/queue", response_model=list[QueueItem], responses={422: {"model": ErrorPublic}})
def review_queue(session: SessionDep, limit: int = Query(default=50, ge=1, le=1000),
                 level: Literal["low", "medium", "high"] | None = None) -> list[dict[str, Any]]:
    """Unreviewed fields across documents, lowest confidence first; `level` keeps one level only."""
    return review.queue(session, limit, level)


@router.post("/documents/{document_id}/reextract", response_model=Extraction, responses=_ERRORS)
async def reextract(document_id: str, session: SessionDep, settings: SettingsDep, user: WriterDep) -> Extraction:
    """Read the document again with the current readers, in the configured mode (auto): from the
    uploaded file when it was kept, else from the stored text. Reviewed values are kept."""
    return await run_in_threadpool(_reextract, document_id, session, settings, user)


def _reextract(document_id: str, session: SessionDep, settings: SettingsDep, user: WriterDep) -> Extraction:
    from service import pipeline
    from service.store import crud

    document = crud.get_document(session, document_id)
    if document is None:
        raise review.NotFoundError(f"no document with id {document_id!r}", f"没有编号为 {document_id!r} 的文档")
    old = review.latest_extractions(session, document_id).get(document_id)
    doc = review.reread_document(session, document)
    extraction = pipeline.extract_document(doc, mode="auto", settings=settings)
    crud.save_extraction(session, doc, extraction)
    review.record_reextract(session, document_id, old or "", extraction.extraction.id, user)
    return extraction


@router.get("/schemas/grid", responses=_ERRORS)
def schema_grid(template: Literal["2021", "2019"] = "2021") -> dict[str, Any]:
    """The three tables as the official form lays them out, from schemas/templates.json."""
    return review.grid(template)
