"""The HTTP API end to end, with TestClient, on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session
from starlette.requests import Request
from starlette.types import Message

from service import __version__, pool
from service.api.upload import read_upload
from service.contract import Extraction
from service.errors import TooLarge
from service.store import crud
from service.store.db import make_engine
from tests.conftest import seed_files
from tests.test_pool import wait_for
from tests.ui_server import running_server

SEED = seed_files()[0]
SMALL_LIMIT = 4096  # bytes; every seed report is larger

ClientFactory = Callable[..., TestClient]


def row_counts(client: TestClient) -> dict[str, int]:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        return crud.row_counts(session)


def upload(client: TestClient, path: Path) -> Any:
    return client.post("/extract", files={"file": (path.name, path.read_bytes(), "text/plain")})


def assert_refusal(response: Any, status: int | None = None) -> dict[str, str]:
    assert 400 <= response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    body: dict[str, str] = response.json()
    assert body["error"] and body["reason_zh"] and body["reason_en"]
    assert body["reason"] == f"{body['reason_zh']} / {body['reason_en']}"
    return body


@pytest.mark.parametrize("seed", seed_files(), ids=lambda p: p.name[:3])
def test_upload_round_trip(client: TestClient, seed: Path) -> None:
    response = upload(client, seed)
    assert response.status_code == 200, response.text
    extraction = Extraction.model_validate(response.json())
    assert extraction.document.sha256 == hashlib.sha256(seed.read_bytes()).hexdigest()
    assert extraction.document.filename == seed.name
    assert extraction.fields, "the contract lists every path of the template"

    stored = client.get(f"/extractions/{extraction.extraction.id}")
    assert stored.status_code == 200
    assert stored.json() == response.json()

    text_response = client.get(f"/documents/{extraction.document.id}/text")
    assert text_response.status_code == 200
    assert text_response.headers["content-type"] == "text/plain; charset=utf-8"
    text = text_response.text
    assert len(text) == extraction.document.chars
    for field in extraction.fields:
        if field.span is None:
            continue
        start, end = field.span
        assert 0 <= start <= end <= len(text), field
        if field.value is not None:  # a blank cell may point at its empty place; a value may not
            assert text[start:end].strip(), f"{field.path}={field.value!r}: span {start}:{end} is blank"
    for finding in extraction.findings:
        for start, end in finding.spans:
            assert 0 <= start <= end <= len(text), finding

    document = client.get(f"/documents/{extraction.document.id}").json()
    assert document["sha256"] == extraction.document.sha256
    assert document["extraction_ids"] == [extraction.extraction.id]
    assert datetime.fromisoformat(document["created_at"]).tzinfo is not None

    counts = row_counts(client)
    assert (counts["document"], counts["extraction"]) == (1, 1)
    assert counts["extraction_field"] == len(extraction.fields)
    assert counts["finding"] == len(extraction.findings)


def test_json_text_round_trip(client: TestClient) -> None:
    report = SEED.read_text(encoding="utf-8")
    response = client.post("/extract", json={"text": report, "filename": "C:\\报告\\粘贴.txt"})
    assert response.status_code == 200, response.text
    extraction = Extraction.model_validate(response.json())
    assert extraction.document.sha256 == hashlib.sha256(report.encode("utf-8")).hexdigest()
    assert extraction.document.filename == "粘贴.txt"
    assert client.get(f"/documents/{extraction.document.id}/text").text.strip()


def test_same_document_twice_is_one_document_two_extractions(client: TestClient) -> None:
    first = upload(client, SEED).json()
    second = upload(client, SEED).json()
    assert first["document"]["id"] == second["document"]["id"]
    assert first["extraction"]["id"] != second["extraction"]["id"]
    document = client.get(f"/documents/{first['document']['id']}").json()
    assert document["extraction_ids"] == [first["extraction"]["id"], second["extraction"]["id"]]
    counts = row_counts(client)
    assert (counts["document"], counts["extraction"]) == (1, 2)


def _multipart(name: str, data: bytes) -> dict[str, Any]:
    return {"files": {"file": (name, data, "application/octet-stream")}}


BAD_INPUTS: dict[str, dict[str, Any]] = {
    "empty file": _multipart("empty.txt", b""),
    "blank file": _multipart("blank.txt", b" \n\t\n"),
    "binary junk": _multipart("junk.txt", bytes(range(256)) * 8),
    "png image": _multipart("scan.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)),
    "word 97 doc": _multipart("report.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)),
    "multipart without a file": {"files": {"text": (None, "年度报告")}},
    "multipart with no parts": {"content": b"", "headers": {"content-type": "multipart/form-data; boundary=x"}},
    "broken multipart": {"content": b"--x\r\nnonsense", "headers": {"content-type": "multipart/form-data; boundary=x"}},
    "form urlencoded": {"data": {"text": "年度报告"}},
    "file under another field": {"files": {"document": ("a.txt", b"x", "text/plain")}},
    "json with empty text": {"json": {"text": ""}},
    "json with blank text": {"json": {"text": "  \n "}},
    "json without text": {"json": {"filename": "a.txt"}},
    "json text not a string": {"json": {"text": 12}},
    "json with unknown key": {"json": {"txt": "年度报告"}},
    "json array": {"json": ["年度报告"]},
    "broken json": {"content": b'{"text": ', "headers": {"content-type": "application/json"}},
    "plain text body": {"content": "年度报告".encode(), "headers": {"content-type": "text/plain"}},
    "no content type": {"content": b"abc"},
}


def test_bad_inputs_are_refused_and_store_nothing(client: TestClient) -> None:
    """One database for all cases (they are many): each must be a 4xx with a reason, storing nothing."""
    upload(client, SEED)
    before = row_counts(client)
    failures = []
    for case, request in BAD_INPUTS.items():
        try:
            assert_refusal(client.post("/extract", **request))
            assert row_counts(client) == before, "rows were stored"
        except (AssertionError, KeyError, ValueError) as exc:
            failures.append(f"{case}: {exc}")
    assert not failures, "\n".join(failures)


def test_upload_over_the_limit_is_413(make_client: ClientFactory) -> None:
    client = make_client(max_upload_bytes=SMALL_LIMIT)
    body = assert_refusal(upload(client, SEED), 413)
    assert body["error"] == "too_large"
    long_text = SEED.read_text(encoding="utf-8")
    assert_refusal(client.post("/extract", json={"text": long_text}), 413)
    assert set(row_counts(client).values()) == {0}


def test_chunked_upload_over_the_limit_is_413(make_client: ClientFactory) -> None:
    """No Content-Length to refuse early: the streamed bytes are counted."""
    client = make_client(max_upload_bytes=SMALL_LIMIT)
    boundary = "nianbao-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n").encode()
    chunks = [head, *[b"x" * 65536 for _ in range(4)], f"\r\n--{boundary}--\r\n".encode()]
    response = client.post(
        "/extract", content=iter(chunks), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert_refusal(response, 413)
    assert set(row_counts(client).values()) == {0}


def test_reading_stops_once_over_the_limit() -> None:
    """The body is not read to its end: reading stops at the first chunk past the limit."""
    chunk, total_chunks, limit = b"x" * 10_000, 1_000, 5_000
    consumed = 0

    async def receive() -> Message:
        nonlocal consumed
        consumed += 1
        return {"type": "http.request", "body": chunk, "more_body": consumed < total_chunks}

    scope = {"type": "http", "method": "POST", "path": "/extract", "headers": [
        (b"content-type", b"application/json")]}
    with pytest.raises(TooLarge):
        asyncio.run(read_upload(Request(scope, receive), limit))
    assert consumed < total_chunks // 10


def test_pipeline_crash_is_a_500_without_a_traceback(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(data: bytes, filename: str | None = None, **options: Any) -> Any:
        raise RuntimeError("secret internals")

    client = make_client(workers=0)  # the pipeline in this process, where the patch is seen
    monkeypatch.setattr("service.pipeline.extract_bytes", explode)
    response = upload(client, SEED)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert set(row_counts(client).values()) == {0}


def _explode_in_worker(data: bytes, filename: str | None, options: dict[str, Any]) -> Any:
    raise RuntimeError("secret internals")


def _explode_in_worker_before_storing(data: bytes, filename: str | None, options: dict[str, Any],
                                      database_url: str, reader_version: str | None) -> Any:
    raise RuntimeError("secret internals")


def test_crash_in_a_worker_process_is_a_500_without_a_traceback(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(workers=1)
    # Pickled by name: they run in the worker (the first where the store stays in this process).
    monkeypatch.setattr(pool, "_run", _explode_in_worker)
    monkeypatch.setattr(pool, "_run_and_store", _explode_in_worker_before_storing)
    response = upload(client, SEED)
    assert response.status_code == 500, response.text
    assert response.json()["error"] == "internal_error"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert set(row_counts(client).values()) == {0}


def _store_into_an_unmigrated_file(data: bytes, filename: str | None, options: dict[str, Any],
                                   database_url: str, reader_version: str | None) -> Any:
    """The worker's read-and-store with a database that has no tables: the store fails there."""
    empty = f"sqlite:///{Path(database_url.removeprefix('sqlite:///')).parent / 'unmigrated.db'}"
    return pool._run_and_store(data, filename, options, empty, reader_version)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the failing store: a SQLite file
