"""The deterministic reader end to end: gold files, spans, each finding kind, each layout."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from service.contract import Extraction
from service.evaluate import values_equal
from service.pipeline import extract_bytes

EVALS = Path(__file__).resolve().parent.parent / "evals"
GOLD = sorted((EVALS / "gold").glob("*/*.json"))
SEEDS = EVALS / "docs" / "seeds"


def extract_text(text: str, name: str = "report.txt") -> Extraction:
    return extract_bytes(text.encode("utf-8"), name)[1]


def seed(name_prefix: str) -> str:
    path = next(SEEDS.glob(name_prefix + "*.txt"))
    return path.read_text("utf-8")


def findings(ex: Extraction) -> set[tuple[str, str]]:
    return {(f.kind, f.path) for f in ex.findings}


@pytest.mark.parametrize("gold_path", GOLD, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_gold_documents_read_right_and_never_wrong_at_high(gold_path: Path) -> None:
    gold = json.loads(gold_path.read_text("utf-8"))
    doc_path = EVALS / "docs" / gold_path.parent.name / gold["document"]
    doc, ex = extract_bytes(doc_path.read_bytes(), doc_path.name)
    by_path = {f.path: f for f in ex.fields}
    wrong = {p: (by_path[p].value if p in by_path else None, v) for p, v in gold["fields"].items()
             if not values_equal(p, by_path[p].value if p in by_path else None, v)}
    assert not wrong
    expected = {(e["kind"], e["path"]) for e in gold["expected_findings"]}
    reported = findings(ex)
    missed = {e for e in expected if not any(k == e[0] and (p == e[1] or p.startswith(e[1] + ".")) for k, p in reported)}
    assert not missed


@pytest.mark.parametrize("gold_path", GOLD, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_span_points_at_the_value(gold_path: Path) -> None:
    gold = json.loads(gold_path.read_text("utf-8"))
    doc_path = EVALS / "docs" / gold_path.parent.name / gold["document"]
    doc, ex = extract_bytes(doc_path.read_bytes(), doc_path.name)
    for f in ex.fields:
        if f.span is None:
            continue
        start, end = f.span
        assert 0 <= start <= end <= len(doc.text)
        if isinstance(f.value, int | float) and not isinstance(f.value, bool) and f.path.split(".")[0] != "narrative":
            assert float(doc.text[start:end]) == float(f.value), f.path
    for fd in ex.findings:
        for s, e in fd.spans:
            assert 0 <= s <= e <= len(doc.text)


def test_every_template_path_appears_once() -> None:
    from service.templates import paths_for

    for prefix, tpl in (("000", "2021"), ("001", "2019")):
        ex = extract_text(seed(prefix))
        paths = [f.path for f in ex.fields]
        assert paths == paths_for(tpl)


# ---- finding kinds, each provoked by editing a real report ---------------------------------


def test_sum_mismatch_when_a_printed_total_is_wrong() -> None:
    text = seed("001")
    edited = text.replace("(七) 总计\t5\t0\t0\t0\t0\t0\t5", "(七) 总计\t5\t0\t0\t0\t0\t0\t6")
    assert edited != text
    ex = extract_text(edited)
    kinds = {k for k, p in findings(ex) if p.startswith("applications.total")}
    assert "sum_mismatch" in kinds
    total = ex.field("applications.total.total")
    assert total is not None and total.value == 6 and total.level != "high"
    assert "sum_mismatch" in total.flags


def test_missing_cell_is_null_not_zero() -> None:
    text = seed("001")
    edited = text.replace("一、本年新收政府信息公开申请数量\t\t5\t0\t0", "一、本年新收政府信息公开申请数量\t\t5\t\t0")
    assert edited != text
    ex = extract_text(edited)
    cell = ex.field("applications.new_received.commercial_enterprise")
    assert cell is not None and cell.value is None and "missing_cell" in cell.flags
    assert ("missing_cell", "applications.new_received.commercial_enterprise") in findings(ex)


def test_extra_cell_is_reported_and_not_shifted() -> None:
    text = seed("001")
    edited = text.replace("二、上年结转政府信息公开申请数量\t\t0\t0\t0\t0\t0\t0\t0",
                          "二、上年结转政府信息公开申请数量\t\t0\t0\t0\t0\t0\t0\t0\t9")
    assert edited != text
    ex = extract_text(edited)
    assert ("extra_cell", "applications.carried_over") in findings(ex)
    granted = ex.field("applications.granted.natural_person")
    assert granted is not None and granted.value == 4


def test_text_table_conflict_points_at_both_places() -> None:
    ex = extract_text(seed("001"))
    conflict = next(f for f in ex.findings if f.kind == "text_table_conflict")
    assert conflict.path == "applications.granted.total"
    assert len(conflict.spans) >= 2
    field = ex.field("applications.granted.total")
    assert field is not None and field.level != "high" and "text_table_conflict" in field.flags


def test_template_mismatch_follows_the_report_year() -> None:
    text = seed("001")  # a 2020 report on the 2019 template: no mismatch
    assert not any(k == "template_mismatch" for k, _ in findings(extract_text(text)))
    edited = text.replace("2020 年政府信息公开工作年度报告", "2021 年政府信息公开工作年度报告")
    edited = re.sub(r"2020 ?年", "2021 年", edited)
    ex = extract_text(edited)
    assert ("template_mismatch", "active_disclosure") in findings(ex)


def test_missing_section_keeps_meta_and_prose() -> None:
    text = seed("000")
    cut = text[: text.index("#### 四、因政府信息公开工作")] + text[text.index("#### 五、"):]
    ex = extract_text(cut)
    assert ("missing_section", "reviews_and_litigation") in findings(ex)
    review = ex.field("reviews_and_litigation.administrative_review.total")
    assert review is not None and review.value is None and review.level == "low"
    issuer = ex.field("meta.issuer")
    assert issuer is not None and issuer.value == "庆云县常家镇人民政府"
    applications = ex.field("applications.new_received.total")
    assert applications is not None and applications.value == 0


def test_report_without_tables_yields_meta_and_prose() -> None:
    text = "某某镇2021年政府信息公开工作年度报告\n\n全年主动公开政府信息 12 条。\n\n某某镇人民政府\n2022年1月5日\n"
    ex = extract_text(text)
    assert {k for k, _ in findings(ex)} == {"missing_section"}
    assert len(ex.findings) == 3
    total = ex.field("narrative.active_disclosure_total")
    assert total is not None and total.value == 12
    assert all(f.level == "low" for f in ex.fields if f.path.startswith("applications."))


# ---- layouts ---------------------------------------------------------------------------------


def test_gbk_bytes_read_like_utf8() -> None:
    text = seed("001")
    utf8 = extract_bytes(text.encode("utf-8"), "a.txt")[1]
    gbk = extract_bytes(text.encode("gbk"), "a.txt")[1]
    assert [(f.path, f.value) for f in gbk.fields] == [(f.path, f.value) for f in utf8.fields]


def _html_report() -> str:
    from service.templates import table3_columns, table3_rows

    cols = "".join(f"<td>{c.label}</td>" for c in table3_columns())
    body = []
    values = {"new_received": [3, 1, 0, 0, 0, 0, 4], "granted": [2, 1, 0, 0, 0, 0, 3],
              "unavailable_not_held": [1, 0, 0, 0, 0, 0, 1], "total": [3, 1, 0, 0, 0, 0, 4]}
    rows = [r for r in table3_rows() if r.key not in ("other_overdue_correction", "other_overdue_fee", "other_misc")]
    for r in rows:
        vals = values.get(r.key, [0] * 7)
        cells = "".join(f"<td><p>{v}</p></td>" for v in vals)
        if r.key == "carried_over":
            cells = "".join("<td>&nbsp;</td>" if j == 3 else f"<td>{v}</td>" for j, v in enumerate(vals))
        lead = ""
        if r.key == "granted":
            lead = f'<td rowspan="{len(rows) - 3}">三、本年度办理结果</td>'
        span = ' colspan="2"' if r.key in ("new_received", "carried_over", "carried_forward") else ""
        body.append(f"<tr>{lead}<td{span}>{r.label}</td>{cells}</tr>")
    return (
        "<html><body><h1>某县2021年政府信息公开工作年度报告</h1><p>本年度共收到政府信息公开申请 4 件。</p>"
        "<table><tr><td colspan=\"2\" rowspan=\"2\">（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）</td>"
        f"<td colspan=\"7\">申请人情况</td></tr><tr>{cols}</tr>{''.join(body)}</table>"
        "<p>某县人民政府</p><p>2022年1月10日</p></body></html>"
    )


def test_html_table_with_rowspan_colspan_and_nbsp_blank() -> None:
    ex = extract_bytes(_html_report().encode("utf-8"), "report.html")[1]
    assert ex.document.media_type == "text/html"
    assert ex.field("applications.granted.commercial_enterprise").value == 1  # type: ignore[union-attr]
    assert ex.field("applications.total.total").value == 4  # type: ignore[union-attr]
    blank = ex.field("applications.carried_over.social_welfare_organization")
    assert blank is not None and blank.value is None
    assert ("missing_cell", "applications.carried_over.social_welfare_organization") in findings(ex)
    assert not any(k == "sum_mismatch" for k, _ in findings(ex))


def test_html_saved_as_txt_reads_the_same() -> None:
    html = _html_report().encode("utf-8")
    a = extract_bytes(html, "report.html")[1]
    b = extract_bytes(html, "report.txt")[1]
    assert [(f.path, f.value) for f in a.fields] == [(f.path, f.value) for f in b.fields]


# ------------------------------------------------------- fast paths against their definitions


def _compact_by_character(source: str, start: int, end: int) -> tuple[str, list[int]]:
    kept = [(source[i], i) for i in range(start, end) if not (source[i].isspace() or source[i] == "|")]
    return "".join(c for c, _ in kept), [i for _, i in kept]


@pytest.mark.parametrize("path", sorted((EVALS / "docs").glob("*/*.txt")), ids=lambda p: p.name)
def test_compact_text_drops_exactly_white_space_and_pipes(path: Path) -> None:
    from service.ingest import ingest
    from service.parse.rows import CompactText

    text = ingest(path.read_bytes(), path.name).text + " |\u3000\u2028\x0b|x\u00a0y"
    for start, end in ((0, len(text)), (len(text) // 3, len(text) - 7)):
        ct = CompactText.of(text, start, end)
        kept, offsets = _compact_by_character(text, start, end)
        assert (ct.text, ct.offsets) == (kept, offsets)
        assert [ct.at(i) for i in range(len(kept))] == offsets  # the per-run map, not the list
        assert ct.at(-1) == offsets[-1]
        with pytest.raises(IndexError):
            ct.at(len(kept))


@pytest.mark.parametrize("family", ["tabs", "lines", "glued", "markdown", "html"])
def test_models_built_without_validation_are_what_validation_makes(family: str) -> None:
    """Readings and FieldResults built by `contract.built` in the hot loops: every field set,
    each value already of its declared type (the JSON and the object equal the validated ones)."""
    from service.ingest import ingest
    from service.read import read_document
    from tests.corpus.render import render
    from tests.corpus.values import generate_values

    data, name = render(generate_values(random.Random(3), "2021", other_subrows=True), "2021", family, seed=3)
    _, ex = extract_bytes(data, name)
    readings = [r for s in read_document(ingest(data, name)) for r in s.readings.values()]
    models: list[Any] = [*ex.fields, *readings]
    assert len(ex.fields) > 100 and len(readings) > 100
    for m in models:
        assert set(m.__dict__) == set(type(m).model_fields), m
        rebuilt = type(m)(**dict(m.__dict__))
        assert rebuilt == m and rebuilt.model_dump_json() == m.model_dump_json(), m
        assert all(type(a) is type(b) for a, b in zip(m.__dict__.values(), rebuilt.__dict__.values(), strict=True)), m


@pytest.mark.parametrize("path", sorted((EVALS / "docs").glob("*/*.txt")), ids=lambda p: p.name)
def test_first_value_probe_reads_what_the_whole_cut_reads_first(path: Path) -> None:
    """cut_slots(first_only=True) stops early; its first slot must be the whole cut's."""
    from service.ingest import ingest
    from service.parse.rows import cut_slots

    text = ingest(path.read_bytes(), path.name).text
    starts = [0] + [m.end() for m in re.finditer(r"\n|\t|[\u4e00-\u9fff](?=\s*\d)", text)]
    compared = 0
    for x in starts:
        end = text.find("\n", x)
        end = len(text) if end < 0 else end
        for stop in (end, min(len(text), end + 200)):
            whole = cut_slots(text, x, stop)
            probe = cut_slots(text, x, stop, first_only=True)
            assert probe.slots[:1] == whole.slots[:1], (x, stop)
            compared += bool(whole.slots)
    assert compared > 20


