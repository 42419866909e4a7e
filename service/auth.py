"""Users, passwords, API tokens and sign-in sessions for the review API.

Passwords are argon2 (argon2-cffi); API tokens and session ids are random secrets of which only
the sha256 is stored, so a copy of the database signs no one in.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from service.errors import NianbaoError
from service.store.models import ApiTokenRow, SessionRow, UserRow

ROLES = ("reviewer", "admin")
SESSION_COOKIE = "nianbao_session"
SESSION_TTL = timedelta(hours=12)
TOKEN_PREFIX = "nbt_"
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a wrong name costs as long as a wrong
    password (made on first use: an argon2 hash costs tens of milliseconds and 64 MiB)."""
    return _hasher.hash("not a password")


class Unauthorized(NianbaoError):
    status_code = 401
    code = "unauthorized"


class Forbidden(NianbaoError):
    status_code = 403
    code = "forbidden"


class InvalidUser(NianbaoError):
    status_code = 422
    code = "invalid_user"


class TooManyAttempts(NianbaoError):
    """Too many failed sign-ins for one name from one client; `retry_after` in seconds."""

    status_code = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed sign-ins for this user from this client; try again in {retry_after} s",
            f"该用户从此客户端登录失败次数过多，请在 {retry_after} 秒后再试",
        )
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}  # sent by service.api.errors.error_response


class NotFoundUser(NianbaoError):
    status_code = 404
    code = "not_found"


class LoginLimiter:
    """Failed sign-ins per (username, client) within a sliding window. Past `failures`, every
    attempt is refused, the right password too (else guessing goes on), until the oldest failure
    leaves the window; a success clears the count. Kept in memory: per server process, lost on
    restart, bounded to `max_keys` pairs (the stalest are forgotten first)."""

    def __init__(self, failures: int = 5, window_seconds: float = 300.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.window, self.max_keys, self.clock = failures, window_seconds, max_keys, clock
        self._failed: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, username: str, client: str) -> None:
        """Raise TooManyAttempts when the pair is locked out now."""
        with self._lock:
            recent = self._recent((username, client))
            if len(recent) >= self.failures:
                raise TooManyAttempts(max(1, math.ceil(recent[0] + self.window - self.clock())))

    def failed(self, username: str, client: str) -> None:
        with self._lock:
            key = (username, client)
            recent = self._recent(key)
            recent.append(self.clock())
            self._failed[key] = recent
            if len(self._failed) > self.max_keys:
                stalest = min(self._failed, key=lambda k: self._failed[k][-1] if self._failed[k] else 0.0)
                del self._failed[stalest]

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failed.pop((username, client), None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        """The key's failures still inside the window (older ones dropped)."""
        recent = self._failed.get(key, deque())
        cutoff = self.clock() - self.window
        while recent and recent[0] <= cutoff:
            recent.popleft()
        if not recent:
            self._failed.pop(key, None)
        return recent


@dataclass(frozen=True)
class Principal:
    """Who is writing, and how they proved it (a session needs the CSRF token, a token does not)."""

    user_id: int
    username: str
    role: str
    csrf_token: str | None = None


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def count_users(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(UserRow)).one())


def create_user(session: Session, username: str, password: str, role: str) -> UserRow:
    """A new user; refuses an unknown role, a taken name, an empty or short password."""
    username = username.strip()
    if role not in ROLES:
        raise InvalidUser(f"role must be one of {', '.join(ROLES)}", f"角色必须是 {'、'.join(ROLES)} 之一")
    if not username or len(username) > 64:
        raise InvalidUser("the username must have 1 to 64 characters", "用户名须为 1 到 64 个字符")
    if len(password) < 8:
        raise InvalidUser("the password must have at least 8 characters", "密码至少 8 个字符")
    if session.exec(select(UserRow).where(UserRow.username == username)).first() is not None:
        raise InvalidUser(f"user {username!r} exists already", f"用户 {username!r} 已存在")
    user = UserRow(username=username, password_hash=_hasher.hash(password), role=role)
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def get_user(session: Session, username: str) -> UserRow | None:
    return session.exec(select(UserRow).where(UserRow.username == username)).first()


def authenticate(session: Session, username: str, password: str) -> UserRow:
    """The user when the password is right; one message for a wrong name and a wrong password."""
    user = get_user(session, username)
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise Unauthorized("wrong username or password", "用户名或密码错误")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.add(user)
        session.commit()
    return user


def create_token(session: Session, username: str) -> str:
    """A new API token for the user; the only time it is ever shown."""
    user = get_user(session, username)
    if user is None or user.id is None:
        raise InvalidUser(f"no user {username!r}", f"没有用户 {username!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiTokenRow(user_id=user.id, token_hash=_sha256(token)))
    session.commit()
    return token


def principal_for_token(session: Session, token: str) -> Principal | None:
    row = session.exec(select(ApiTokenRow).where(ApiTokenRow.token_hash == _sha256(token))).first()
    user = session.get(UserRow, row.user_id) if row else None
    if user is None or user.id is None:
        return None
    return Principal(user.id, user.username, user.role)


def start_session(session: Session, user: UserRow) -> tuple[str, str]:
    """(cookie value, csrf token) of a new session for the user."""
    assert user.id is not None
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.execute(delete(SessionRow).where(col(SessionRow.expires_at) < now))  # housekeeping
    session.add(SessionRow(id_hash=_sha256(cookie), user_id=user.id, csrf_token=csrf,
                           created_at=now, expires_at=now + SESSION_TTL))
    session.commit()
    return cookie, csrf


def principal_for_session(session: Session, cookie: str) -> Principal | None:
    row = session.get(SessionRow, _sha256(cookie))
    if row is None or _aware(row.expires_at) <= datetime.now(UTC):
        return None
    user = session.get(UserRow, row.user_id)
    if user is None or user.id is None:
        return None
    return Principal(user.id, user.username, user.role, csrf_token=row.csrf_token)


def end_session(session: Session, cookie: str) -> None:
    session.execute(delete(SessionRow).where(col(SessionRow.id_hash) == _sha256(cookie)))
    session.commit()


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and secrets.compare_digest(str(expected), str(given))


def list_users(session: Session) -> list[dict[str, Any]]:
    """Every user with how many API tokens and live sessions they hold (never the secrets)."""
    now = datetime.now(UTC)
    tokens: dict[int | None, int] = dict(session.exec(
        select(ApiTokenRow.user_id, func.count()).group_by(col(ApiTokenRow.user_id))).all())
    live: dict[int | None, int] = dict(session.exec(
        select(SessionRow.user_id, func.count()).where(col(SessionRow.expires_at) > now)
        .group_by(col(SessionRow.user_id))).all())
    return [{"username": u.username, "role": u.role, "created_at": u.created_at,
             "tokens": int(tokens.get(u.id, 0)), "sessions": int(live.get(u.id, 0))}
            for u in session.exec(select(UserRow).order_by(col(UserRow.username))).all()]


def revoke(session: Session, username: str) -> dict[str, Any]:
    """Delete every API token and end every session of the user (a lost laptop, a leaked token)."""
    user = get_user(session, username)
    if user is None or user.id is None:
        raise NotFoundUser(f"no user {username!r}", f"没有用户 {username!r}")
    tokens = session.execute(delete(ApiTokenRow).where(col(ApiTokenRow.user_id) == user.id))
    sessions = session.execute(delete(SessionRow).where(col(SessionRow.user_id) == user.id))
    session.commit()
    return {"user": user.username, "tokens_revoked": int(tokens.rowcount),  # type: ignore[attr-defined]
            "sessions_ended": int(sessions.rowcount)}  # type: ignore[attr-defined]
