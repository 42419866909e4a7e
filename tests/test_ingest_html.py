"""Ingest of HTML: reading order, one line per <tr>, grids with merged cells, script strings."""

from __future__ import annotations

import pytest

from service.document import Document
from service.ingest import ingest
from service.ingest.normalize import normalize_text

TABLE3_HEAD = (
    '<table border="1">'
    '<tr><td rowspan="2" colspan="2"><p>申请人</p><p>情况</p></td>'
    '<td rowspan="2">自然人</td><td colspan="5">法人或其他组织</td><td rowspan="2">总计</td></tr>'
    "<tr><td>商业<br/>企业</td><td>科研\n  机构</td><td>社会公益组织</td>"
    "<td><p>法律服务</p><p>机构</p></td><td>其他</td></tr>"
    '<tr><td colspan="2">一、本年新收政府信息公开申请数量</td>'
    "<td>１２</td><td>&nbsp;</td><td></td><td>0</td><td>-</td><td>1</td><td>13</td></tr>"
    "</table>"
)


def page(body: str, head: str = "<title>站点标题</title>") -> str:
    return f"<!DOCTYPE html><html><head>{head}<style>p{{color:red}}</style></head><body>{body}</body></html>"


def assert_spans_ground(doc: Document) -> None:
    """Every cell of every grid points at its own text in Document.text."""
    assert doc.text == normalize_text(doc.text)
    for table in doc.tables:
        assert table.origin == "html"
        assert table.span is not None
        for row in table.rows:
            assert len(row) == len(table.rows[0])
            for cell in row:
                if cell.span is None:  # padding where no source cell stands
                    assert cell.text == ""
                    continue
                start, end = cell.span
                assert table.span[0] <= start <= end <= table.span[1]
                assert doc.text[start:end] == cell.text


def grid(doc: Document, index: int = 0) -> list[list[str]]:
    return [[cell.text for cell in row] for row in doc.tables[index].rows]


def test_table_with_rowspan_colspan_blanks_and_paragraphs_in_cells() -> None:
    doc = ingest(
        page("<h2>三、收到和处理政府信息公开申请情况</h2>" + TABLE3_HEAD).encode(), "r.html"
    )
    assert doc.media_type == "text/html"
    assert grid(doc) == [
        ["申请人情况", "申请人情况", "自然人", *["法人或其他组织"] * 5, "总计"],
        [
            "申请人情况",
            "申请人情况",
            "自然人",
            "商业企业",
            "科研 机构",
            "社会公益组织",
            "法律服务机构",
            "其他",
            "总计",
        ],
        ["一、本年新收政府信息公开申请数量"] * 2 + ["12", "", "", "0", "-", "1", "13"],
    ]
    rows = doc.tables[0].rows
    assert all(cell.span is not None for row in rows for cell in row)
    assert rows[0][0] is rows[1][1]  # a merged cell is the same Cell
    assert rows[2][3].span is not None and rows[2][3].span[0] == rows[2][3].span[1]
    assert_spans_ground(doc)
    # one line per <tr>: its own cells, TAB-joined, source order; blank line before the table
    assert (
        "三、收到和处理政府信息公开申请情况\n\n"
        "申请人情况\t自然人\t法人或其他组织\t总计\n"
        "商业企业\t科研 机构\t社会公益组织\t法律服务机构\t其他\n"
        "一、本年新收政府信息公开申请数量\t12\t\t\t0\t-\t1\t13"
    ) in doc.text


def test_chrome_is_dropped_and_blocks_get_their_own_lines() -> None:
    body = (
        "<div>首页 &gt; 信息公开</div><h1>某局2021年政府信息公开工作年度报告</h1>"
        "<p>一、<b>总体</b>情况</p><p>全年主动公开&nbsp;<span>2645</span> 条。<br>第二句。</p>"
        "<script>var x = '隐藏';</script>"
        "<ul><li>甲</li><li>乙</li></ul>"
    )
    doc = ingest(page(body).encode(), "r.html")
    assert doc.text == (
        "首页 > 信息公开\n某局2021年政府信息公开工作年度报告\n一、总体情况\n"
        "全年主动公开 2645 条。\n第二句。\n甲\n乙"
    )


def test_whole_page_on_one_line_with_table_between_paragraphs() -> None:
    markup = page("<p>二、主动公开</p>" + TABLE3_HEAD + "<p>四、行政复议</p>").replace("\n", " ")
    assert "\n" not in markup
    doc = ingest(markup.encode(), "page.html")
    lines = doc.text.split("\n")
    assert lines[0] == "二、主动公开"
    assert lines[-1] == "四、行政复议"
    assert lines[-2] == ""  # blank line after the table
    assert len(doc.tables) == 1
    assert_spans_ground(doc)


def test_html_saved_as_txt_is_html() -> None:
    doc = ingest(page("<p>正文</p>" + TABLE3_HEAD).encode(), "crawled.txt")
    assert doc.media_type == "text/html"
    assert "<td" not in doc.text
    assert len(doc.tables) == 1


def test_headless_fragment_saved_as_txt_is_html() -> None:
    fragment = "<p>一、总体情况</p><p>正文</p><div>二、表格</div>" + TABLE3_HEAD
    doc = ingest(fragment.encode(), "fragment.txt")
    assert doc.media_type == "text/html"
    assert doc.text.startswith("一、总体情况\n正文\n二、表格\n\n")


def test_meta_charset_gbk_is_honoured() -> None:
    markup = page(
        "<p>本年新收政府信息公开申请数量</p>", head='<meta charset="gb2312"><title>报告</title>'
    )
    doc = ingest(markup.encode("gbk"), "r.html")
    assert doc.text == "本年新收政府信息公开申请数量"
    assert doc.encoding == "gb18030"


