"""Page images of a stored PDF, for the review UI to draw a cell's box over the page it was read from.

A document is its bytes (the id comes from their sha256), so a page image never changes for a
given scale: it is cached by browsers for a year. Rendering (pdfium, under its process-wide lock)
runs in the thread pool, never on the event loop: the endpoint is a plain `def`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from service.api.deps import SessionDep
from service.api.errors import NotFound
from service.api.public import ErrorPublic
from service.store import crud

MIN_SCALE, MAX_SCALE = 0.5, 3.0
# A page past this many pixels is rendered smaller than asked: a poster-sized page at 3× would
# otherwise take hundreds of MB.
MAX_PIXELS = 8_000_000
_PDF = "application/pdf"
_CACHE = "public, max-age=31536000, immutable"

router = APIRouter(tags=["documents"])
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "the page as PNG"},
    304: {"description": "not modified (If-None-Match)"},
    404: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
}


@router.get("/documents/{document_id}/pages/{number}.png", response_class=Response, responses=_RESPONSES)
def page_image(
    document_id: str,
    number: int,
    session: SessionDep,
    scale: float = Query(default=1.5, ge=MIN_SCALE, le=MAX_SCALE, description="pixels per PDF point"),
    if_none_match: str | None = Header(default=None),
) -> Response:
    """Page `number` (1-based) of a stored PDF as PNG; the review API's `box` coordinates are in
    PDF points from this image's top-left corner (multiply by the scale)."""
    from service.api.routes.documents import document_or_404  # documents includes this router
    from service.ingest.pdf import render_page_png  # lazy: pdfium only when a page is asked for

    document = document_or_404(session, document_id)
    if document.media_type != _PDF:
        raise NotFound(f"document {document_id!r} is not a PDF: it has no page images",
                       f"文档 {document_id!r} 不是 PDF，没有页面图像")
    etag = f'"{document.sha256[:32]}-{number}-{scale:g}"'
    headers = {"Cache-Control": _CACHE, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    source = crud.get_source(session, document_id)
    if source is None:
        raise NotFound(f"the uploaded file of document {document_id!r} was not kept (stored before "
                       "sources were); upload it again",
                       f"文档 {document_id!r} 的原始文件未保存（早于保存原文件的版本），请重新上传")
    png = render_page_png(source, number, scale, MAX_PIXELS)
    if png is None:
        raise NotFound(f"document {document_id!r} has no page {number} (it has {document.pages})",
                       f"文档 {document_id!r} 没有第 {number} 页（共 {document.pages} 页）")
    return Response(content=png, media_type="image/png", headers=headers)
