"""Sign-in, sessions, CSRF, API tokens and the users CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.auth import SESSION_COOKIE, LoginLimiter, TooManyAttempts, authenticate, create_user
from service.cli import main
from service.errors import NianbaoError
from service.store.models import ApiTokenRow, SessionRow, UserRow
from tests.conftest import seed_files
from tests.test_review_api import (
    PASSWORD,
    ClientFactory,
    add_user,
    patch,
    signed_in,
    token_for,
    upload,
)

# The review API tests' fixtures: a client (factory) on each backend's fresh database.



def test_login_me_logout(client: TestClient) -> None:
    add_user(client, "carol", "admin")
    assert client.get("/auth/me").status_code == 401
    wrong = client.post("/auth/login", json={"username": "carol", "password": PASSWORD + "x"})
    unknown = client.post("/auth/login", json={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["reason_en"] == unknown.json()["reason_en"]  # no hint which one was wrong
    response = client.post("/auth/login", json={"username": "carol", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert (body["user"], body["role"]) == ("carol", "admin") and len(body["csrf_token"]) >= 32
    cookie_header = response.headers["set-cookie"]
    assert cookie_header.startswith(f"{SESSION_COOKIE}=") and "httponly" in cookie_header.lower()
    assert client.get("/auth/me").json() == {"user": "carol", "role": "admin"}
    kept = client.cookies.get(SESSION_COOKIE)
    assert client.post("/auth/logout").status_code == 204
    assert client.get("/auth/me").status_code == 401
    client.cookies.set(SESSION_COOKIE, kept or "")  # a kept copy of the cookie no longer works
    assert client.get("/auth/me").status_code == 401


def test_writes_need_a_user_and_the_csrf_token(make_client: ClientFactory) -> None:
    anonymous = make_client()
    doc = upload(anonymous, seed_files()[0])["document"]["id"]
    body = {"action": "accept", "version": 0}
    assert anonymous.patch(f"/documents/{doc}/fields/meta.issuer", json=body).status_code == 401
    assert anonymous.get(f"/documents/{doc}/review").status_code == 200  # reading is open
    browser = make_client()
    headers = signed_in(browser, "dave")
    assert browser.patch(f"/documents/{doc}/fields/meta.issuer", json=body).status_code == 403
    assert browser.patch(f"/documents/{doc}/fields/meta.issuer", json=body,
                         headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert browser.post(f"/documents/{doc}/status", json={"status": "reviewed"}).status_code == 403
    assert patch(browser, doc, "meta.issuer", headers, **body).status_code == 200
    with Session(browser.app.state.engine) as session:  # type: ignore[attr-defined]
        assert len(session.exec(select(SessionRow)).all()) == 1


def test_tokens_and_passwords_are_stored_hashed(client: TestClient) -> None:
    add_user(client, "erin")
    token = token_for(client, "erin")
    doc = upload(client, seed_files()[0])["document"]["id"]
    body = {"action": "accept", "version": 0}
    bad = client.patch(f"/documents/{doc}/fields/meta.issuer", json=body,
                       headers={"Authorization": f"Bearer {token}x"})
    assert bad.status_code == 401
    good = client.patch(f"/documents/{doc}/fields/meta.issuer", json=body,
                        headers={"Authorization": f"Bearer {token}"})
    assert good.status_code == 200, good.text
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        user = session.exec(select(UserRow).where(UserRow.username == "erin")).one()
        assert user.password_hash.startswith("$argon2") and PASSWORD not in user.password_hash
        stored = [t.token_hash for t in session.exec(select(ApiTokenRow)).all()]
        assert stored and all(token not in s and token[4:] not in s for s in stored)
        assert authenticate(session, "erin", PASSWORD).username == "erin"
        with pytest.raises(NianbaoError):
            authenticate(session, "erin", "not the password")


def test_create_user_refusals(client: TestClient) -> None:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        create_user(session, "frank", PASSWORD, "reviewer")
        for name, password, role in (("frank", PASSWORD, "reviewer"), ("gina", "short", "reviewer"),
                                     ("gina", PASSWORD, "owner"), ("", PASSWORD, "admin")):
            with pytest.raises(NianbaoError) as refused:
                create_user(session, name, password, role)
            assert refused.value.message_zh and refused.value.message_en


def test_first_start_says_how_to_create_an_admin(make_client: ClientFactory,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.api.app"):
        first = make_client()
    assert any("users create" in r.getMessage() for r in caplog.records)
    add_user(first, "admin1", "admin")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="service.api.app"):
        make_client()
    assert not any("users create" in r.getMessage() for r in caplog.records)


def test_users_cli(database_url: str, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str], make_client: ClientFactory) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "create", "hana", "--role", "admin", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "create", "hana", "--role", "admin", "--password-stdin"]) == 2
    assert "hana" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "create", "ivan", "--role", "reviewer", "--password-stdin"]) == 2
    with pytest.raises(SystemExit) as bad_role:
        main(["users", "create", "ivan", "--role", "owner", "--password-stdin"])
    assert bad_role.value.code == 2
    assert main(["users", "token", "nobody"]) == 2
    capsys.readouterr()
    assert main(["users", "token", "hana"]) == 0
    token = capsys.readouterr().out.strip()
    web = make_client()
    assert web.post("/auth/login", json={"username": "hana", "password": PASSWORD}).status_code == 200
    doc = upload(web, seed_files()[0])["document"]["id"]
    web.cookies.clear()
    response = web.patch(f"/documents/{doc}/fields/meta.issuer", json={"action": "accept", "version": 0},
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------ sign-in rate limit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def login(client: TestClient, name: str, password: str) -> Any:
    return client.post("/auth/login", json={"username": name, "password": password})


def test_failed_sign_ins_are_limited_per_user_and_a_success_resets_the_count(client: TestClient) -> None:
    clock = Clock()
    client.app.state.login_limiter = LoginLimiter(clock=clock)  # type: ignore[attr-defined]
    add_user(client, "erin")
    add_user(client, "frank")
    for _ in range(5):
        assert login(client, "erin", "wrong password").status_code == 401
        clock.now += 10
    refused = login(client, "erin", PASSWORD)  # the right password too: guessing must stop
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "too_many_attempts" and "秒" in body["reason_zh"] and "try again" in body["reason_en"]
    assert int(refused.headers["retry-after"]) == 300 - 50
    assert login(client, "frank", PASSWORD).status_code == 200  # another user is not locked out
    clock.now += 300 - 50  # the first failure leaves the window: one more try
    assert login(client, "erin", "wrong again").status_code == 401
    assert login(client, "erin", PASSWORD).status_code == 429  # five in the window again
    clock.now += 301
    assert login(client, "erin", PASSWORD).status_code == 200
    # The success cleared the count: four more failures are four 401s, the fifth locks again.
    for _ in range(4):
        assert login(client, "erin", "wrong").status_code == 401
    assert login(client, "erin", PASSWORD).status_code == 200
    for _ in range(5):
        assert login(client, "erin", "wrong").status_code == 401
    assert login(client, "erin", "wrong").status_code == 429
    assert login(client, "nobody", "x").status_code == 401  # an unknown name is counted on its own


def test_the_limiter_keeps_clients_apart_and_stays_bounded() -> None:
    clock = Clock()
    limiter = LoginLimiter(failures=2, window_seconds=60, max_keys=3, clock=clock)
    for _ in range(2):
        limiter.failed("erin", "10.0.0.1")
    with pytest.raises(TooManyAttempts) as refused:
        limiter.check("erin", "10.0.0.1")
    assert refused.value.status_code == 429 and refused.value.retry_after == 60
    limiter.check("erin", "10.0.0.2")  # another client may still try
    for k in range(10):
        clock.now += 1
        limiter.failed(f"user{k}", "10.0.0.9")
    assert len(limiter._failed) <= 3  # the stalest pairs were forgotten
    limiter.check("erin", "10.0.0.1")


# ------------------------------------------------------------------ admin: users and revocation


def test_admin_lists_users_and_revokes_their_tokens_and_sessions(make_client: ClientFactory) -> None:
    admin = make_client()
    headers = signed_in(admin, "root", "admin")
    add_user(admin, "bob")
    bob_token = token_for(admin, "bob")
    token_for(admin, "bob")
    bob_browser = make_client()
    login(bob_browser, "bob", PASSWORD)
    assert bob_browser.get("/auth/me").status_code == 200
    listed = {u["username"]: u for u in admin.get("/auth/users").json()}
    assert (listed["bob"]["role"], listed["bob"]["tokens"], listed["bob"]["sessions"]) == ("reviewer", 2, 1)
    assert (listed["root"]["role"], listed["root"]["tokens"], listed["root"]["sessions"]) == ("admin", 0, 1)
    assert "password_hash" not in listed["bob"]
    # Reviewers and strangers may not; a session write needs its CSRF token.
    assert bob_browser.get("/auth/users").status_code == 403
    assert make_client().get("/auth/users").status_code == 401
    assert admin.post("/auth/users/bob/revoke").status_code == 403
    assert bob_browser.post("/auth/users/root/revoke",
                            headers={"X-CSRF-Token": "x"}).status_code == 403
    response = admin.post("/auth/users/bob/revoke", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"user": "bob", "tokens_revoked": 2, "sessions_ended": 1}
    assert bob_browser.get("/auth/me").status_code == 401
    doc = upload(admin, seed_files()[0])["document"]["id"]
    write = patch(admin, doc, "meta.issuer", {"Authorization": f"Bearer {bob_token}"}, action="accept", version=0)
    assert write.status_code == 401
    assert admin.get("/auth/me").status_code == 200  # the admin's own session is untouched
    assert admin.post("/auth/users/nobody/revoke", headers=headers).status_code == 404
    assert {u["username"]: u["tokens"] for u in admin.get("/auth/users").json()}["bob"] == 0
