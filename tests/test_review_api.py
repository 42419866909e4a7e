"""The review API end to end on SQLite and PostgreSQL: reviewed values, optimistic locking,
audit history, status, the queue, the documents list, re-extraction and the template grid."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from service import templates
from service.auth import create_token, create_user
from service.cli import main
from service.contract import Finding
from tests.conftest import REPO, seed_files

ClientFactory = Callable[..., TestClient]
PASSWORD = "correct horse battery"


def add_user(client: TestClient, name: str = "alice", role: str = "reviewer") -> None:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        create_user(session, name, PASSWORD, role)


def token_for(client: TestClient, name: str) -> str:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        return create_token(session, name)


def signed_in(client: TestClient, name: str = "alice", role: str = "reviewer") -> dict[str, str]:
    """Create the user, sign in (the cookie stays on the client); the CSRF header for writes."""
    add_user(client, name, role)
    response = client.post("/auth/login", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def upload(client: TestClient, path: Path) -> dict[str, Any]:
    response = client.post("/extract", files={"file": (path.name, path.read_bytes(), "text/plain")})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def review_of(client: TestClient, document_id: str) -> dict[str, Any]:
    response = client.get(f"/documents/{document_id}/review")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def int_field(review: dict[str, Any]) -> dict[str, Any]:
    """A numeric table field with a value, so an edit to value+1 surely changes it."""
    return next(f for f in review["fields"] if f["path"].startswith("applications.")
                and isinstance(f["value"], int) and not isinstance(f["value"], bool))


def patch(client: TestClient, doc: str, path: str, headers: dict[str, str], **body: Any) -> Any:
    return client.patch(f"/documents/{doc}/fields/{path}", json=body, headers=headers)


def test_review_shows_every_field_of_the_extraction_unreviewed(client: TestClient) -> None:
    extraction = upload(client, seed_files()[0])
    review = review_of(client, extraction["document"]["id"])
    assert review["extraction_id"] == extraction["extraction"]["id"]
    assert [f["path"] for f in review["fields"]] == [f["path"] for f in extraction["fields"]]
    for shown, read in zip(review["fields"], extraction["fields"], strict=True):
        assert shown["value"] == read["value"] and shown["level"] == read["level"]
        assert (shown["reviewed"], shown["version"], shown["disagrees"]) == (False, 0, False)
    assert len(review["findings"]) == len(extraction["findings"])
    assert review["status"] == "to_review"
    assert review["template"] == extraction_value(extraction, "meta.template")


def extraction_value(extraction: dict[str, Any], path: str) -> Any:
    return next(f["value"] for f in extraction["fields"] if f["path"] == path)


def test_edit_then_stale_write_is_409_and_loses_nothing(client: TestClient) -> None:
    headers = signed_in(client)
    doc = upload(client, seed_files()[1])["document"]["id"]
    field = int_field(review_of(client, doc))
    path, read = field["path"], field["value"]
    first = patch(client, doc, path, headers, action="edit", value=read + 1, version=0)
    assert first.status_code == 200, first.text
    saved = first.json()
    assert (saved["value"], saved["reviewed_value"], saved["version"]) == (read + 1, read + 1, 1)
    assert saved["reviewed"] and saved["disagrees"]
    # A second reviewer who loaded version 0 writes: refused, told what is stored now.
    stale = patch(client, doc, path, headers, action="edit", value=read + 7, version=0)
    assert stale.status_code == 409
    assert stale.json()["field"]["value"] == read + 1 and stale.json()["field"]["version"] == 1
    assert stale.json()["detail"]
    shown = next(f for f in review_of(client, doc)["fields"] if f["path"] == path)
    assert (shown["value"], shown["version"]) == (read + 1, 1)
    # If-Match carries the version as well as the body does.
    accepted = client.patch(f"/documents/{doc}/fields/{path}", json={"action": "accept"},
                            headers={**headers, "If-Match": '"1"'})
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["value"], accepted.json()["version"], accepted.json()["disagrees"]) == (read, 2, False)
    history = client.get(f"/documents/{doc}/fields/{path}/history").json()
    assert [(h["action"], h["old"], h["new"], h["version"], h["user"]) for h in history] == [
        ("edit", read, read + 1, 1, "alice"), ("accept", read + 1, read, 2, "alice")]


def test_blank_alternative_and_bad_values(client: TestClient) -> None:
    headers = signed_in(client)
    doc = upload(client, seed_files()[2])["document"]["id"]
    field = int_field(review_of(client, doc))
    path = field["path"]
    blank = patch(client, doc, path, headers, action="blank", version=0)
    assert blank.status_code == 200 and blank.json()["value"] is None and blank.json()["reviewed"]
    for bad in ({"action": "edit", "value": "abc", "version": 1}, {"action": "edit", "value": -3, "version": 1},
                {"action": "edit", "value": True, "version": 1}, {"action": "edit", "version": 1},
                {"action": "alternative", "value": 987654, "version": 1},
                {"action": "shred", "version": 1}, {"action": "accept"}):
        response = patch(client, doc, path, headers, **bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["reason_zh"] and response.json()["reason_en"]
    # Nothing of the refused writes was stored.
    assert len(client.get(f"/documents/{doc}/fields/{path}/history").json()) == 1
    date = patch(client, doc, "meta.published_on", headers, action="edit", value="2022-01-15", version=0)
    assert date.status_code == 200 and date.json()["value"] == "2022-01-15"
    assert patch(client, doc, "meta.published_on", headers, action="edit", value="2022-13-45",
                 version=1).status_code == 422


def test_alternative_must_be_an_offered_reading(client: TestClient) -> None:
    headers = signed_in(client)
    doc = upload(client, seed_files()[0])["document"]["id"]
    field = int_field(review_of(client, doc))
    offered = field["sources"].get("parser", field["value"])
    response = patch(client, doc, field["path"], headers, action="alternative", value=offered, version=0)
    assert response.status_code == 200, response.text
    assert response.json()["value"] == offered
    # A glued layout leaves cells with several readings: each one listed may be picked.
    glued = upload(client, REPO / "evals" / "docs" / "dev" / "pingtan_2021_glued.txt")["document"]["id"]
    doubtful = [f for f in review_of(client, glued)["fields"] if f["sources"].get("alternatives")]
    assert doubtful
    for f in doubtful:
        pick = f["sources"]["alternatives"][-1]
        picked = patch(client, glued, f["path"], headers, action="alternative", value=pick, version=0)
        assert picked.status_code == 200 and picked.json()["value"] == pick and picked.json()["disagrees"]


def test_unknown_document_or_path_is_404(client: TestClient) -> None:
    headers = signed_in(client)
    doc = upload(client, seed_files()[0])["document"]["id"]
    assert client.get("/documents/doc_nope/review").status_code == 404
    assert patch(client, doc, "applications.no_such.row", headers, action="blank", version=0).status_code == 404
    assert patch(client, "doc_nope", "meta.issuer", headers, action="blank", version=0).status_code == 404
    assert client.get(f"/documents/{doc}/fields/nope/history").status_code == 404


def test_queue_is_lowest_confidence_first_and_skips_reviewed(client: TestClient) -> None:
    headers = signed_in(client)
    docs = [upload(client, p) for p in seed_files()[:3]]
    everything = [(d["document"]["id"], f) for d in docs for f in d["fields"]]
    queue = client.get("/review/queue", params={"limit": 40}).json()
    assert len(queue) == 40
    confidences = [q["confidence"] for q in queue]
    assert confidences == sorted(confidences)
    assert confidences[0] == min(f["confidence"] for _, f in everything)
    first = queue[0]
    version = 0
    assert patch(client, first["document_id"], first["path"], headers, action="accept",
                 version=version).status_code == 200
    after = client.get("/review/queue", params={"limit": 1000}).json()
    assert (first["document_id"], first["path"]) not in {(q["document_id"], q["path"]) for q in after}
    assert len(after) == min(1000, len(everything) - 1)


def test_documents_list_filters_sorts_and_pages(client: TestClient) -> None:
    headers = signed_in(client)
    docs = [upload(client, p) for p in seed_files()]
    listing = client.get("/documents", params={"sort": "low", "order": "desc", "per_page": 2}).json()
    assert listing["total"] == len(docs) and len(listing["items"]) == 2
    every = client.get("/documents", params={"sort": "low", "order": "desc"}).json()["items"]
    lows = {d["document"]["id"]: sum(f["level"] == "low" for f in d["fields"]) for d in docs}
    assert {i["id"]: i["low_count"] for i in every} == lows
    assert [i["low_count"] for i in every] == sorted(lows.values(), reverse=True)
    page2 = client.get("/documents", params={"sort": "low", "order": "desc", "per_page": 2, "page": 2}).json()
    assert [i["id"] for i in page2["items"]] == [i["id"] for i in every[2:4]]
    finds = {d["document"]["id"]: len(d["findings"]) for d in docs}
    assert {i["id"]: i["findings_count"] for i in every} == finds
    target = docs[0]["document"]["id"]
    response = client.post(f"/documents/{target}/status", json={"status": "reviewed"}, headers=headers)
    assert response.status_code == 200, response.text
    reviewed = client.get("/documents", params={"status": "reviewed"}).json()
    assert [i["id"] for i in reviewed["items"]] == [target] and reviewed["total"] == 1
    assert client.get("/documents", params={"status": "to_review"}).json()["total"] == len(docs) - 1
    year = extraction_value(docs[0], "meta.report_year")
    by_year = client.get("/documents", params={"year": year}).json()["items"]
    assert {i["id"] for i in by_year} == {d["document"]["id"] for d in docs
                                          if extraction_value(d, "meta.report_year") == year}
    kinds = {f["kind"] for d in docs for f in d["findings"]}
    for kind in kinds:
        having = {d["document"]["id"] for d in docs if any(f["kind"] == kind for f in d["findings"])}
        listed = client.get("/documents", params={"finding_kind": kind}).json()["items"]
        assert {i["id"] for i in listed} == having
    issuer = extraction_value(docs[0], "meta.issuer")
    assert target in {i["id"] for i in client.get("/documents", params={"issuer": issuer}).json()["items"]}
    assert client.get("/documents", params={"sort": "size"}).status_code == 422
    assert client.post(f"/documents/{target}/status", json={"status": "done"}, headers=headers).status_code == 422


def test_reextract_keeps_reviewed_values(client: TestClient) -> None:
    headers = signed_in(client)
    extraction = upload(client, seed_files()[3])
    doc = extraction["document"]["id"]
    field = int_field(review_of(client, doc))
    assert patch(client, doc, field["path"], headers, action="edit", value=field["value"] + 5,
                 version=0).status_code == 200
    response = client.post(f"/documents/{doc}/reextract", headers=headers)
    assert response.status_code == 200, response.text
    new_id = response.json()["extraction"]["id"]
    assert new_id != extraction["extraction"]["id"]
    review = review_of(client, doc)
    assert review["extraction_id"] == new_id
    shown = next(f for f in review["fields"] if f["path"] == field["path"])
    assert (shown["value"], shown["reviewed"], shown["version"], shown["disagrees"]) == (
        field["value"] + 5, True, 1, True)
    assert client.get(f"/documents/{doc}").json()["extraction_ids"][-1] == new_id
    assert client.post(f"/documents/{doc}/reextract").status_code == 403  # session cookie, no CSRF


@pytest.mark.parametrize("template", templates.TEMPLATES)
def test_grid_holds_every_table_path_of_the_template_once(client: TestClient, template: str) -> None:
    grid = client.get("/schemas/grid", params={"template": template}).json()
    assert [t["key"] for t in grid["tables"]] == ["active_disclosure", "applications", "reviews_and_litigation"]
    cells = [p for t in grid["tables"] for row in t["cell_paths"] for p in row if p is not None]
    for table in grid["tables"]:
        assert len(table["cell_paths"]) == len(table["rows"])
        assert all(len(row) == len(table["columns"]) for row in table["cell_paths"])
    sections = ("active_disclosure.", "applications.", "reviews_and_litigation.")
    expected = [p for p in templates.paths_for(template) if p.startswith(sections)]
    assert sorted(cells) == sorted(expected)  # each once, none of the other template's
    assert client.get("/schemas/grid", params={"template": "2020"}).status_code == 422


def test_new_endpoints_are_in_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/auth/login", "/auth/logout", "/auth/me", "/documents", "/documents/{document_id}/review",
                 "/documents/{document_id}/fields/{path}", "/documents/{document_id}/fields/{path}/history",
                 "/documents/{document_id}/status", "/documents/{document_id}/reextract", "/review/queue",
                 "/schemas/grid", "/exports/{fmt}"):
        assert path in paths, path


def test_bearer_token_writes_without_csrf(client: TestClient) -> None:
    add_user(client, "bot", "admin")
    token = token_for(client, "bot")
    doc = upload(client, seed_files()[0])["document"]["id"]
    response = patch(client, doc, "meta.issuer", {"Authorization": f"Bearer {token}"}, action="accept", version=0)
    assert response.status_code == 200, response.text
    assert client.get(f"/documents/{doc}/fields/meta.issuer/history").json()[0]["user"] == "bot"


def test_eval_against_reviewed_values(client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["eval", "--gold", "reviewed", "--mode", "deterministic"]) == 2  # nothing reviewed yet
    headers = signed_in(client)
    docs = [upload(client, p) for p in seed_files()[:2]]
    first, second = docs[0]["document"]["id"], docs[1]["document"]["id"]
    field = int_field(review_of(client, first))
    # The reviewer says the reader was wrong on one field and right on another.
    assert patch(client, first, field["path"], headers, action="edit", value=field["value"] + 1,
                 version=0).status_code == 200
    assert patch(client, first, "meta.issuer", headers, action="accept", version=0).status_code == 200
    assert client.post(f"/documents/{second}/status", json={"status": "reviewed"}, headers=headers).status_code == 200
    capsys.readouterr()
    assert main(["eval", "--gold", "reviewed", "--mode", "deterministic", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    by_doc = {d["document"].split()[0]: d for d in scores["documents"]}
    assert (by_doc[first]["fields_total"], by_doc[first]["fields_right"]) == (2, 1)
    assert [w["path"] for w in by_doc[first]["wrong_fields"]] == [field["path"]]
    assert by_doc[first]["wrong_fields"][0]["gold"] == field["value"] + 1
    # A document marked reviewed vouches for every field it showed.
    assert by_doc[second]["fields_total"] == len(docs[1]["fields"]) == by_doc[second]["fields_right"]
    assert main(["eval", "--gold", "reviewed", "--mode", "deterministic", "--min-accuracy", "100"]) == 1
    assert main(["eval", "evals/gold", "--gold", "reviewed"]) == 2


def test_the_database_keeps_the_audit_append_only(client: TestClient) -> None:
    headers = signed_in(client)
    doc = upload(client, seed_files()[0])["document"]["id"]
    assert patch(client, doc, "meta.issuer", headers, action="blank", version=0).status_code == 200
    engine = client.app.state.engine  # type: ignore[attr-defined]
    for statement in ("UPDATE audit SET new = NULL", "DELETE FROM audit"):
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(text(statement))
    assert [h["action"] for h in client.get(f"/documents/{doc}/fields/meta.issuer/history").json()] == ["blank"]


# ------------------------------------------------------------------ the documents list, in SQL

ISSUERS = ["甲县人民政府", "乙市财政局", None, "Alpha County", "alpha county", "甲县教育局", "100%_县"]
YEARS = [2021, 2022, None, 2023]


def _stored_variants(client: TestClient, count: int) -> dict[str, dict[str, Any]]:
    """`count` documents stored straight through crud from one real reading, each with its own
    issuer, year, low fields and findings; every third has an older extraction that says
    something else (the list must show the newest). Returns what each document's newest
    extraction says, by document id: the oracle's input."""
    from service import pipeline
    from service.store import crud

    seed = seed_files()[0]
    base_doc, base = pipeline.extract_bytes(seed.read_bytes(), seed.name, mode="deterministic")
    numeric = [i for i, f in enumerate(base.fields) if f.path.startswith("applications.")]
    kinds = sorted({f.kind for f in base.findings}) or ["missing_cell"]
    truth: dict[str, dict[str, Any]] = {}
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        for i in range(count):
            doc = base_doc.model_copy(update={"sha256": f"{i:016x}" + "0" * 48, "filename": f"r{i:03d}.txt"})
            for k in ((1, 0) if i % 3 == 0 else (0,)):  # the older one (k=1) first
                ext = base.model_copy(deep=True)
                ext.extraction.id = f"ext_{i:03d}_{k}"
                ext.extraction.created_at = base.extraction.created_at.replace(microsecond=0) + dt.timedelta(
                    minutes=i % 5, seconds=-k)
                shift = i + 3 * k
                for f in ext.fields:
                    f.level = "medium" if f.level == "low" else f.level
                    if f.path == "meta.issuer":
                        f.value = ISSUERS[shift % len(ISSUERS)]
                    elif f.path == "meta.report_year":
                        f.value = YEARS[shift % len(YEARS)]
                for j in numeric[: (shift * 5) % 11]:
                    ext.fields[j].level = "low"
                ext.findings = [f.model_copy() for f in base.findings[: shift % (len(base.findings) + 1)]]
                if shift % 4 == 1:
                    ext.findings.append(Finding(kind="text_table_conflict", path="narrative", message="x"))
                crud.save_extraction(session, doc, ext)
                if k == 0:
                    by = {f.path: f.value for f in ext.fields}
                    truth[doc.id] = {
                        "id": doc.id, "filename": doc.filename, "issuer": by.get("meta.issuer"),
                        "year": by.get("meta.report_year"), "template": by.get("meta.template"),
                        "low_count": sum(f.level == "low" for f in ext.fields),
                        "findings_count": len(ext.findings), "extraction_id": ext.extraction.id,
                        "kinds": {f.kind for f in ext.findings},
                    }
    assert len({t["issuer"] for t in truth.values()}) == len(ISSUERS) and kinds
    return truth