def test_damaged_cells_are_found_by_span_whatever_the_reading_order() -> None:
    """mark_repairs looks readings up by span: every reading overlapping a repaired slot, and
    only those, gets its doubt, in reading order."""
    from service.parse.rows import Slot
    from service.parse.tables import mark_repairs
    from service.readings import Reading

    rng = random.Random(3)
    spans = [(i * 10, i * 10 + rng.randint(1, 6)) for i in range(60)]
    order = list(range(60))
    rng.shuffle(order)
    readings = {f"t.r{i}.c": Reading(path=f"t.r{i}.c", value=i, span=spans[i]) for i in order}
    readings["t.derived.c"] = Reading(path="t.derived.c", value=1, span=None)
    damaged = {7, 8, 31, 59}
    slots = [Slot("1", (spans[i][0], spans[i][1]), repairs=((spans[i][0], "ocr_letter"),)) for i in damaged]
    slots.append(Slot("2", (spans[20][0], spans[21][1]), repairs=((spans[20][0], "several_numbers_in_cell"),)))
    findings = mark_repairs(readings, slots)
    flagged = {p for p, r in readings.items() if r.doubts}
    assert flagged == {f"t.r{i}.c" for i in (*damaged, 20)}
    assert [f.path for f in findings] == ["t.r20.c"]
    assert list(readings) == [f"t.r{i}.c" for i in order] + ["t.derived.c"]


