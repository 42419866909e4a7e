"""PDF ingest: tables rebuilt from ruling lines, prose in reading order, scans and junk refused."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from service import templates
from service.document import Cell, Table
from service.errors import DocumentTooLarge, UnreadableDocument
from service.ingest.limits import Limits
from service.ingest.normalize import normalize_text
from service.ingest.pdf import PdfRead, read_pdf, read_pdf_document
from tests import pathological
from tests.fixtures_binary import (
    CJK_FONT,
    MERGE_LEFT,
    MERGE_UP,
    PAGE_BREAK,
    _register_cjk_font,
    build_encrypted_pdf,
    build_pdf,
    build_scanned_pdf,
)

L, U = MERGE_LEFT, MERGE_UP
DEV = Path("/work/shared/dev")
HONGZE_PDF = DEV / "reports" / "hongze_2023.pdf"
HONGZE_GOLD = DEV / "gold" / "hongze_2023.json"
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def expanded(spec: list[list[str]]) -> list[list[str]]:
    """The grid a reader must produce: merged positions repeat their anchor's text."""
    grid: list[list[str]] = []
    for r, row in enumerate(spec):
        out: list[str] = []
        for c, text in enumerate(row):
            if text == MERGE_LEFT:
                out.append(out[-1])
            elif text == MERGE_UP:
                out.append(grid[r - 1][c])
            else:
                out.append(normalize_text(text).replace("\n", ""))
        grid.append(out)
    return grid


def texts(table: Table) -> list[list[str]]:
    return [[c.text for c in row] for row in table.rows]


def assert_spans_index_text(text: str, tables: list[Table]) -> None:
    assert normalize_text(text) == text
    for table in tables:
        for row in table.rows:
            for cell in row:
                assert cell.span is not None
                assert text[cell.span[0] : cell.span[1]] == cell.text


# ----------------------------------------------------------------------------- synthetic


APPLICATIONS = [
    ["申请人情况", L, "自然人", "法人或其他组织", L, "总计"],
    [U, U, U, "商业企业", "科研机构", U],
    ["一、本年新收政府信息公开申请数量", L, "21", "0", "", "21"],
    ["三、本年度办理结果", "（一）予以公开", "5", "1", "0", "6"],
    [U, "（二）部分公开（区分处理的，只计这一情形，不计其他情形）", "3", "0", "0", "3"],
    [U, "（三）不予公开", "1", "0", "0", "1"],
    ["四、结转下年度继续办理", L, "0", "0", "0", "0"],
]


def test_ruled_table_with_merges_reads_back_as_the_expanded_grid() -> None:
    text, tables, pages = read_pdf(build_pdf(["二、收到和处理政府信息公开申请情况", APPLICATIONS, "结束语"]))
    assert pages == 1
    assert len(tables) == 1 and tables[0].origin == "pdf"
    assert texts(tables[0]) == expanded(APPLICATIONS)
    assert_spans_index_text(text, tables)


def test_row_lines_hold_original_cells_joined_by_tabs_with_blank_lines_around() -> None:
    text, _, _ = read_pdf(build_pdf(["标题在前", APPLICATIONS, "正文在后"]))
    lines = text.split("\n")
    assert lines[0] == "标题在前"
    assert lines[1] == ""
    assert "一、本年新收政府信息公开申请数量\t21\t0\t\t21" in lines  # blank cell kept
    assert "\t(二)部分公开(区分处理的,只计这一情形,不计其他情形)\t3\t0\t0\t3" in lines
    assert lines[-2:] == ["", "正文在后"]


def test_merged_cells_share_one_cell_and_blank_cells_have_empty_spans() -> None:
    text, tables, _ = read_pdf(build_pdf([APPLICATIONS]))
    rows = tables[0].rows
    assert rows[0][0] is rows[1][1]  # 申请人情况 spans 2 columns x 2 rows
    assert rows[3][0] is rows[5][0]  # 三、本年度办理结果 spans 3 rows
    blank = rows[2][4]
    assert blank.text == "" and blank.span is not None and blank.span[0] == blank.span[1]
    assert text.count("三、本年度办理结果") == 1