def _expected(truth: dict[str, dict[str, Any]], created: dict[str, str], statuses: dict[str, str], *,
              issuer: str | None = None, year: int | None = None, status: str | None = None,
              finding_kind: str | None = None, sort: str = "created", order: str = "desc") -> list[dict[str, Any]]:
    """The list's rule, in Python: filter; sort by the key then the id (both reversed for desc);
    an unknown issuer or year last, by id."""
    items = []
    for t in truth.values():
        item = {k: v for k, v in t.items() if k != "kinds"}
        item["status"] = statuses.get(t["id"], "to_review")
        item["created_at"] = created[t["id"]]
        if issuer and issuer not in str(item["issuer"] or ""):
            continue
        if (year is not None and item["year"] != year) or (status and item["status"] != status):
            continue
        if finding_kind and finding_kind not in t["kinds"]:
            continue
        items.append(item)
    key = {"issuer": "issuer", "year": "year", "low": "low_count", "findings": "findings_count",
           "created": "created_at"}[sort]

    def value(item: dict[str, Any]) -> Any:
        return dt.datetime.fromisoformat(item[key]) if key == "created_at" else item[key]

    present = sorted((i for i in items if i[key] is not None), key=lambda i: (value(i), i["id"]),
                     reverse=order == "desc")
    return present + sorted((i for i in items if i[key] is None), key=lambda i: i["id"])


