"""The app factory and `serve` (behind `nianbao serve`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service import __version__
from service.api.errors import install_error_handlers
from service.api.routes import documents, extract, health
from service.config import Settings, get_settings
from service.store.db import make_engine, migrate

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
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(title="nianbao", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    install_error_handlers(app)
    app.include_router(extract.router)
    app.include_router(documents.router)
    app.include_router(health.router)
    return app


def serve(host: str, port: int) -> None:
    """Run the API on uvicorn; with no configuration it keeps its data in ./nianbao.db (SQLite)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port)
