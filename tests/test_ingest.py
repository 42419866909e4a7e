"""Ingest of text files: format sniffing, encodings, normalization, refusals, dispatch."""

from __future__ import annotations

import hashlib
import io
import json
import random
import sys
import types
import zipfile
from pathlib import Path

import pytest

from service import templates
from service.document import Cell, CellBox, Table
from service.errors import NianbaoError, UnreadableDocument, UnsupportedFormat
from service.ingest import ingest
from service.ingest.normalize import normalize_text

EVALS = Path(__file__).resolve().parent.parent / "evals"
SEEDS = sorted((EVALS / "docs" / "seeds").glob("*.txt"))


def seed_text(index: int = 2) -> str:
    return SEEDS[index].read_text("utf-8")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- seeds -------------------------------------------------------------------------------------


def _key_labels(gold: dict[str, object]) -> list[templates.Label]:
    """The labels a report of the gold's template prints: table 3's rows that the gold fills
    (sub-rows may be printed merged), its columns, table 4's groups and table 2's rows."""
    fields = gold["fields"]
    assert isinstance(fields, dict)
    rows = {path.split(".")[1] for path in fields if path.startswith("applications.")}
    labels = [r for r in templates.table3_rows() if r.key in rows and r.subrow_of is None]
    labels += list(templates.table3_columns()) + list(templates.table4_groups())
    for group in templates.table2(str(fields["meta.template"])):
        labels += group.rows
    return labels


@pytest.mark.parametrize("path", SEEDS, ids=[p.stem for p in SEEDS])
def test_every_seed_ingests_to_text_with_its_key_labels(path: Path) -> None:
    data = path.read_bytes()
    gold = json.loads((EVALS / "gold" / "seeds" / (path.stem + ".json")).read_text("utf-8"))
    doc = ingest(data, path.name)
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert doc.encoding == "utf-8"
    assert doc.text == normalize_text(doc.text)
    compact = templates.compact(doc.text)
    missing = [
        label.key for label in _key_labels(gold) if not any(f in compact for f in label.forms())
    ]
    assert not missing


# --- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "expected_family"),
    [
        ("utf-8-sig", "utf-8"),
        ("gbk", "gb"),
        ("gb18030", "gb"),
        ("utf-16", "utf-16"),  # with BOM
        ("utf-16-le", "utf-16"),  # without BOM
        ("utf-16-be", "utf-16"),
    ],
)
def test_encodings_decode_to_the_same_text(codec: str, expected_family: str) -> None:
    text = normalize_text(seed_text(2))
    reference = ingest(text.encode("utf-8"), "r.txt")
    doc = ingest(text.encode(codec), "r.txt")
    assert doc.text == reference.text
    assert "政府信息公开" in doc.text
    assert doc.encoding is not None
    assert doc.encoding.replace("_", "-").startswith(expected_family)


def test_short_gbk_text_still_decodes_as_chinese() -> None:
    data = "2021年政府信息公开工作年度报告\n本年新收政府信息公开申请数量\t5\n".encode("gbk")
    doc = ingest(data, "a.txt")
    assert "本年新收政府信息公开申请数量\t5" in doc.text


# --- normalization -----------------------------------------------------------------------------


def test_normalization_of_digits_spaces_entities_and_line_ends() -> None:
    raw = "（一）予以公开\u3000１２３\r\n全年\u00a0公开&nbsp;45\u200b条\r第三行\u2028第四行"
    doc = ingest(raw.encode("utf-8"), "n.txt")
    assert doc.text == "(一)予以公开 123\n全年 公开 45条\n第三行\n第四行"


def test_tabs_and_blank_lines_of_text_layout_are_kept() -> None:
    raw = "标题\n\n\t\t自然人\t总计\n申请数量\t1\t\t1\n"
    assert ingest(raw.encode("utf-8"), "t.txt").text == raw


def test_normalize_text_is_idempotent() -> None:
    once = normalize_text(seed_text(0) + "\x0b\x00ｘ&nbsp;\r\n")
    assert normalize_text(once) == once


# --- formats by content ------------------------------------------------------------------------