def test_documents_list_filters_sorts_and_pages_in_sql_as_the_rule_says(client: TestClient) -> None:
    headers = signed_in(client)
    truth = _stored_variants(client, 40)
    statuses = {}
    for n, doc_id in enumerate(sorted(truth)):
        if n % 4 == 0:
            assert client.post(f"/documents/{doc_id}/status", json={"status": "reviewed"},
                               headers=headers).status_code == 200
            statuses[doc_id] = "reviewed"
    everything = client.get("/documents", params={"per_page": 500}).json()["items"]
    created = {i["id"]: i["created_at"] for i in everything}
    assert set(created) == set(truth)
    kind = next(k for t in truth.values() for k in sorted(t["kinds"]))
    filters: list[dict[str, Any]] = [
        {}, {"issuer": "甲县"}, {"issuer": "county"}, {"issuer": "%"}, {"issuer": "100%_"}, {"year": 2022},
        {"status": "reviewed"}, {"status": "to_review", "year": 2021}, {"finding_kind": kind},
        {"finding_kind": "text_table_conflict", "issuer": "Alpha"},
    ]
    for sort in ("issuer", "year", "low", "findings", "created"):
        for order in ("asc", "desc"):
            for f in filters:
                want = _expected(truth, created, statuses, sort=sort, order=order, **f)
                got = client.get("/documents", params={**f, "sort": sort, "order": order, "per_page": 500}).json()
                assert got["total"] == len(want), (sort, order, f)
                assert got["items"] == want, (sort, order, f)
            want = _expected(truth, created, statuses, sort=sort, order=order)
            pages = [client.get("/documents", params={"sort": sort, "order": order, "per_page": 7, "page": p}).json()
                     for p in range(1, 8)]
            assert [i for p in pages for i in p["items"]] == want
            assert all(p["total"] == len(want) for p in pages) and pages[-1]["items"] == []


