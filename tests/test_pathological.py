"""Every pathological input is read or refused with a reason, through the pipeline, the CLI and
the API: never another exception, a traceback or a 500.

The inputs are tests/pathological.py's, at sizes that keep this file fast but still cross the
default caps where a kind is about a cap (the full sizes run in benchmarks/pathological.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.cli import main
from service.config import Settings
from service.errors import NianbaoError
from service.pipeline import extract_bytes
from tests import pathological as pg

# Test sizes: over the default caps (100 pages, 500k characters, 16 MB inflated, 200k tags) where
# the kind is about a cap; small otherwise.
SMALL: dict[str, Callable[[], pg.Generated]] = {
    "long_digit_cell": lambda: pg.long_digit_cell(digits=400),
    "all_cells_30_digits": pg.all_cells_30_digits,
    "glued_long_rows": pg.glued_long_rows,
    "huge_table": lambda: pg.huge_table(rows=1_000),
    "deep_html": lambda: pg.deep_html(depth=3_000),
    "docx_bomb": lambda: pg.docx_bomb(inflated_mb=20),
    "docx_under_the_cap": lambda: pg.docx_under_the_cap(inflated_mb=2),
    "docx_bomb_lying": lambda: pg.docx_bomb_lying(inflated_mb=2),
    "pdf_many_pages": lambda: pg.pdf_many_pages(pages=150),
    "pdf_lying_page_count": lambda: pg.pdf_lying_page_count(pages=150),
    "pdf_dense_pages": lambda: pg.pdf_dense_pages(pages=2, lines=20),
    "pdf_flate_bomb": lambda: pg.pdf_flate_bomb(inflated_mb=20),
    "pdf_font_without_bbox": pg.pdf_font_without_bbox,
    "html_empty_cells": lambda: pg.html_empty_cells(size=2_000_000),
    "docx_entity_bomb": pg.docx_entity_bomb,
    "huge_single_line": lambda: pg.huge_single_line(size=2_000_000),
    "single_line_report": lambda: pg.single_line_report(size=60_000),
    "binary_junk": lambda: pg.binary_junk(size=200_000),
    "gbk_html": pg.gbk_html,
}
CJK = re.compile(r"[\u4e00-\u9fff]")


@cache
def sample(kind: str) -> pg.Generated:
    return SMALL[kind]()


def test_every_kind_of_the_corpus_is_tested() -> None:
    assert SMALL.keys() == pg.KINDS.keys()


@pytest.mark.parametrize("kind", SMALL)
def test_pipeline_reads_or_refuses_with_a_reason(kind: str) -> None:
    data, name = sample(kind)
    try:
        _, extraction = extract_bytes(data, name)
    except NianbaoError as refusal:
        assert refusal.message_en and CJK.search(refusal.message_zh), refusal.reason
        assert 400 <= refusal.status_code < 500
        return
    assert extraction.fields


@pytest.mark.parametrize("kind", SMALL)
def test_cli_exits_0_or_2_without_a_traceback(kind: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data, name = sample(kind)
    path = tmp_path / name
    path.write_bytes(data)
    code = main(["extract", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err[:500]
    if code == 2:
        assert err.startswith("nianbao: ") and CJK.search(err), err


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database = tmp_path_factory.mktemp("db") / "nianbao.db"
    values: dict[str, Any] = {"DATABASE_URL": f"sqlite:///{database}", "llm_base_url": None}
    settings = Settings(**values)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize("kind", SMALL)
def test_api_answers_2xx_or_4xx_with_a_bilingual_reason(kind: str, client: TestClient) -> None:
    data, name = sample(kind)
    response = client.post("/extract", files={"file": (name, data, "application/octet-stream")})
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 300:
        assert 400 <= response.status_code < 500
        body = response.json()
        assert body["error"] and body["reason_en"] and CJK.search(body["reason_zh"]), body
    else:
        assert response.json()["fields"]
