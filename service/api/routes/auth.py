"""Sign-in: a session cookie plus a CSRF token for the browser; API tokens come from the CLI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from service import auth
from service.api.deps import PrincipalDep, SessionDep
from service.api.public import ErrorPublic

router = APIRouter(prefix="/auth", tags=["auth"])
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorPublic}, 422: {"model": ErrorPublic}}


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


@router.post("/login", response_model=LoginPublic, responses=_ERRORS)
def login(body: LoginRequest, request: Request, response: Response, session: SessionDep) -> LoginPublic:
    """Check the password; set the httponly `nianbao_session` cookie; send X-CSRF-Token with every write."""
    user = auth.authenticate(session, body.username, body.password)
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