def test_a_store_failing_in_the_worker_is_a_500_and_stores_nothing(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(workers=1)
    monkeypatch.setattr(pool, "_run_and_store", _store_into_an_unmigrated_file)
    response = upload(client, SEED)
    assert response.status_code == 500, response.text
    assert response.json()["error"] == "internal_error"
    assert "Traceback" not in response.text and "no such table" not in response.text
    assert set(row_counts(client).values()) == {0}


def test_the_answer_is_the_same_whether_the_worker_or_this_process_stores(make_client: ClientFactory) -> None:
    """Workers store what they read on a database every process reaches; with workers = 0 this
    process reads and stores. Same upload, same answer and same stored rows (but for the new
    extraction's id and time)."""
    def answer(client: TestClient) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
        response = upload(client, SEED)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert client.get(f"/extractions/{body['extraction']['id']}").json() == body
        with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
            rows = [(f.path, f.value, f.confidence, f.level, f.sources, f.span_start, f.span_end, f.flags)
                    for f in crud.get_fields(session, body["extraction"]["id"])]
        for key in ("id", "created_at"):
            body["extraction"].pop(key)
        return body, rows

    in_worker = answer(make_client(workers=1))
    here = answer(make_client(workers=0))
    assert in_worker == here
    assert row_counts(make_client(workers=0))["extraction"] == 2


def test_a_full_pool_answers_503_with_retry_after_and_stores_nothing(make_client: ClientFactory,
                                                                     tmp_path: Path) -> None:
    client = make_client(workers=1, pool_queue=0)
    running = pool.get_pool(1, 0)
    release = tmp_path / "release"
    taken, _ = running.submit(wait_for, str(release))  # the one worker is busy, nothing may wait
    try:
        response = upload(client, SEED)
    finally:
        release.touch()
        taken.result(timeout=30)
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "busy" and body["reason_zh"] and body["reason_en"]
    assert int(response.headers["retry-after"]) >= 1
    assert set(row_counts(client).values()) == {0}
    assert upload(client, SEED).status_code == 200  # the worker free again: served


def test_concurrent_uploads_on_a_real_server_are_all_stored_once(database_url: str, tmp_path: Path) -> None:
    """16 uploads at once against uvicorn (worker processes, the real store): half the same
    document, half different ones. All 200, each document stored once, every field and finding
    of every extraction stored, and no "database is locked" in the server's log."""
    seeds = seed_files()
    same = seeds[0].read_bytes()
    bodies = [(f"same{n}.txt", same) if n % 2 else
              (f"other{n}.txt", seeds[n % len(seeds)].read_bytes() + f"\n并发测试 {n}\n".encode())
              for n in range(16)]
    with running_server(tmp_path, database_url) as server:
        def post(body: tuple[str, bytes]) -> httpx.Response:
            with httpx.Client(timeout=120) as http:
                return http.post(f"{server.url}/extract", files={"file": (body[0], body[1], "text/plain")},
                                 data={"mode": "deterministic"})

        with ThreadPoolExecutor(max_workers=16) as clients:
            responses = list(clients.map(post, bodies))
    assert [r.status_code for r in responses] == [200] * 16, [r.text[:200] for r in responses if r.status_code != 200]
    extractions = [Extraction.model_validate(r.json()) for r in responses]
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            counts = crud.row_counts(session)
            stored_per_sha = session.connection().execute(
                text("SELECT sha256, count(*) FROM document GROUP BY sha256")).all()
    finally:
        engine.dispose()
    distinct = {hashlib.sha256(data).hexdigest() for _, data in bodies}
    assert {sha for sha, _ in stored_per_sha} == distinct and all(n == 1 for _, n in stored_per_sha)
    assert len({e.document.id for e in extractions}) == len(distinct) == counts["document"]
    assert counts["extraction"] == 16 == len({e.extraction.id for e in extractions})
    assert counts["extraction_field"] == sum(len(e.fields) for e in extractions)
    assert counts["finding"] == sum(len(e.findings) for e in extractions)
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "database is locked" not in log and "Traceback" not in log, log[-2000:]


@pytest.mark.parametrize("path", ["/documents/doc_nope", "/documents/doc_nope/text", "/extractions/ext_nope"])
def test_unknown_ids_are_404_with_a_reason(client: TestClient, path: str) -> None:
    body = assert_refusal(client.get(path), 404)
    assert "nope" in body["reason_en"]


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__, "database": "ok", "mode": "deterministic"}


