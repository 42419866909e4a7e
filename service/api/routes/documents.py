"""Stored documents, their normalized text, and stored extractions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from service import review
from service.api.deps import SessionDep
from service.api.errors import NotFound
from service.api.public import DocumentPublic, ErrorPublic
from service.api.routes import pages
from service.contract import Extraction
from service.store import crud
from service.store.models import DocumentRow

router = APIRouter(tags=["documents"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorPublic}}


def document_or_404(session: SessionDep, document_id: str) -> DocumentRow:
    document = crud.get_document(session, document_id)
    if document is None:
        raise NotFound(f"no document with id {document_id!r}", f"没有编号为 {document_id!r} 的文档")
    return document


class DocumentListItem(BaseModel):
    id: str
    filename: str | None
    issuer: str | None
    year: int | None
    template: str | None
    status: str
    low_count: int
    findings_count: int
    extraction_id: str
    created_at: datetime


class DocumentList(BaseModel):
    items: list[DocumentListItem]
    total: int
    page: int
    per_page: int


@router.get("/documents", response_model=DocumentList, responses={422: {"model": ErrorPublic}})
def list_documents(
    session: SessionDep,
    issuer: str | None = None,
    year: int | None = None,
    status: Literal["to_review", "reviewed"] | None = None,
    finding_kind: str | None = None,
    sort: Literal["issuer", "year", "low", "findings", "created"] = "created",
    order: Literal["asc", "desc"] = "desc",
    page: int = Query(default=1, ge=1),
    per_page: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    """Documents with an extraction, by their newest one: filter, sort, one page; `total` counts all matches."""
    return review.list_documents(session, issuer=issuer, year=year, status=status, finding_kind=finding_kind,
                                 sort=sort, order=order, page=page, per_page=per_page)


@router.get("/documents/{document_id}", response_model=DocumentPublic, responses=_NOT_FOUND)
def read_document(document_id: str, session: SessionDep) -> DocumentPublic:
    """Document info and the ids of its extractions, oldest first."""
    document = document_or_404(session, document_id)
    return DocumentPublic(
        **document.model_dump(exclude={"text"}),
        extraction_ids=crud.extraction_ids_for(session, document.id),
    )


@router.get(
    "/documents/{document_id}/text",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **_NOT_FOUND},
)
def read_document_text(document_id: str, session: SessionDep) -> PlainTextResponse:
    """The normalized text that every field span and finding span points into."""
    document = document_or_404(session, document_id)
    return PlainTextResponse(document.text, media_type="text/plain; charset=utf-8")


@router.get("/extractions/{extraction_id}", response_model=Extraction, responses=_NOT_FOUND)
def read_extraction(extraction_id: str, session: SessionDep) -> Extraction:
    """The stored contract JSON, as POST /extract returned it."""
    extraction = crud.get_extraction(session, extraction_id)
    if extraction is None:
        raise NotFound(f"no extraction with id {extraction_id!r}", f"没有编号为 {extraction_id!r} 的提取结果")
    return extraction


# Page images live in their own module; app.py includes this router, which brings them along.
router.include_router(pages.router)