@pytest.mark.parametrize("seed", range(5))
def test_number_cells_are_counted_as_split_and_stripped_cells(seed: int) -> None:
    """_line_mode counts a line's number cells with one regex scan; the definition splits the
    line at `\\t`/`|`, strips each cell and matches the number pattern."""
    from service.parse.rows import NUMBER
    from service.parse.tables import _NUMBER_CELL

    rng = random.Random(seed)
    pieces = ["1", "23", "-", ".", "\t", "|", " ", "\x0b", "\r", "a", "５", "\u3000", "4.5", "-7", ""]
    for _ in range(4000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        cells = [c.strip() for c in re.split(r"[\t|]", line)]
        assert len(_NUMBER_CELL.findall(line)) == sum(1 for c in cells if NUMBER.fullmatch(c)), repr(line)


def _fuzzy_by_brute_force(ct: Any, label: Any, lo: int, hi: int, threshold: float) -> Any:
    """The fuzzy search as defined: every window of the label's length ±2, scored by difflib."""
    from difflib import SequenceMatcher

    from service.templates import strip_numbering

    form = max(label.forms(), key=len)
    core = label.forms()[-1] if len(label.forms()) > 1 else form
    best = None
    targets = {t for f in label.forms() for t in (f, strip_numbering(f)) if len(t) >= 6}
    for target in sorted(targets):
        n = len(target)
        for size in (n - 2, n - 1, n, n + 1, n + 2):
            for i in range(lo, max(lo, hi - size) + 1):
                window = ct.text[i : i + size]
                if re.fullmatch(r"-?\d+(?:\.\d+)?", window[:1] or "x") and not core[:1].isdigit():
                    continue
                if re.search(r"\d", window[2:]):
                    continue
                score = SequenceMatcher(None, target, window, autojunk=False).ratio()
                if score >= threshold and (best is None or score > best[2]):
                    best = (i, i + size, score)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_fuzzy_label_search_finds_what_scoring_every_window_finds(seed: int) -> None:
    """The character-count bound only skips windows that cannot reach the threshold."""
    from service.parse.rows import CompactText, _find_fuzzy
    from service.templates import table3_rows

    rng = random.Random(seed)
    labels = list(table3_rows())
    pieces = []
    for _ in range(6):
        text = list(rng.choice(labels).label)
        for _ in range(rng.randint(0, 3)):  # OCR slips: a character changed, dropped or doubled
            k = rng.randrange(len(text))
            text[k] = rng.choice(["", text[k] * 2, rng.choice("的一是了公开申请政府信息0123")])
        pieces.append("".join(text) + "".join(rng.choice("0123456789 \t") for _ in range(rng.randint(0, 12))))
    source = "\n".join(pieces)
    ct = CompactText.of(source, 0, len(source))
    for label in rng.sample(labels, 8):
        for threshold in (0.6, 0.78):
            lo = rng.randrange(max(1, len(ct.text) // 2))
            assert _find_fuzzy(ct, label, lo, len(ct.text), threshold) == \
                _fuzzy_by_brute_force(ct, label, lo, len(ct.text), threshold)