def test_table_continued_on_next_page_is_one_table_and_footers_are_dropped() -> None:
    rows = [*APPLICATIONS[:4], [PAGE_BREAK], *APPLICATIONS[4:]]
    text, tables, pages = read_pdf(build_pdf(["前言", rows, "后记"]))
    assert pages == 2
    assert len(tables) == 1
    got = texts(tables[0])
    assert [r[1] for r in got[-3:]] == ["(二)部分公开(区分处理的,只计这一情形,不计其他情形)", "(三)不予公开", "四、结转下年度继续办理"]
    assert len(got) == len(APPLICATIONS)
    assert not re.search(r"^- ?\d+ ?-$", text, re.M)
    assert tables[0].span is not None
    table_lines = text[tables[0].span[0] : tables[0].span[1]].split("\n")
    assert len(table_lines) == len(APPLICATIONS)  # the rows follow on, no gap at the break
    assert_spans_index_text(text, tables)


def test_new_table_with_its_own_header_on_next_page_stays_separate() -> None:
    first = [["行政许可", "550"], ["行政处罚", "4119"]]
    second = [["信息内容", "本年收费金额"], ["行政事业性收费", "7730.28"]]
    _, tables, _ = read_pdf(build_pdf([first, PAGE_BREAK, second]))
    assert [texts(t) for t in tables] == [first, second]


def test_repeated_header_row_on_next_page_is_not_duplicated() -> None:
    header = ["信息内容", "本年处理决定数量"]
    rows = [header, ["行政许可", "550"], [PAGE_BREAK], header, ["行政处罚", "4119"]]
    _, tables, _ = read_pdf(build_pdf([rows]))
    assert len(tables) == 1
    assert texts(tables[0]) == [header, ["行政许可", "550"], ["行政处罚", "4119"]]


def test_prose_outside_tables_keeps_reading_order_without_table_text() -> None:
    items = ["第一段说明文字。", [["规章", "0"], ["行政规范性文件", "5"]], "第二段说明文字。"]
    text, tables, _ = read_pdf(build_pdf(items))
    assert tables[0].span is not None
    assert text.index("第一段") < tables[0].span[0] < tables[0].span[1] < text.index("第二段")
    assert text.count("行政规范性文件") == 1


def test_unruled_table_falls_back_to_text_alignment() -> None:
    rows = [["项目", "自然人", "商业企业", "总计"], ["本年新收", "21", "3", "24"], ["上年结转", "0", "", "0"]]
    text, tables, _ = read_pdf(build_pdf([rows], ruled=False))
    assert texts(tables[0]) == rows
    assert "本年新收\t21\t3\t24" in text.split("\n")


def test_scanned_pdf_without_text_layer_needs_ocr() -> None:
    with pytest.raises(UnreadableDocument) as err:
        read_pdf(build_scanned_pdf(with_image=True))
    assert "OCR" in err.value.message_en and "OCR" in err.value.message_zh


def test_vector_only_pdf_without_text_needs_ocr() -> None:
    with pytest.raises(UnreadableDocument, match="OCR"):
        read_pdf(build_scanned_pdf(with_image=False))


@pytest.mark.parametrize("data", [b"not a pdf at all", b"%PDF-1.4\n1 0 obj << /Type /Catalog", b"\x00" * 64])
def test_corrupt_pdf_is_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableDocument) as err:
        read_pdf(data)
    assert err.value.message_zh and err.value.message_en


