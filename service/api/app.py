"""The app factory and `serve` (behind `nianbao serve`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine
from sqlmodel import Session

from service import __version__, pool
from service.api.errors import install_error_handlers
from service.api.routes import auth as auth_routes
from service.api.routes import batches, documents, exports, extract, health, review, web
from service.config import Settings, get_settings
from service.store.db import make_engine, migrate

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Turns 政府信息公开工作年度报告 into checked data: POST a report to /extract, "
    "read the stored text, documents and extractions back."
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for `settings` (default: from the environment); the schema is migrated on start."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        migrate(engine)  # alembic upgrade head, SQLite and PostgreSQL alike
        _tell_how_to_create_first_admin(engine)
        _resume_batches(engine, settings)
        # Warm the reader processes before the first request; they stop at exit (service.pool's atexit),
        # not here: the pool is per process and outlives one app (tests build many).
        await asyncio.to_thread(pool.start, settings=settings)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(title="nianbao", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    install_error_handlers(app)

    @app.middleware("http")
    async def nosniff(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Served report text is data: no browser may sniff it into HTML or script."""
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    app.include_router(extract.router)
    app.include_router(batches.router)
    app.include_router(documents.router)
    app.include_router(health.router)
    app.include_router(auth_routes.router)
    app.include_router(review.router)
    app.include_router(exports.router)
    app.include_router(web.router)
    return app


def _tell_how_to_create_first_admin(engine: Engine) -> None:
    """A fresh install has no one who may review: say how to make the first admin."""
    from service.auth import count_users

    with Session(engine) as session:
        if count_users(session) == 0:
            log.warning("no users yet: create the first admin with "
                        "`nianbao users create NAME --role admin` (reads the password from a prompt) / "
                        "尚无用户：请用 `nianbao users create 用户名 --role admin` 创建第一个管理员")


def _resume_batches(engine: Engine, settings: Settings) -> None:
    """On the embedded store a batch runs in the server's process: what a stopped server left
    unfinished goes on now (on PostgreSQL the queue keeps it for `nianbao worker`)."""
    if engine.dialect.name == "postgresql":
        from service.batch.store import mark_abandoned

        mark_abandoned(engine)  # batches whose `nianbao batch` is gone say so at once
        return
    from service.batch.runner import resume_unfinished

    resume_unfinished(engine, settings)


def serve(host: str, port: int) -> None:
    """Run the API on uvicorn; with no configuration it keeps its data in ./nianbao.db (SQLite)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port)
