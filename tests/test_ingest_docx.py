"""DOCX ingest: body order, gridSpan/vMerge expansion, cell paragraphs joined, junk refused."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest

from service.document import Table
from service.errors import UnreadableDocument
from service.ingest.docx import read_docx
from service.ingest.normalize import normalize_text
from tests.fixtures_binary import MERGE_LEFT, MERGE_UP, build_docx

L, U = MERGE_LEFT, MERGE_UP

APPLICATIONS = [
    ["申请人情况", L, "自然人", "法人或其他组织", L, "总计"],
    [U, U, U, "商业\n企业", "科研\n机构", U],
    ["一、本年新收政府信息公开申请数量", L, "21", "0", "", "21"],
    ["三、本年度办理结果", "（一）予以公开", "5", "1", "0", "6"],
    [U, "（二）部分公开", "3", "", "0", "3"],
    ["四、结转下年度继续办理", L, "0", "0", "0", "0"],
]


def texts(table: Table) -> list[list[str]]:
    return [[c.text for c in row] for row in table.rows]


def test_the_builder_really_writes_grid_span_and_vertical_merge() -> None:
    with zipfile.ZipFile(io.BytesIO(build_docx([APPLICATIONS]))) as package:
        xml = package.read("word/document.xml").decode("utf-8")
    assert "w:gridSpan" in xml and 'w:vMerge w:val="restart"' in xml


def test_merged_cells_expand_to_the_template_grid() -> None:
    _, tables = read_docx(build_docx([APPLICATIONS]))
    assert len(tables) == 1 and tables[0].origin == "docx"
    assert texts(tables[0]) == [
        ["申请人情况", "申请人情况", "自然人", "法人或其他组织", "法人或其他组织", "总计"],
        ["申请人情况", "申请人情况", "自然人", "商业企业", "科研机构", "总计"],
        ["一、本年新收政府信息公开申请数量", "一、本年新收政府信息公开申请数量", "21", "0", "", "21"],
        ["三、本年度办理结果", "(一)予以公开", "5", "1", "0", "6"],
        ["三、本年度办理结果", "(二)部分公开", "3", "", "0", "3"],
        ["四、结转下年度继续办理", "四、结转下年度继续办理", "0", "0", "0", "0"],
    ]
    rows = tables[0].rows
    assert rows[0][0] is rows[1][1] and rows[3][0] is rows[4][0]


def test_text_layout_rows_tabs_blank_cells_and_spans() -> None:
    text, tables = read_docx(build_docx(["正文一", APPLICATIONS, "正文二"]))
    lines = text.split("\n")
    assert lines[:2] == ["正文一", ""] and lines[-2:] == ["", "正文二"]
    assert "申请人情况\t自然人\t法人或其他组织\t总计" in lines
    assert "\t\t商业企业\t科研机构\t" in lines  # vertical continuations are empty entries
    assert "一、本年新收政府信息公开申请数量\t21\t0\t\t21" in lines
    assert "\t(二)部分公开\t3\t\t0\t3" in lines
    assert normalize_text(text) == text
    for row in tables[0].rows:
        for cell in row:
            assert cell.span is not None and text[cell.span[0] : cell.span[1]] == cell.text
    assert text.count("三、本年度办理结果") == 1


def test_paragraphs_and_tables_keep_document_order() -> None:
    first = [["规章", "0"], ["行政规范性文件", "5"]]
    second = [["行政许可", "550"]]
    text, tables = read_docx(build_docx(["二、主动公开", first, "三、依申请公开", second, "四、复议诉讼"]))
    spans = [t.span for t in tables]
    assert spans[0] is not None and spans[1] is not None
    flat = [
        text.index("二、主动公开"), spans[0][0], text.index("三、依申请公开"), spans[1][0], text.index("四、复议诉讼")
    ]
    assert flat == sorted(flat)
    assert [texts(t) for t in tables] == [first, second]


def test_nested_table_and_paragraphs_inside_a_cell_are_joined() -> None:
    document = docx.Document()
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "外层"
    table.cell(0, 0).add_paragraph("标签")
    inner = table.cell(0, 1).add_table(rows=1, cols=2)
    inner.cell(0, 0).text = "内1"
    inner.cell(0, 1).text = "内2"
    out = io.BytesIO()
    document.save(out)
    text, tables = read_docx(out.getvalue())
    assert texts(tables[0]) == [["外层标签", "内1内2"]]
    assert text == "外层标签\t内1内2"


@pytest.mark.parametrize("data", [b"not a zip", b"PK\x03\x04garbage", b"\x00" * 100])
def test_corrupt_docx_is_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableDocument) as err:
        read_docx(data)
    assert err.value.message_zh and err.value.message_en


def test_zip_that_is_not_a_word_document_is_unreadable() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("hello.txt", "你好")
    with pytest.raises(UnreadableDocument):
        read_docx(out.getvalue())


def test_empty_document_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument):
        read_docx(build_docx([]))