def test_queue_keeps_one_level_when_asked(client: TestClient) -> None:
    upload(client, seed_files()[0])
    damaged = client.post("/extract", json={"text": seed_files()[1].read_text("utf-8").replace("\t0\t", "\tO\t", 2)})
    assert damaged.status_code == 200
    every = client.get("/review/queue", params={"limit": 1000}).json()
    for level in ("low", "medium"):
        only = client.get("/review/queue", params={"limit": 1000, "level": level}).json()
        assert only == [q for q in every if q["level"] == level]
    assert {q["level"] for q in every} >= {"low", "medium"}
    assert client.get("/review/queue", params={"level": "lowest"}).status_code == 422


# ------------------------------------------------------------------ PDF pages and cell boxes

HONGZE = REPO / "evals" / "docs" / "dev" / "hongze_2023.pdf"


def upload_pdf(client: TestClient, data: bytes, name: str = "report.pdf") -> dict[str, Any]:
    response = client.post("/extract", files={"file": (name, data, "application/pdf")})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def generated_pdf(seed: int) -> bytes:
    """A whole report printed as a PDF by the test corpus (a real text layer, ruled tables)."""
    import random

    from tests.corpus.render import render
    from tests.corpus.values import generate_values

    data, _ = render(generate_values(random.Random(seed), "2021"), "2021", "pdf", seed=seed)
    return data