def test_markdown_by_name_and_by_pipe_table() -> None:
    assert ingest("# 报告\n\n正文".encode(), "r.md").media_type == "text/markdown"
    piped = "报告\n\n| 项目 | 数量 |\n| --- | --- |\n| 自然人 | 1 |\n"
    assert ingest(piped.encode(), "r.txt").media_type == "text/markdown"
    assert ingest("报告\n正文".encode(), "r.txt").media_type == "text/plain"


def test_a_stray_tag_does_not_make_text_html() -> None:
    raw = seed_text(1)
    assert "<p>" in raw
    assert ingest(raw.encode("utf-8"), "r.txt").media_type == "text/plain"


def test_markdown_with_embedded_html_table_gets_a_grid() -> None:
    raw = "# 报告\n\n二、情况\n<table><tr><td>规章</td><td>0</td></tr></table>\n三、其他\n"
    doc = ingest(raw.encode("utf-8"), "r.md")
    assert doc.media_type == "text/markdown"
    assert "# 报告\n\n二、情况\n" in doc.text and "\n三、其他" in doc.text
    (table,) = doc.tables
    assert [[c.text for c in row] for row in table.rows] == [["规章", "0"]]
    for row in table.rows:
        for cell in row:
            assert cell.span is not None
            assert doc.text[cell.span[0] : cell.span[1]] == cell.text


def _fake_reader_module(
    monkeypatch: pytest.MonkeyPatch, name: str, attribute: str, result: object
) -> list[bytes]:
    calls: list[bytes] = []

    def reader(data: bytes, *_limits: object) -> object:  # the readers also take the Limits
        calls.append(data)
        return result

    module = types.ModuleType(name)
    setattr(module, attribute, reader)
    monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_pdf_magic_with_a_wrong_name_goes_to_the_pdf_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = Table(rows=[[Cell(text="规章", span=(0, 2))]], origin="pdf")
    box = CellBox(span=(0, 2), page=1, bbox=(10.0, 20.0, 30.0, 40.0), page_width=595.0, page_height=842.0)
    read = types.SimpleNamespace(text="规章 0", tables=[table], pages=3, boxes=[box])
    calls = _fake_reader_module(monkeypatch, "service.ingest.pdf", "read_pdf_document", read)
    data = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
    doc = ingest(data, "report.doc")
    assert calls == [data]
    assert doc.media_type == "application/pdf"
    assert (doc.text, doc.pages, doc.tables, doc.boxes) == ("规章 0", 3, [table], [box])
    assert doc.encoding is None


def test_docx_zip_with_a_wrong_name_goes_to_the_docx_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _fake_reader_module(monkeypatch, "service.ingest.docx", "read_docx", ("正文", []))
    data = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    doc = ingest(data, "report.txt")
    assert calls == [data]
    assert doc.media_type.endswith("wordprocessingml.document")
    assert doc.text == "正文"


def test_a_reader_returning_no_text_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    read = types.SimpleNamespace(text="  \n", tables=[], pages=2, boxes=[])
    _fake_reader_module(monkeypatch, "service.ingest.pdf", "read_pdf_document", read)
    with pytest.raises(UnreadableDocument):
        ingest(b"%PDF-1.4\n", "scan.pdf")


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n ", "\ufeff \n".encode("utf-8")])
def test_empty_files_are_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableDocument) as caught:
        ingest(data, "empty.txt")
    assert caught.value.message_zh != caught.value.message_en


def test_binary_junk_is_unreadable() -> None:
    junk = random.Random(7).randbytes(4000)
    with pytest.raises(UnreadableDocument):
        ingest(junk, "junk.txt")


