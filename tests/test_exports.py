"""Exports opened again with their own readers (csv, openpyxl, pyarrow) and compared value by
value with the review API, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from service.cli import main
from tests.conftest import seed_files
from tests.test_review_api import int_field, patch, review_of, signed_in, upload


def reviewed_corpus(client: TestClient) -> dict[str, dict[str, Any]]:
    """Three documents, one field edited and one blanked: what every export must show."""
    headers = signed_in(client)
    docs = [upload(client, p)["document"]["id"] for p in seed_files()[:3]]
    field = int_field(review_of(client, docs[0]))
    assert patch(client, docs[0], field["path"], headers, action="edit", value=field["value"] + 11,
                 version=0).status_code == 200
    assert patch(client, docs[1], "meta.issuer", headers, action="blank", version=0).status_code == 200
    return {d: review_of(client, d) for d in docs}


def _expected_long(reviews: dict[str, dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d, f["path"]): f for d, r in reviews.items() for f in r["fields"]}


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def _same(exported: Any, value: Any) -> bool:
    if value is None:
        return exported in (None, "")
    if isinstance(exported, str) and not isinstance(value, str):
        return exported == (str(value).lower() if isinstance(value, bool) else str(value)) or \
            json.loads(exported) == value
    return bool(exported == value)


def test_long_exports_match_the_review_api(client: TestClient) -> None:
    reviews = reviewed_corpus(client)
    expected = _expected_long(reviews)
    csv_rows = _csv_rows(client.get("/exports/csv", params={"shape": "long"}).content)
    book = load_workbook(io.BytesIO(client.get("/exports/xlsx", params={"shape": "long"}).content))
    sheet = list(book["fields"].iter_rows(values_only=True))
    xlsx_rows = [dict(zip(sheet[0], row, strict=True)) for row in sheet[1:]]
    table = pq.read_table(io.BytesIO(client.get("/exports/parquet", params={"shape": "long"}).content))
    parquet_rows = table.to_pylist()
    for name, rows in (("csv", csv_rows), ("xlsx", xlsx_rows), ("parquet", parquet_rows)):
        assert len(rows) == len(expected), name
        for row in rows:
            field = expected[(row["document_id"], row["path"])]
            value = json.loads(row["value"]) if name == "parquet" and row["value"] is not None else row["value"]
            assert _same(value, field["value"]), (name, row, field["value"])
            assert row["level"] == field["level"]
            assert str(row["reviewed"]).lower() in ("true", "1") if field["reviewed"] else \
                str(row["reviewed"]).lower() in ("false", "0"), (name, row)
            meta = {f["path"]: f["value"] for f in reviews[row["document_id"]]["fields"]}
            assert _same(row["issuer"], meta["meta.issuer"]) and _same(row["year"], meta["meta.report_year"])
            assert _same(row["division_code"], meta["meta.division_code"])
    edited = [r for r in parquet_rows if r["reviewed"]]
    assert len(edited) == 2 and {r["reviewed_by"] for r in edited} == {"alice"}


def test_findings_part_and_sheet(client: TestClient) -> None:
    reviews = reviewed_corpus(client)
    expected = sorted((d, f["kind"], f["path"], f["message"]) for d, r in reviews.items() for f in r["findings"])
    assert expected, "the seed reports have findings"
    csv_rows = _csv_rows(client.get("/exports/csv", params={"part": "findings"}).content)
    table = pq.read_table(io.BytesIO(client.get("/exports/parquet", params={"part": "findings"}).content))
    book = load_workbook(io.BytesIO(client.get("/exports/xlsx").content))
    sheet = list(book["findings"].iter_rows(values_only=True))
    xlsx_rows = [dict(zip(sheet[0], row, strict=True)) for row in sheet[1:]]
    for rows in (csv_rows, table.to_pylist(), xlsx_rows):
        assert sorted((r["document_id"], r["kind"], r["path"], r["message"]) for r in rows) == expected


def test_wide_exports_one_row_per_document(client: TestClient) -> None:
    reviews = reviewed_corpus(client)
    rows = _csv_rows(client.get("/exports/csv", params={"shape": "wide"}).content)
    table = pq.read_table(io.BytesIO(client.get("/exports/parquet", params={"shape": "wide"}).content)).to_pylist()
    book = load_workbook(io.BytesIO(client.get("/exports/xlsx", params={"shape": "wide"}).content))
    sheet = list(book["fields"].iter_rows(values_only=True))
    xlsx_rows = [dict(zip(sheet[0], row, strict=True)) for row in sheet[1:]]
    for name, exported in (("csv", rows), ("parquet", table), ("xlsx", xlsx_rows)):
        assert sorted(r["document_id"] for r in exported) == sorted(reviews), name
        for row in exported:
            for field in reviews[row["document_id"]]["fields"]:
                value = row[field["path"]]
                if name == "parquet" and value is not None:
                    value = json.loads(value)
                assert _same(value, field["value"]), (name, field["path"], value, field["value"])
                assert row[f"{field['path']}:level"] == field["level"]


def test_cli_export_writes_what_the_api_serves(client: TestClient, database_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    reviewed_corpus(client)
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "long.csv"
    assert main(["export", "--format", "csv", "--shape", "long", "--out", str(out)]) == 0
    assert _csv_rows(out.read_bytes()) == _csv_rows(client.get("/exports/csv").content)
    xlsx = tmp_path / "wide.xlsx"
    assert main(["export", "--format", "xlsx", "--shape", "wide", "--out", str(xlsx)]) == 0
    assert load_workbook(xlsx).sheetnames == ["fields", "findings"]
    assert main(["export", "--format", "csv", "--out", str(tmp_path / "nowhere" / "x.csv")]) == 2


def test_bad_export_options_are_422(client: TestClient) -> None:
    for url in ("/exports/json", "/exports/csv?shape=tall", "/exports/parquet?part=everything"):
        response = client.get(url)
        assert response.status_code == 422, url
        assert response.json()["reason_zh"]