def test_truncated_pdf_is_unreadable_or_read() -> None:
    data = build_pdf(["一段文字", APPLICATIONS])
    try:
        text, _, _ = read_pdf(data[: len(data) // 3])
    except UnreadableDocument:
        return
    assert normalize_text(text) == text  # pdfminer may recover some pages: still a clean text


def test_encrypted_pdf_is_unreadable_with_reason() -> None:
    with pytest.raises(UnreadableDocument, match="encrypted"):
        read_pdf(build_encrypted_pdf())


# ------------------------------------------------------------------ the real hongze report


def _label_key(cell_text: str, rows: list[templates.Label] | tuple[templates.Label, ...]) -> str | None:
    compacted = templates.compact(cell_text)
    for row in rows:
        forms = row.forms()
        if compacted in forms or templates.strip_numbering(compacted) in forms:
            return row.key
    return None


def _distinct(row: list[Cell]) -> list[Cell]:
    out: list[Cell] = []
    for cell in row:
        if not out or cell.span != out[-1].span:
            out.append(cell)
    return out


def _labelled_rows(tables: list[Table], labels: list[templates.Label]) -> dict[str, list[str]]:
    """Row key → the values printed after the row's label (merged values counted once)."""
    found: dict[str, list[str]] = {}
    for table in tables:
        for row in table.rows:
            cells = [c.text for c in _distinct(row)]
            label_at = max((i for i, t in enumerate(cells) if t and not _NUMBER.match(t)), default=-1)
            values = cells[label_at + 1 :]
            if label_at < 0 or not values or not all(_NUMBER.match(v) for v in values):
                continue
            key = _label_key(cells[label_at], labels)
            if key is not None:
                found.setdefault(key, values)
    return found


@pytest.fixture(scope="module")
def hongze() -> tuple[str, list[Table], int, float]:
    if not HONGZE_PDF.exists():
        pytest.skip("dev report not available")
    started = time.perf_counter()
    text, tables, pages = read_pdf(HONGZE_PDF.read_bytes())
    return text, tables, pages, time.perf_counter() - started


@pytest.fixture(scope="module")
def gold() -> dict[str, object]:
    fields: dict[str, object] = json.loads(HONGZE_GOLD.read_text("utf-8"))["fields"]
    return fields


def test_hongze_table3_rows_carry_gold_values(hongze: tuple[str, list[Table], int, float], gold: dict[str, object]) -> None:
    text, tables, _, _ = hongze
    columns = [c.key for c in templates.table3_columns()]
    rows = _labelled_rows(tables, [r for r in templates.table3_rows() if r.subrow_of is None])
    assert len(rows) >= 20  # one label is misspelt in the source; nearly all others must be found
    for key, values in rows.items():
        assert [int(v) for v in values[-len(columns) :]] == [gold[f"applications.{key}.{c}"] for c in columns], key
    new_received = templates.table3_rows()[0]
    line = "\t".join([normalize_text(new_received.label)] + [str(gold[f"applications.new_received.{c}"]) for c in columns])
    assert line in text.split("\n")


def test_hongze_table3_is_one_table_across_the_page_break(hongze: tuple[str, list[Table], int, float]) -> None:
    _, tables, pages, _ = hongze
    labels = list(templates.table3_rows())
    holding = [t for t in tables if _labelled_rows([t], labels)]
    assert pages == 5
    assert len(holding) == 1
    assert {"new_received", "carried_forward", "not_processed_petition_complaint"} <= set(_labelled_rows(holding, labels))


def test_hongze_table2_rows_carry_gold_values(hongze: tuple[str, list[Table], int, float], gold: dict[str, object]) -> None:
    _, tables, _, _ = hongze
    checked = 0
    for group in templates.table2("2021"):
        rows = _labelled_rows(tables, group.rows)
        for key, values in rows.items():
            for column, value in zip(group.columns, values, strict=True):
                assert Decimal(value) == Decimal(str(gold[f"active_disclosure.{key}.{column.key}"]))
                checked += 1
    assert checked == 10


def test_hongze_table4_values_row_in_template_order(hongze: tuple[str, list[Table], int, float], gold: dict[str, object]) -> None:
    _, tables, _, _ = hongze
    group_labels = {templates.compact(g.label) for g in templates.table4_groups()}
    table = next(t for t in tables if any(templates.compact(c.text) in group_labels for c in t.rows[0]))
    values = [int(c.text) for c in table.rows[-1]]
    expected = [
        gold[f"reviews_and_litigation.{g.key}.{c.key}"] for g in templates.table4_groups() for c in templates.table4_columns()
    ]
    assert values == expected


def test_hongze_text_is_clean_and_fast(hongze: tuple[str, list[Table], int, float]) -> None:
    text, tables, _, seconds = hongze
    assert_spans_index_text(text, tables)
    assert not re.search(r"^- ?\d+ ?-$", text, re.M)
    assert "收取政府信息公开信息处理费 0 元" in text  # prose after the tables survives
    assert seconds < 10


# ------------------------------------------------------------------ bounded cost


def test_characters_past_the_cap_are_refused_before_any_page_is_laid_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.ingest.pdf as pdf_module

    def never(page: object) -> object:
        raise AssertionError("a page was laid out")

    data, _ = pathological.pdf_dense_pages(pages=5, lines=10)
    monkeypatch.setattr(pdf_module, "_read_page", never)
    with pytest.raises(DocumentTooLarge) as err:
        read_pdf(data, Limits(max_pages=100, max_chars=2_000, max_inflated_bytes=1 << 20))
    assert err.value.code == "document_too_large" and "NIANBAO_MAX_CHARS" in err.value.message_zh


def test_the_early_character_count_agrees_with_the_reading() -> None:
    """The early count refuses nothing the reading would accept: at exactly the characters read,
    the PDF is read; one fewer and it is refused."""
    data = build_pdf(["第一段说明文字。", APPLICATIONS, "结束语"], page_numbers=False)
    text, _, _ = read_pdf(data)
    read = len("".join(text.split()))  # table cells are joined by tabs: whitespace too
    read_pdf(data, Limits(max_pages=100, max_chars=read, max_inflated_bytes=1 << 20))
    with pytest.raises(DocumentTooLarge):
        read_pdf(data, Limits(max_pages=100, max_chars=read - 1, max_inflated_bytes=1 << 20))


def test_a_pdf_past_its_cpu_budget_is_refused_with_a_reason_naming_the_setting() -> None:
    data = build_pdf(["第一段说明文字。", APPLICATIONS, PAGE_BREAK, "第二页。"])
    _, _, pages = read_pdf(data, seconds=60)
    assert pages == 2
    with pytest.raises(DocumentTooLarge) as err:
        read_pdf(data, seconds=1e-9)
    assert err.value.code == "document_too_large" and err.value.status_code == 413
    assert "NIANBAO_PDF_SECONDS" in err.value.message_en and "NIANBAO_PDF_SECONDS" in err.value.message_zh
    assert "of its 2 pages" in err.value.message_en and "Word" in err.value.message_zh


# ------------------------------------------------------------------ pdfium's page, laid out as pdfplumber's


ROWS = [["项目", "自然人", "法人", "总计"], ["本年新收", "21", "3", "24"], ["上年结转", "0", "1", "1"]]


def _canvas_pdf(draw: Callable[[Any], None], rotate: int = 0) -> bytes:
    """One A4 page drawn with reportlab's canvas in the CJK font."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    _register_cjk_font()
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    pdf.setFont(CJK_FONT, 10)
    if rotate:
        pdf.setPageRotation(rotate)
    draw(pdf)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _ruled_rows(pdf: Any, x: float = 72, y: float = 700, width: float = 90, height: float = 30) -> None:
    """ROWS in a ruled grid, the first cell of each row printed on two lines (a wrapped label):
    only the rules can tell that the two lines are one cell."""
    for r in range(len(ROWS) + 1):
        pdf.line(x, y - r * height, x + width * len(ROWS[0]), y - r * height)
    for k in range(len(ROWS[0]) + 1):
        pdf.line(x + k * width, y, x + k * width, y - height * len(ROWS))
    for r, row in enumerate(ROWS):
        for k, text in enumerate(row):
            if k == 0:
                pdf.drawString(x + 4, y - r * height - 12, text[:2])
                pdf.drawString(x + 4, y - r * height - 24, text[2:])
            else:
                pdf.drawString(x + k * width + 4, y - r * height - 18, text)


def _titled_table(pdf: Any) -> None:
    pdf.drawString(72, 760, "标题 abc 12")
    _ruled_rows(pdf)


def _in_a_form(pdf: Any) -> None:
    pdf.beginForm("table")
    pdf.setFont(CJK_FONT, 10)
    _ruled_rows(pdf)
    pdf.endForm()
    pdf.drawString(72, 760, "表格画在表单对象里")
    pdf.doForm("table")


def _scaled(pdf: Any) -> None:
    pdf.translate(50, 100)
    pdf.scale(0.8, 0.8)
    pdf.drawString(72, 760, "整页缩放")
    _ruled_rows(pdf)


def _rules_as_thin_rects_on_a_background(pdf: Any) -> None:
    pdf.setFillGray(0.9)
    pdf.rect(60, 560, 400, 190, stroke=0, fill=1)  # a shading: its sides are no rules
    pdf.setFillGray(0)
    for r in range(len(ROWS) + 1):
        pdf.rect(72, 700 - r * 30, 360, 0.5, stroke=0, fill=1)
    for k in range(len(ROWS[0]) + 1):
        pdf.rect(72 + k * 90, 610, 0.5, 90, stroke=0, fill=1)
    for r, row in enumerate(ROWS):
        pdf.drawString(76, 700 - r * 30 - 12, row[0][:2])
        pdf.drawString(76, 700 - r * 30 - 24, row[0][2:])
        for k, text in enumerate(row[1:], start=1):
            pdf.drawString(72 + k * 90 + 4, 700 - r * 30 - 18, text)


@pytest.mark.parametrize("draw", [_in_a_form, _scaled, _rules_as_thin_rects_on_a_background],
                         ids=lambda f: f.__name__)
def test_ruled_table_is_rebuilt_whatever_draws_its_rules(draw: Callable[[Any], None]) -> None:
    text, tables, _ = read_pdf(_canvas_pdf(draw))
    assert [texts(t) for t in tables] == [ROWS]
    assert "\t".join(ROWS[1]) in text.split("\n")


def test_shaded_blocks_behind_prose_make_no_table() -> None:
    """Filled blocks side by side (a banner in two colours) are no ruled columns."""
    def shaded_prose(pdf: Any) -> None:
        for k, grey in enumerate((0.8, 0.9)):
            pdf.setFillGray(grey)
            pdf.rect(60 + 200 * k, 640, 200, 80, stroke=0, fill=1)
        pdf.setFillGray(0)
        pdf.drawString(72, 700, "第一段说明文字。")
        pdf.drawString(272, 680, "第二段说明文字。")

    text, tables, _ = read_pdf(_canvas_pdf(shaded_prose))
    assert tables == [] and text.split("\n") == ["第一段说明文字。", "第二段说明文字。"]


def _pdfplumber_page(data: bytes) -> tuple[list[tuple[str, float, float, float, float]], list[tuple[Any, ...]]]:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        page = pdf.pages[0]
        chars = [(c["text"], c["x0"], c["x1"], c["top"], c["bottom"]) for c in page.chars if c["text"].strip()]
        edges = sorted((e["orientation"], *(round(e[k], 3) for k in ("x0", "x1", "top", "bottom")))
                       for e in page.edges if e["orientation"])
    return chars, edges


@pytest.mark.parametrize("rotate", [0, 90])
def test_pdfium_characters_and_edges_are_laid_out_as_pdfplumber_lays_them_out(rotate: int) -> None:
    """The characters' text, order and boxes (within a point: the libraries differ slightly on
    the descent and the Latin widths of a font that is not embedded) and the rules' edges
    (exactly) are pdfplumber's."""
    import pypdfium2

    from service.ingest.pdf import _PageContent

    data = _canvas_pdf(_titled_table, rotate)
    doc = pypdfium2.PdfDocument(data)
    page = doc[0]
    textpage = page.get_textpage()
    content = _PageContent.of(page, textpage)
    textpage.close()
    page.close()
    doc.close()
    theirs_chars, theirs_edges = _pdfplumber_page(data)
    ours = [(c["text"], c["x0"], c["x1"], c["top"], c["bottom"]) for c in content.chars]
    assert [c[0] for c in ours] == [c[0] for c in theirs_chars]
    assert max(abs(a - b) for o, t in zip(ours, theirs_chars, strict=True) for a, b in zip(o[1:], t[1:], strict=True)) < 1
    assert sorted((e["orientation"], *(round(e[k], 3) for k in ("x0", "x1", "top", "bottom")))
                  for e in content.edges if e["orientation"]) == theirs_edges


# ------------------------------------------------------------------ cell boxes


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", normalize_text(text))


def assert_boxes_hold_their_cells(data: bytes) -> PdfRead:
    """Every box, asked of pdfium independently of the reading (the text inside its rectangle,
    in PDF page coordinates), holds exactly its cell's text; every non-empty cell of a ruled
    table has a box; spans point into the text."""
    import pypdfium2

    read = read_pdf_document(data)
    assert read.boxes, "no cell boxes"
    spans = [b.span for b in read.boxes]
    assert spans == sorted(spans) and len(set(spans)) == len(spans)
    doc = pypdfium2.PdfDocument(data)
    try:
        for box in read.boxes:
            page = doc[box.page - 1]
            textpage = page.get_textpage()
            left, _, _, top = page.get_cropbox()
            assert (box.page_width, box.page_height) == pytest.approx(page.get_size())
            x0, y0, x1, y1 = box.bbox
            assert 0 <= x0 < x1 <= box.page_width and 0 <= y0 < y1 <= box.page_height
            inside = textpage.get_text_bounded(left=left + x0 + 0.5, bottom=top - y1 + 0.5,
                                               right=left + x1 - 0.5, top=top - y0 - 0.5)
            printed = read.text[box.span[0]:box.span[1]]
            assert _squeezed(inside) == _squeezed(printed), (box, printed, inside)
            textpage.close()
            page.close()
    finally:
        doc.close()
    boxed = set(spans)
    for table in read.tables:
        for row in table.rows:
            for cell in row:
                assert cell.text == "" or cell.span in boxed, cell
    return read


def test_hongze_cell_boxes_hold_the_text_pdfium_finds_inside_them() -> None:
    if not HONGZE_PDF.exists():
        pytest.skip("dev report not available")
    read = assert_boxes_hold_their_cells(HONGZE_PDF.read_bytes())
    assert {b.page for b in read.boxes} >= {2, 3}  # table 3 runs over a page break


@pytest.mark.parametrize("template", ["2021", "2019"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_report_cell_boxes_hold_the_text_pdfium_finds_inside_them(template: str, seed: int) -> None:
    import random

    from tests.corpus.render import render
    from tests.corpus.values import generate_values

    values = generate_values(random.Random(seed), template, blanks=seed * 2)
    data, _ = render(values, template, "pdf", seed=seed)
    read = assert_boxes_hold_their_cells(data)
    blanks = [b for b in read.boxes if b.span[0] == b.span[1]]
    assert all(read.text[b.span[0] - 1: b.span[0] + 1].strip("\t\n") == "" for b in blanks if b.span[0])


def test_a_table_printed_without_rules_has_boxes_too() -> None:
    rows = [["项目", "自然人", "商业企业", "总计"], ["本年新收", "21", "3", "24"], ["上年结转", "0", "", "0"]]
    read = assert_boxes_hold_their_cells(build_pdf(["说明文字", rows, "结束"], ruled=False))
    assert len(read.boxes) == sum(len(r) for r in rows)  # the blank cell has its (empty) box too
    assert [b.bbox[1] for b in read.boxes[:4]] == [read.boxes[0].bbox[1]] * 4  # a row is one line


def test_boxes_of_a_table_continued_on_the_next_page_name_that_page() -> None:
    rows = [*APPLICATIONS[:4], [PAGE_BREAK], *APPLICATIONS[4:]]
    read = assert_boxes_hold_their_cells(build_pdf(["前言", rows, "后记"]))
    last = read.tables[0].rows[-1][-1]
    assert [b.page for b in read.boxes if b.span == last.span] == [2]


def test_boxes_are_given_in_the_crop_box_a_page_image_shows() -> None:
    """A page whose crop box is smaller than its media box: pdfium renders the crop box, so boxes
    are measured from its corner."""
    def cropped(pdf: Any) -> None:
        pdf.setCropBox((40, 120, 500, 800))
        _ruled_rows(pdf)

    read = assert_boxes_hold_their_cells(_canvas_pdf(cropped))
    first = min(read.boxes, key=lambda b: (b.bbox[1], b.bbox[0]))
    assert first.bbox[:2] == pytest.approx((72 - 40, 800 - 700), abs=0.01)
    assert (first.page_width, first.page_height) == pytest.approx((460, 680))


def test_other_formats_have_no_boxes_and_ingest_keeps_them_for_pdf() -> None:
    from service.ingest import ingest

    assert ingest("甲\t1\n乙\t2\n".encode()).boxes == []
    doc = ingest(build_pdf([APPLICATIONS]), "a.pdf")
    assert doc.boxes == read_pdf_document(build_pdf([APPLICATIONS])).boxes != []


def darkest(image: Any, bbox: Sequence[float], scale: float) -> int:
    """The darkest grey (0 black … 255 white) inside a box of PDF points, 3 pixels in from its rules."""
    x0, y0, x1, y1 = (round(v * scale) for v in bbox)
    low = image.convert("L").crop((x0 + 3, y0 + 3, x1 - 3, y1 - 3)).getextrema()[0]
    assert isinstance(low, int)
    return low


def test_a_page_renders_as_png_with_the_cell_value_drawn_inside_its_box() -> None:
    from PIL import Image

    from service.ingest.pdf import render_page_png

    data = build_pdf([APPLICATIONS])
    read = read_pdf_document(data)
    png = render_page_png(data, 1, 2.0, 8_000_000)
    assert png is not None and png.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png)).convert("L")
    box = next(b for b in read.boxes if read.text[b.span[0]:b.span[1]] == "21")
    assert image.size == (round(box.page_width * 2), round(box.page_height * 2))
    assert darkest(image, box.bbox, 2) < 128  # ink inside the box
    empty = next(b for b in read.boxes if b.span[0] == b.span[1])
    assert darkest(image, empty.bbox, 2) > 200  # a blank cell is blank
    assert render_page_png(data, 2, 1.0, 8_000_000) is None
    small = Image.open(io.BytesIO(render_page_png(data, 1, 3.0, 100_000) or b""))
    assert small.size[0] * small.size[1] <= 100_000
