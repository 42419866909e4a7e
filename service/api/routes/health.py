"""GET /health: is the service up, is its database reachable and migrated, which mode it runs in."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from service import __version__
from service.api.deps import EngineDep, SettingsDep
from service.api.public import HealthPublic
from service.pipeline import model_configured
from service.store.db import database_is_ok

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def health(response: Response, engine: EngineDep, settings: SettingsDep) -> HealthPublic:
    database_ok = await run_in_threadpool(database_is_ok, engine)
    if not database_ok:
        response.status_code = 503
    return HealthPublic(
        status="ok" if database_ok else "error",
        version=__version__,
        database="ok" if database_ok else "error",
        mode="llm" if model_configured(settings) else "deterministic",
    )
