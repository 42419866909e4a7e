"""POST /extract: run the pipeline on an upload and store what it found."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from service import pipeline, pool
from service.api.deps import EngineDep, SettingsDep
from service.api.errors import InternalError, error_response
from service.api.public import ErrorPublic
from service.api.upload import DRAIN_FACTOR, ExtractRequest, Upload, multipart_body, read_upload
from service.batch.work import shared_url
from service.config import Settings
from service.contract import Extraction
from service.document import Document
from service.errors import NianbaoError
from service.pool import PoolBusy
from service.store import crud

log = logging.getLogger(__name__)
_T = TypeVar("_T")
router = APIRouter(tags=["extract"])

_REQUEST_BODY = multipart_body({"type": "string", "format": "binary"},
                               {"application/json": {"schema": ExtractRequest.model_json_schema()}})
_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic} for status in (400, 413, 415, 422, 500, 503)
}


@router.post("/extract", response_model=Extraction, responses=_REFUSALS, openapi_extra=_REQUEST_BODY)
async def extract(request: Request, settings: SettingsDep, engine: EngineDep) -> Extraction | Response:
    """Read one report (a multipart `file`, or JSON `{"text": ..., "filename": ...}`).

    `mode` (form field or JSON field): `auto` (default) uses the model when one is configured,
    `deterministic` never does, `llm` requires one (422 `llm_not_configured` otherwise);
    `llm_scope`: `doubtful` (default) or `all`. A model that fails still gives a 200 with the
    parsers' record and the failures in `extraction.failures`. When every worker is busy and
    the queue is full: 503 `busy` with Retry-After.
    Returns the contract JSON; the extraction is stored with its document (one per sha256).
    """
    limit = settings.max_upload_bytes
    upload = await read_upload(request, limit, drain_bytes=DRAIN_FACTOR * limit)
    if pipeline.resolve_mode(upload.mode, settings) == "llm":
        # The model's calls are blocking HTTP waits, bounded by NIANBAO_LLM_CONCURRENCY across
        # this process: in the thread pool (a pool worker would sit idle on the network).
        return await run_in_threadpool(_in_session, engine, extract_and_store, upload, settings)
    options = _options(upload, settings)
    database_url = shared_url(engine)
    try:
        if database_url is not None and settings.workers > 0:
            # Read, store and render in the worker: only the answer's bytes come back (no
            # Document and Extraction pickled across, no store on this process's one core).
            answer = await _read(pool.extract_and_store_async(
                upload.data, upload.filename, database_url=database_url,
                reader_version=_version(upload, settings), **options), upload)
            return Response(content=answer, media_type="application/json")
        doc, extraction = await _read(pool.extract_async(upload.data, upload.filename, **options), upload)
    except PoolBusy as busy:
        return error_response(busy)  # answered here: a full pool is no error to log
    # An in-memory SQLite is this process's alone: storage stays here, in a thread (the event
    # loop keeps serving).
    return await run_in_threadpool(_in_session, engine, _store_and_render, doc, extraction, upload, settings)


def _in_session(engine: Engine, store_with: Callable[..., _T], *args: Any) -> _T:
    """`store_with(session, *args)` in a session of its own, opened in the calling thread. Not a
    SessionDep: FastAPI opens and closes a sync dependency in the thread pool (two thread hops
    per request), and a request read and stored in a worker needs no session here at all."""
    with Session(engine) as session:
        return store_with(session, *args)


def _store_and_render(session: Session, doc: Document, extraction: Extraction, upload: Upload,
                      settings: Settings) -> Response:
    """Store, then the answer's JSON straight from the model (pydantic's serializer, in this
    thread): FastAPI would validate the whole extraction again against the response model and
    encode it on the event loop."""
    stored = store(session, doc, extraction, upload.data, version=_version(upload, settings))
    return Response(content=stored.model_dump_json(), media_type="application/json")


def _version(upload: Upload, settings: Settings) -> str:
    """The reader version this upload is read under, as a batch would name it."""
    from service.batch.version import reader_version

    return reader_version(pipeline.resolve_mode(upload.mode, settings), settings, upload.llm_scope)


def _options(upload: Upload, settings: Settings | None) -> dict[str, Any]:
    return {k: v for k, v in (("mode", upload.mode), ("llm_scope", upload.llm_scope), ("settings", settings))
            if v is not None}


@contextmanager
def _pipeline_errors(upload: Upload) -> Iterator[None]:
    """Around the pipeline: a refusal passes through (logged), anything else is a logged 500."""
    try:
        yield
    except NianbaoError as refusal:
        log.info("refused %r: %s", upload.filename, refusal.message_en)
        raise
    except pool.StoreFailed as exc:
        log.error("%s: %r", exc, upload.filename)  # the traceback is in the reader's log
        raise InternalError() from exc
    except Exception as exc:
        log.exception("pipeline failed on %r (%d bytes)", upload.filename, len(upload.data))
        raise InternalError() from exc


async def _read(reading: Awaitable[_T], upload: Upload) -> _T:
    """The pipeline's result (in the pool); a store that failed in the worker (logged there) is a 500."""
    with _pipeline_errors(upload):
        return await reading


def extract_and_store(session: Session, upload: Upload, settings: Settings) -> Extraction:
    """Pipeline (in this thread) then storage; a refusal or a failure stores nothing."""
    with _pipeline_errors(upload):
        doc, extraction = pipeline.extract_bytes(upload.data, upload.filename, **_options(upload, settings))
    return store(session, doc, extraction, upload.data, version=_version(upload, settings))


def store(session: Session, doc: Document, extraction: Extraction, source: bytes,
          version: str | None = None) -> Extraction:
    """Save in one transaction; a failure stores nothing and is a logged 500. With `version`
    (the reader version), the extraction also counts for batches: a later batch given the same
    bytes under the same version skips them instead of reading them again."""
    try:
        crud.save_extraction(session, doc, extraction, source=source, reader_version=version)
    except NianbaoError:
        session.rollback()
        raise
    except Exception as exc:
        session.rollback()
        log.exception("could not store extraction %s", extraction.extraction.id)
        raise InternalError() from exc
    return extraction