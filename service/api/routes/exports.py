"""GET /exports/{csv|xlsx|parquet}: every document's newest values, reviewed ones where they exist."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service import exports
from service.api.deps import SessionDep
from service.api.public import ErrorPublic

router = APIRouter(tags=["exports"])


@router.get("/exports/{fmt}", response_class=Response, responses={
    200: {"content": {t: {} for t in exports.MEDIA_TYPES.values()}}, 422: {"model": ErrorPublic}})
async def export(fmt: Literal["csv", "xlsx", "parquet"], session: SessionDep,
                 shape: Literal["long", "wide"] = "long",
                 part: Literal["fields", "findings"] = "fields") -> Response:
    """csv/parquet: one `part` (fields or findings) per file; xlsx: both, as two sheets."""
    data = await run_in_threadpool(exports.export, session, fmt, shape, part)
    name = f"nianbao-{shape}" + ("" if fmt == "xlsx" else f"-{part}") + f".{fmt}"
    return Response(data, media_type=exports.MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Content-Type-Options": "nosniff"})
