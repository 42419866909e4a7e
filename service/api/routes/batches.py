"""POST /batches, GET /batches, GET /batches/{id}: many reports at once, read in the background.

Open like POST /extract (reading and storing extractions needs no sign-in; reviewing does).
On the embedded store (SQLite) the batch runs in this process, on the process pool; on
PostgreSQL its jobs are queued in the transaction that stores it, for `nianbao worker`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from service.api.deps import EngineDep, SessionDep, SettingsDep
from service.api.errors import InvalidRequest, NotFound, UnsupportedMediaType
from service.api.public import ErrorPublic
from service.api.upload import MULTIPART_OVERHEAD_BYTES, _Body, form_text, multipart_body
from service.batch import store
from service.batch.public import BatchList, BatchPublic
from service.batch.settings import batch_settings
from service.batch.sources import from_upload
from service.config import Settings
from service.errors import TooLarge
from service.ingest.filename import clean_filename

router = APIRouter(tags=["batches"])

_REQUEST_BODY = multipart_body({"type": "array", "items": {"type": "string", "format": "binary"},
                                "description": "the reports, one part each, or one .zip of them"})
_REFUSALS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorPublic} for status in (400, 413, 415, 422)}


@router.post("/batches", status_code=202, response_model=BatchPublic, responses=_REFUSALS,
             openapi_extra=_REQUEST_BODY)
async def create_batch(request: Request, response: Response, engine: EngineDep,
                       settings: SettingsDep) -> BatchPublic:
    """Queue many reports: `file` parts (each a report, or a `.zip` of reports), `mode` and
    `llm_scope` as for POST /extract. Answers 202 at once; GET /batches/{id} follows it.

    Each file obeys the upload limits; a bad one (empty, binary junk, too large, an archive
    member that inflates past the limit) is refused on its own, with its reason, and the batch
    goes on. Bytes already read by the same reader version are `skipped`."""
    from service.pipeline import check_scope, resolve_mode

    limits = batch_settings()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType(
            f"send the reports as multipart/form-data (fields 'file'), not {media_type or 'no Content-Type'}",
            f"请以 multipart/form-data（字段 file）提交报告，不支持 {media_type or '无 Content-Type 的请求体'}",
        )
    body = _Body(request).limited(limits.max_bytes + MULTIPART_OVERHEAD_BYTES, limits.max_bytes)
    try:
        async with body.form(max_files=limits.max_files, max_fields=16) as form:
            files = [value for value in form.getlist("file") if isinstance(value, UploadFile)]
            if not files:
                raise InvalidRequest("the form carries no file in the field 'file'", "表单字段 file 中没有文件")
            mode, llm_scope = form_text(form.get("mode")), form_text(form.get("llm_scope"))
            resolved = resolve_mode(mode, settings)
            check_scope(llm_scope)
            batch = await run_in_threadpool(_store, engine, settings, files, mode, llm_scope, resolved)
    except TooLarge as exc:
        raise TooLarge(
            f"the batch is larger than the limit of {limits.max_bytes} bytes (NIANBAO_BATCH_MAX_BYTES)",
            f"批次超过 {limits.max_bytes} 字节的上限（NIANBAO_BATCH_MAX_BYTES）",
        ) from exc
    if engine.dialect.name != "postgresql":
        from service.batch.runner import start_in_background

        start_in_background(engine, batch.id, settings)
    response.headers["Location"] = f"/batches/{batch.id}"
    return batch


def _store(engine: Engine, settings: Settings, files: list[UploadFile], mode: str | None,
           llm_scope: str | None, resolved: str) -> BatchPublic:
    """The batch's rows (and on PostgreSQL its jobs) in one transaction."""
    from service.batch.version import reader_version

    def sources() -> Any:
        for index, upload in enumerate(files, start=1):
            name = clean_filename(upload.filename) or f"file-{index}"
            upload.file.seek(0)
            yield from from_upload(name, upload.file, settings.max_upload_bytes)

    with Session(engine) as session:
        batch = store.create_batch(session, sources(), origin="api", mode=mode, llm_scope=llm_scope,
                                   reader_version=reader_version(resolved, settings, llm_scope))
        if engine.dialect.name == "postgresql":
            from service.batch.queue import enqueue

            enqueue(session, batch.id, model=resolved == "llm")
        session.commit()
        return store.batch_public(session, batch)


@router.get("/batches", response_model=BatchList)
def list_batches(session: SessionDep, engine: EngineDep, limit: int = Query(50, ge=1, le=500),
                 offset: int = Query(0, ge=0)) -> BatchList:
    """Batches, newest first, with their counts (no items). A batch whose `nianbao batch` was
    killed is marked `interrupted` here, when it is looked at."""
    store.mark_abandoned(engine)
    return BatchList(batches=store.list_batches(session, limit=limit, offset=offset))


@router.get("/batches/{batch_id}", response_model=BatchPublic, responses={404: {"model": ErrorPublic}})
def get_batch(batch_id: str, session: SessionDep, engine: EngineDep,
              items: bool = Query(True, description="false: the progress and counts only (cheap to poll)")
              ) -> BatchPublic:
    """A batch's progress and every file's status (with the refusal or failure reason, zh + en,
    and the stored document and extraction ids). A batch whose `nianbao batch` was killed is
    marked `interrupted` here, when it is looked at."""
    store.mark_abandoned(engine, batch_id)
    view = store.get_batch(session, batch_id, with_items=items)
    if view is None:
        raise NotFound(f"no batch with id {batch_id!r}", f"没有编号为 {batch_id!r} 的批次")
    return view