def assert_not_found(response: Any) -> None:
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["reason_zh"] and body["reason_en"] and body["reason_zh"] != body["reason_en"]


def test_pdf_fields_carry_their_box_and_the_page_image_shows_the_value_inside_it(client: TestClient) -> None:
    from PIL import Image

    from tests.test_ingest_pdf import darkest

    extraction = upload_pdf(client, HONGZE.read_bytes(), HONGZE.name)
    doc = extraction["document"]["id"]
    review = review_of(client, doc)
    pages = client.get(f"/documents/{doc}").json()["pages"]
    text = client.get(f"/documents/{doc}/text").text
    boxed = [f for f in review["fields"] if f["box"] is not None]
    table_fields = [f for f in review["fields"] if f["path"].startswith(("applications.", "active_disclosure."))
                    and f["span"] is not None and f["span"][0] < f["span"][1]]
    assert len(boxed) >= len(table_fields) > 50
    for f in boxed:
        assert 1 <= f["box"]["page"] <= pages and f["span"] is not None
    # A sample of printed numbers: the image of their page has ink inside their box; at scale 2,
    # the image is the page's size twice over.
    printed = [f for f in boxed if isinstance(f["value"], int) and f["value"] > 0
               and text[f["span"][0]:f["span"][1]] == str(f["value"])]
    assert len(printed) >= 10
    images: dict[int, Any] = {}
    for f in printed[::max(1, len(printed) // 12)]:
        box = f["box"]
        if box["page"] not in images:
            response = client.get(f"/documents/{doc}/pages/{box['page']}.png", params={"scale": 2})
            assert response.status_code == 200 and response.headers["content-type"] == "image/png"
            images[box["page"]] = Image.open(io.BytesIO(response.content))
        image = images[box["page"]]
        assert image.size == (round(box["page_width"] * 2), round(box["page_height"] * 2))
        assert darkest(image, box["bbox"], 2) < 128, f
    # A blank table cell's box is blank on the page.
    blank = [f for f in boxed if f["value"] is None and f["span"][0] == f["span"][1]
             and f["box"]["page"] in images]
    for f in blank[:5]:
        assert darkest(images[f["box"]["page"]], f["box"]["bbox"], 2) > 200, f


def test_page_images_are_cached_forever_and_refused_clearly(client: TestClient) -> None:
    from service import pipeline
    from service.store import crud

    data = generated_pdf(1)
    doc = upload_pdf(client, data)["document"]["id"]
    first = client.get(f"/documents/{doc}/pages/1.png")
    assert first.status_code == 200 and first.content.startswith(b"\x89PNG")
    assert "immutable" in first.headers["cache-control"] and "max-age=31536000" in first.headers["cache-control"]
    assert first.headers["x-content-type-options"] == "nosniff"
    again = client.get(f"/documents/{doc}/pages/1.png", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get(f"/documents/{doc}/pages/1.png", params={"scale": 3}).headers["etag"] != first.headers["etag"]
    for page in ("3", "0", "-1", "99999999999999999999"):
        assert_not_found(client.get(f"/documents/{doc}/pages/{page}.png"))
    assert_not_found(client.get("/documents/doc_nothing/pages/1.png"))
    text_doc = upload(client, seed_files()[0])["document"]["id"]
    assert_not_found(client.get(f"/documents/{text_doc}/pages/1.png"))
    for scale in ("0.1", "3.5", "nan", "x"):
        assert client.get(f"/documents/{doc}/pages/1.png", params={"scale": scale}).status_code == 422
    # A PDF stored before uploads were kept has no page images, and says so.
    stored, extraction = pipeline.extract_bytes(generated_pdf(2), "old.pdf", mode="deterministic")
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        crud.save_extraction(session, stored, extraction)
    assert_not_found(client.get(f"/documents/{stored.id}/pages/1.png"))
    assert client.get("/openapi.json").json()["paths"]["/documents/{document_id}/pages/{number}.png"]


def test_reextract_reads_the_stored_file_again_and_keeps_the_boxes(client: TestClient) -> None:
    headers = signed_in(client)
    extraction = upload_pdf(client, HONGZE.read_bytes(), HONGZE.name)
    doc = extraction["document"]["id"]
    before = review_of(client, doc)
    response = client.post(f"/documents/{doc}/reextract", headers=headers)
    assert response.status_code == 200, response.text
    after = review_of(client, doc)
    assert after["extraction_id"] == response.json()["extraction"]["id"] != before["extraction_id"]
    assert [(f["path"], f["value"], f["box"]) for f in after["fields"]] == [
        (f["path"], f["value"], f["box"]) for f in before["fields"]]
    assert response.json()["document"]["media_type"] == "application/pdf"


def test_reextract_without_the_stored_file_reads_the_stored_text(client: TestClient) -> None:
    from service import pipeline
    from service.store import crud

    headers = signed_in(client)
    seed = seed_files()[2]
    stored, extraction = pipeline.extract_bytes(seed.read_bytes(), seed.name, mode="deterministic")
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        crud.save_extraction(session, stored, extraction)
    response = client.post(f"/documents/{stored.id}/reextract", headers=headers)
    assert response.status_code == 200, response.text
    again = response.json()
    assert [f["value"] for f in again["fields"]] == [f.value for f in extraction.fields]


def test_reextract_uses_the_configured_mode(make_client: Any) -> None:
    """With a model configured, re-extraction asks it (mode auto), not the parsers alone."""
    client = make_client(llm_base_url="http://127.0.0.1:9/v1", llm_model="some-model", llm_max_retries=0,
                         llm_timeout_seconds=2, llm_cache_dir="")
    headers = signed_in(client)
    seed = seed_files()[0]
    response = client.post("/extract", files={"file": (seed.name, seed.read_bytes(), "text/plain")},
                           data={"mode": "deterministic"})
    assert response.status_code == 200 and response.json()["extraction"]["mode"] == "deterministic"
    again = client.post(f"/documents/{response.json()['document']['id']}/reextract", headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["extraction"]["mode"] == "llm" and again.json()["extraction"]["failures"]


def test_a_field_gets_the_box_of_the_cell_its_span_lies_in() -> None:
    from service.review import box_finder

    def box(a: int, b: int, page: int = 1) -> dict[str, Any]:
        return {"span": [a, b], "page": page, "bbox": [a, 0, b, 1], "page_width": 100, "page_height": 100}

    find = box_finder([box(20, 24, 2), box(0, 4), box(5, 5), box(6, 10), box(11, 19)])
    assert find(6, 10)["bbox"] == [6, 0, 10, 1]  # type: ignore[index]
    assert find(7, 8)["bbox"] == [6, 0, 10, 1]  # type: ignore[index]  # part of a cell
    assert find(9, 13)["bbox"] == [11, 0, 19, 1]  # type: ignore[index]  # across two: the larger share
    assert find(5, 5)["bbox"] == [5, 0, 5, 1]  # type: ignore[index]  # a blank cell, at its very place
    assert find(21, 22)["page"] == 2  # type: ignore[index]
    assert find(4, 4) is None and find(4, 5) is None and find(30, 31) is None and find(None, None) is None
    assert box_finder(None)(0, 4) is None
    assert box_finder([{"span": "bad"}, box(0, 4)])(1, 2) is not None  # a damaged entry is skipped
