"""Sign-in: a session cookie plus a CSRF token for the browser; API tokens come from the CLI."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from service import auth
from service.api.deps import PrincipalDep, SessionDep, WriterDep
from service.api.errors import error_response
from service.api.public import ErrorPublic

router = APIRouter(prefix="/auth", tags=["auth"])
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorPublic}, 422: {"model": ErrorPublic}}
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorPublic} for s in (401, 403, 404)}
_limiter_lock = threading.Lock()


class LoginRequest(BaseModel):
    username: str
    password: str


class LoginPublic(BaseModel):
    user: str
    role: str
    csrf_token: str


class MePublic(BaseModel):
    user: str
    role: str


class UserPublic(BaseModel):
    username: str
    role: str
    created_at: datetime
    tokens: int
    sessions: int


class RevokedPublic(BaseModel):
    user: str
    tokens_revoked: int
    sessions_ended: int


def login_limiter(request: Request) -> auth.LoginLimiter:
    """The app's limiter of failed sign-ins (one per app, made on first use)."""
    state = request.app.state
    with _limiter_lock:
        limiter: auth.LoginLimiter | None = getattr(state, "login_limiter", None)
        if limiter is None:
            limiter = state.login_limiter = auth.LoginLimiter()
    return limiter


@router.post("/login", response_model=LoginPublic, responses={**_ERRORS, 429: {"model": ErrorPublic}})
def login(body: LoginRequest, request: Request, response: Response, session: SessionDep) -> Any:
    """Check the password; set the httponly `nianbao_session` cookie; send X-CSRF-Token with every write.
    Five failures for one username from one client within five minutes: 429 (with Retry-After) until
    the oldest leaves the window, even for the right password; a success clears the count."""
    limiter = login_limiter(request)
    client = request.client.host if request.client else "unknown"
    try:
        limiter.check(body.username, client)
        user = auth.authenticate(session, body.username, body.password)
    except auth.TooManyAttempts as refused:
        return error_response(refused)
    except auth.Unauthorized:
        limiter.failed(body.username, client)
        raise
    limiter.succeeded(body.username, client)
    cookie, csrf = auth.start_session(session, user)
    response.set_cookie(auth.SESSION_COOKIE, cookie, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=int(auth.SESSION_TTL.total_seconds()),
                        path="/")
    return LoginPublic(user=user.username, role=user.role, csrf_token=csrf)


@router.post("/logout", status_code=204)
def logout(request: Request, session: SessionDep) -> Response:
    """End the session (the cookie stops working even if kept)."""
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    if cookie:
        auth.end_session(session, cookie)
    response = Response(status_code=204)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MePublic, responses=_ERRORS)
def me(principal: PrincipalDep) -> MePublic:
    if principal is None:
        raise auth.Unauthorized("not signed in", "未登录")
    return MePublic(user=principal.username, role=principal.role)


def _admin(principal: auth.Principal | None) -> auth.Principal:
    if principal is None:
        raise auth.Unauthorized("sign in first", "请先登录")
    if principal.role != "admin":
        raise auth.Forbidden("only an admin may manage users", "只有管理员可以管理用户")
    return principal


@router.get("/users", response_model=list[UserPublic], responses=_ADMIN_ERRORS)
def users(principal: PrincipalDep, session: SessionDep) -> list[dict[str, Any]]:
    """Every user, with the number of API tokens and live sessions each holds (admins only)."""
    _admin(principal)
    return auth.list_users(session)


@router.post("/users/{username}/revoke", response_model=RevokedPublic, responses=_ADMIN_ERRORS)
def revoke(username: str, principal: WriterDep, session: SessionDep) -> dict[str, Any]:
    """Revoke every API token of the user and end all their sessions (admins only; the user and
    their reviews stay)."""
    _admin(principal)
    return auth.revoke(session, username)
