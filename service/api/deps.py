"""Dependencies: settings and engine live on app.state (built in create_app, never at import)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from service import auth
from service.auth import Principal
from service.config import Settings


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def app_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(app_engine)]) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(app_settings)]
EngineDep = Annotated[Engine, Depends(app_engine)]
SessionDep = Annotated[Session, Depends(get_session)]


def current_principal(request: Request, session: SessionDep) -> Principal | None:
    """Who is signed in: a bearer token, else the session cookie; None when neither is valid."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return auth.principal_for_token(session, token.strip())
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    return auth.principal_for_session(session, cookie) if cookie else None


PrincipalDep = Annotated[Principal | None, Depends(current_principal)]


def writer(request: Request, principal: PrincipalDep) -> Principal:
    """Writes need a signed-in user; with a session, also the CSRF token in X-CSRF-Token
    (a bearer token is not sent by browsers on their own, so it needs none)."""
    if principal is None:
        raise auth.Unauthorized("sign in first (session cookie or Authorization: Bearer token)",
                                "请先登录（会话 Cookie 或 Authorization: Bearer 令牌）")
    if principal.csrf_token is not None and not auth.csrf_matches(
        principal.csrf_token, request.headers.get("x-csrf-token")
    ):
        raise auth.Forbidden("missing or wrong X-CSRF-Token header", "缺少或错误的 X-CSRF-Token 请求头")
    return principal


WriterDep = Annotated[Principal, Depends(writer)]