def test_utf8_page_with_a_wrong_gbk_meta_still_decodes() -> None:
    markup = page(
        "<p>行政复议</p>", head='<meta http-equiv="Content-Type" content="text/html; charset=gbk">'
    )
    assert ingest(markup.encode("utf-8"), "r.html").text == "行政复议"


@pytest.mark.parametrize("quote", ["'", '"'])
def test_table_inside_a_script_string(quote: str) -> None:
    table = (
        '<table><tr><td class=\\"h\\">行政复议</td><td>结果维持</td></tr>'
        "<tr><td>it\\'s</td><td>3<\\/td></tr></table>"
    )
    script = f"var content = {quote}<p>附表<\\/p>{table}{quote}; // don't\ndocument.getElementById('c').innerHTML = content;"
    doc = ingest(page(f"<div id=c></div><script>{script}</script><p>完</p>").encode(), "r.html")
    assert grid(doc) == [["行政复议", "结果维持"], ["it's", "3"]]
    assert "附表\n\n行政复议\t结果维持\nit's\t3\n\n完" in doc.text
    assert_spans_ground(doc)


def test_table_written_by_document_write_in_pieces() -> None:
    script = (
        'document.write("<table><tr><td>自然人</td><td>总计</td></tr>");\n'
        "document.write('<tr><td>1</td><td>\\u0031</td></tr></table>');"
    )
    doc = ingest(page(f"<script>{script}</script>").encode(), "r.html")
    assert grid(doc) == [["自然人", "总计"], ["1", "1"]]
    assert_spans_ground(doc)


def test_script_tables_ignored_when_the_page_shows_a_table() -> None:
    script = "<script>var t = '<table><tr><td>隐藏</td><td>9</td></tr></table>';</script>"
    doc = ingest(page(TABLE3_HEAD + script).encode(), "r.html")
    assert len(doc.tables) == 1
    assert "隐藏" not in doc.text


def test_layout_table_around_a_data_table_is_flattened() -> None:
    body = (
        '<table width="100%"><tr><td><p>一、总体情况</p><p>正文一段。</p>'
        + TABLE3_HEAD
        + "</td><td>右侧栏</td></tr></table>"
    )
    doc = ingest(page(body).encode(), "r.html")
    assert len(doc.tables) == 1
    assert grid(doc)[0][2] == "自然人"
    assert doc.text.startswith("一、总体情况\n正文一段。\n\n申请人情况\t")
    assert doc.text.endswith("\n\n右侧栏")
    assert_spans_ground(doc)


def test_short_rows_are_padded_and_rowspans_stop_at_the_table_end() -> None:
    markup = page(
        '<table><tr><td rowspan="5">甲</td><td>1</td><td>2</td></tr><tr><td>3</td></tr></table>'
    )
    doc = ingest(markup.encode(), "r.html")
    rows = doc.tables[0].rows
    assert [[c.text for c in row] for row in rows] == [["甲", "1", "2"], ["甲", "3", ""]]
    assert rows[1][2].span is None  # no source cell there
    assert doc.text == "甲\t1\t2\n3"


def test_empty_page_is_unreadable() -> None:
    from service.errors import UnreadableDocument

    with pytest.raises(UnreadableDocument):
        ingest(page("<script>var a = 1;</script>&nbsp;").encode(), "r.html")


def test_word_single_file_web_page_named_doc_is_read_as_html() -> None:
    import quopri

    markup = page(
        "<p class=MsoNormal>一、总体情况<o:p></o:p></p><table><tr><td>自然人</td><td>1</td></tr></table>"
    )
    body = quopri.encodestring(markup.encode("gbk")).decode("ascii")
    mht = (
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/related; boundary="----=_NextPart_01"\r\n\r\n'
        "------=_NextPart_01\r\n"
        "Content-Location: file:///C:/report.htm\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        'Content-Type: text/html; charset="gb2312"\r\n\r\n'
        f"{body}\r\n"
        "------=_NextPart_01--\r\n"
    ).encode("ascii")
    doc = ingest(mht, "report.doc")
    assert doc.media_type == "text/html"
    assert doc.encoding == "gb18030"
    assert doc.text.startswith("一、总体情况\n\n自然人\t1")
    assert grid(doc) == [["自然人", "1"]]


def test_two_column_layout_with_prose_keeps_paragraph_lines() -> None:
    prose = "".join(
        f"<p>第{i}段：全年主动公开政府信息若干条，持续推进重点领域信息公开。</p>" for i in range(12)
    )
    doc = ingest(page(f"<table><tr><td>导航</td><td>{prose}</td></tr></table>").encode(), "r.html")
    assert doc.tables == []
    assert doc.text.split("\n")[:3] == [
        "导航",
        "第0段:全年主动公开政府信息若干条,持续推进重点领域信息公开。",
        "第1段:全年主动公开政府信息若干条,持续推进重点领域信息公开。",
    ]


@pytest.mark.parametrize("levels", [1, 500, 997, 998, 999, 1400])
def test_depth_check_agrees_with_walking_the_tree(levels: int) -> None:
    """The XPath check (in C) says 'too deep' exactly when some element is _DEPTH_LIMIT levels
    down, the root being level 1, as a walk over the tree counts them."""
    from lxml import html as lxml_html

    from service.ingest.html import _DEPTH_LIMIT, _too_deep

    root = lxml_html.document_fromstring("<div>" * levels + "x" + "</div>" * levels,
                                         parser=lxml_html.HTMLParser(huge_tree=True))
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node)
    assert _too_deep(root) == (deepest >= _DEPTH_LIMIT)