def test_health_is_503_when_the_schema_is_not_at_head(client: TestClient) -> None:
    with client.app.state.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("DELETE FROM alembic_version"))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "error"


def test_health_reports_llm_mode_when_a_model_is_configured(make_client: ClientFactory) -> None:
    client = make_client(llm_base_url="http://127.0.0.1:9/v1", llm_model="some-model")
    assert client.get("/health").json()["mode"] == "llm"
    # An endpoint without a model name is no configured model: auto runs deterministic.
    client = make_client(llm_base_url="http://127.0.0.1:9/v1")
    assert client.get("/health").json()["mode"] == "deterministic"


def test_docs_describe_both_ways_to_extract(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    body = client.get("/openapi.json").json()["paths"]["/extract"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)


def test_unknown_route_uses_the_error_shape(client: TestClient) -> None:
    assert_refusal(client.get("/nowhere"), 404)
    assert_refusal(client.get("/extract"), 405)



def test_served_report_text_is_never_sniffed(client: TestClient) -> None:
    seed = next((Path(__file__).resolve().parent.parent / "evals" / "docs" / "seeds").glob("000_*.txt"))
    text = seed.read_text("utf-8") + "\n<script>alert(1)</script>"
    doc = client.post("/extract", json={"text": text, "filename": "x.txt"}).json()["document"]["id"]
    served = client.get(f"/documents/{doc}/text")
    assert served.status_code == 200 and "<script>" in served.text
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-type"].startswith("text/plain")