def test_text_full_of_control_characters_is_unreadable() -> None:
    data = bytes(range(1, 9)) * 200 + "报告".encode()
    with pytest.raises(UnreadableDocument):
        ingest(data, "x.txt")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64 + "WordDocument".encode("utf-16-le"),
            ".doc",
        ),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64 + "Workbook".encode("utf-16-le"), ".xls"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, ".wps"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "PNG"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 32, "JPEG"),
        (b"GIF89a" + b"\0" * 32, "GIF"),
        (b"{\\rtf1\\ansi \\u25253?}", "RTF"),
        (_zip({"xl/workbook.xml": b"<workbook/>"}), ".xlsx"),
        (_zip({"notes.txt": b"hello"}), "ZIP"),
    ],
)
def test_known_unsupported_types_are_named(data: bytes, named: str) -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        ingest(data, "report.txt")
    assert named in caught.value.message_en
    assert named in caught.value.message_zh
    assert "不支持" in caught.value.message_zh


def test_a_damaged_docx_is_unreadable_not_a_traceback() -> None:
    data = _zip({"word/document.xml": b"<w:document/>"})[:30]
    with pytest.raises(NianbaoError):
        ingest(data, "report.docx")


def test_gbk_with_a_damaged_byte_still_decodes() -> None:
    text = normalize_text(seed_text(3))
    data = text.encode("gbk")
    damaged = data[:1000] + b"\xff" + data[1000:]
    doc = ingest(damaged, "r.txt")
    assert doc.encoding == "gb18030"
    assert doc.text.endswith(text[-200:])


# ------------------------------------------------------------------ the junk check's fast path


def _junk_by_character(text: str) -> bool:
    """The definition the fast path must keep: the share of control, private-use, unassigned and
    surrogate characters (layout controls aside) over 2 %, looked up one character at a time."""
    import unicodedata

    from service.ingest.sniff import _JUNK_RATIO, _LAYOUT_CONTROLS

    sample = text[:200000]
    if not sample:
        return False
    bad = sum(1 for ch in sample
              if ch not in _LAYOUT_CONTROLS and unicodedata.category(ch) in ("Cc", "Co", "Cn", "Cs"))
    return bad / len(sample) > _JUNK_RATIO


def test_no_character_the_junk_check_skips_is_junk() -> None:
    import re
    import unicodedata

    from service.ingest.sniff import _LAYOUT_CONTROLS, COMMON_RANGES

    common = re.compile(f"[{COMMON_RANGES}]")
    skipped = [chr(i) for i in range(0x110000) if common.fullmatch(chr(i))]
    assert len(skipped) > 20000  # ASCII, CJK punctuation, the ideographs, full-width forms
    junk = [c for c in skipped
            if c not in _LAYOUT_CONTROLS and unicodedata.category(c) in ("Cc", "Co", "Cn", "Cs")]
    assert junk == []


@pytest.mark.parametrize("seed", range(40))
def test_junk_check_agrees_with_the_per_character_definition(seed: int) -> None:
    from service.ingest.sniff import _looks_like_junk

    rng = random.Random(seed)
    pools = ["年度报告政府信息公开", "abc 123\t\n", "\x00\x01\x07\x1b\x7f", "\ue000\uf8ff", "\u0378\u0530",
             "\ud800\udfff", "\u3000、。（）", "\x0b\x0c\x1c\x85", "ａｂｃ１２３", "é ü ß"]
    weights = [rng.random() for _ in pools]
    text = "".join(rng.choice(rng.choices(pools, weights)[0]) for _ in range(rng.randint(0, 400)))
    assert _looks_like_junk(text) == _junk_by_character(text)


def test_text_normalize_passes_through_unchanged_is_already_normal() -> None:
    """normalize_text returns cells of digits, ASCII and ideographs untouched without working
    on them: each such character must be one normalization leaves alone (NFKC-stable, no
    control, no line break to convert, no `&` that may start an entity, no NBSP)."""
    import re
    import unicodedata

    from service.ingest.normalize import ALREADY_NORMAL

    kept = [chr(i) for i in range(0x110000) if re.fullmatch(f"[{ALREADY_NORMAL}]", chr(i))]
    assert len(kept) > 20000
    bad = [c for c in kept if unicodedata.normalize("NFKC", c) != c or c in "\r&\u00a0\u3000"
           or not (c in "\t\n" or c.isprintable())]
    assert bad == []
    assert normalize_text("1２\r\n&nbsp;") == "12\n "  # the rest still goes the whole way
