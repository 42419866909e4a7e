"""Each class of damage the reader must read honestly (issue: never a wrong value at `high`).

Every test edits a real seed report or a generated one the way real files are damaged, and
asserts what a careful human checker would: the value read as a person reads it and never
`high`, or `low` with the alternatives, and a finding where something is lost.
"""

from __future__ import annotations

import random
import re

import pytest

from service.contract import Extraction
from service.pipeline import extract_bytes
from service.templates import table3_columns
from tests.corpus.render import render
from tests.corpus.values import Values, generate_values
from tests.test_reader import extract_text, findings, seed

PUNISHMENT = "active_disclosure.administrative_punishment.decisions"


def _seed000_with_punishment(token: str) -> Extraction:
    text = seed("000")
    edited = text.replace("行政处罚\t0", "行政处罚\t" + token, 1)
    assert edited != text
    return extract_text(edited)


# ---- class 1: a cell token that is not a clean number --------------------------------------


@pytest.mark.parametrize(("token", "value"), [
    ("l282", 1282), ("I282", 1282), ("1O5", 105), ("2,418", 2418), ("12,345", 12345), ("S0", 50), ("|2", 12),
])
def test_a_repaired_token_reads_as_a_person_would_and_is_never_high(token: str, value: int) -> None:
    field = _seed000_with_punishment(token).field(PUNISHMENT)
    assert field is not None and field.value == value
    assert field.level == "medium" and field.flags


@pytest.mark.parametrize("token", ["O", "l", "I"])
def test_a_cell_of_a_lone_look_alike_letter_is_low(token: str) -> None:
    field = _seed000_with_punishment(token).field(PUNISHMENT)
    assert field is not None and field.level == "low"


@pytest.mark.parametrize(("token", "alternative"), [("2\n2", 22), ("12 34", 1234)])
def test_a_number_cut_in_two_has_both_readings_at_low(token: str, alternative: int) -> None:
    field = _seed000_with_punishment(token).field(PUNISHMENT)
    assert field is not None and field.level == "low"
    assert alternative in field.sources.get("alternatives", []) or field.value == alternative


@pytest.mark.parametrize("digits", [13, 40, 400, 5000])
def test_a_token_longer_than_any_cell_is_a_damaged_cell(digits: int) -> None:
    ex = _seed000_with_punishment("9" * digits)
    field = ex.field(PUNISHMENT)
    assert field is not None and field.value is None and field.level == "low"
    assert ("damaged_cell", PUNISHMENT) in findings(ex)


# ---- class 2: a reading confirmed only by the rule that chose it ---------------------------


def _glued(seed_value: int, template: str = "2021") -> tuple[Values, Extraction]:
    values = generate_values(random.Random(seed_value), template)
    data, name = render(values, template, "glued", seed=seed_value)
    return values, extract_bytes(data, name)[1]


def test_glued_table4_split_only_by_its_own_totals_is_never_high() -> None:
    """Table 4's fifteen glued cells are split by the group totals, and no other rule checks
    them: whatever the split, it is at most medium."""
    checked = 0
    for s in range(40):
        values, ex = _glued(s)
        cells = [f for f in ex.fields if f.path.startswith("reviews_and_litigation.")]
        if not any("glued_digits_split" in f.flags for f in cells):
            continue
        checked += 1
        assert all(f.level != "high" for f in cells), [(f.path, f.level, f.flags) for f in cells]
    assert checked >= 5


def test_a_split_confirmed_only_by_its_own_total_is_unconfirmed_and_contradicted_rows_low() -> None:
    from service.parse.tables import confirm_choices
    from service.readings import Reading
    from service.templates import Equation

    def eq(path: str, lhs: list[str], rhs: list[str]) -> Equation:
        return Equation(rule="r", path=path, lhs=lhs, rhs=rhs, description_zh="")

    # Row r = a + b (its own total built the split); column c: a + x = y.
    eqs = [eq("row", ["r.a", "r.b"], ["r.t"]), eq("col", ["r.a", "o.x"], ["o.y"])]

    def read(values: dict[str, int]) -> dict[str, Reading]:
        return {p: Reading(path=p, value=v, doubts=["glued_digits_split"] if p.startswith("r.") else [])
                for p, v in values.items()}

    own = {p: {"row"} for p in ("r.a", "r.b", "r.t")}
    # The column holds: a is confirmed; b and t have only their own total.
    readings = read({"r.a": 1, "r.b": 2, "r.t": 3, "o.x": 4, "o.y": 5})
    confirm_choices(readings, eqs, own, multi=set())
    assert "reading_unconfirmed" not in readings["r.a"].doubts
    assert "reading_unconfirmed" in readings["r.b"].doubts
    # The column fails: the whole split is in doubt, not only the cell the column names.
    readings = read({"r.a": 1, "r.b": 2, "r.t": 3, "o.x": 4, "o.y": 9})
    confirm_choices(readings, eqs, own, multi=set())
    assert all("row_reading_contradicted" in readings[p].doubts for p in own)
    assert "row_reading_contradicted" not in readings["o.x"].doubts


# ---- class 3: column-by-column dumps that lost a row's values ------------------------------


@pytest.mark.parametrize("seed_value", range(8))
def test_a_dump_that_lost_a_rows_values_never_shifts_the_others_at_high(seed_value: int) -> None:
    values = generate_values(random.Random(seed_value), "2021")
    rows = sorted({p.split(".")[1] for p in values if p.startswith("applications.") and values[p] is not None})
    row = random.Random(seed_value + 7).choice(rows)
    damaged = dict(values)
    for col in table3_columns():
        damaged[f"applications.{row}.{col.key}"] = "DROP"
    data, name = render(damaged, "2021", "pdf_text", seed=seed_value)
    text = re.sub(r"(?m)^[ \t]*DROP[ \t]*\n", "", data.decode("utf-8"))
    ex = extract_text(text, name)
    for col in table3_columns():
        damaged[f"applications.{row}.{col.key}"] = None
    for f in ex.fields:
        if f.path.startswith("applications.") and f.level == "high":
            assert f.value == damaged[f.path], (row, f.path, f.value, damaged[f.path])
    lost = [f for f in ex.fields if f.path.startswith(f"applications.{row}.")]
    assert all(f.value is None or f.level == "low" for f in lost)


# ---- class 4: a cell is a cell in HTML grids -----------------------------------------------


def test_two_numbers_in_one_html_cell_are_a_damaged_cell_not_a_shift() -> None:
    from tests.test_reader import _html_report

    html = _html_report().replace("<td><p>2</p></td>", "<td><p>2\n2</p></td>", 1)
    assert "2\n2" in html
    ex = extract_bytes(html.encode("utf-8"), "report.html")[1]
    cell = ex.field("applications.granted.natural_person")
    assert cell is not None and cell.level == "low"
    assert ("damaged_cell", "applications.granted.natural_person") in findings(ex)
    # The rest of the row keeps its place.
    assert ex.field("applications.granted.commercial_enterprise").value == 1  # type: ignore[union-attr]


# ---- class 5: a lost row is reported as a row ----------------------------------------------


@pytest.mark.parametrize(("label", "row"), [
    ("二、上年结转政府信息公开申请数量", "applications.carried_over"),
    ("行政处罚", "active_disclosure.administrative_punishment"),
])
def test_a_deleted_row_is_a_missing_row_finding(label: str, row: str) -> None:
    text = seed("000")
    edited = "\n".join(ln for ln in text.splitlines() if not ln.startswith(label))
    assert edited != text
    ex = extract_text(edited)
    assert ("missing_row", row) in findings(ex)
    assert all(f.level == "low" for f in ex.fields if f.path.startswith(row + "."))


# ---- prose: statements that disagree --------------------------------------------------------


def test_two_different_counts_of_the_same_quantity_are_low_with_both() -> None:
    text = seed("000").replace("。", "。全年主动公开政府信息 999 条。", 1)
    first = extract_text(seed("000")).field("narrative.active_disclosure_total")
    ex = extract_text(text)
    field = ex.field("narrative.active_disclosure_total")
    assert field is not None
    if first is not None and first.value not in (None, 999):
        assert field.level == "low"
        assert {field.value, *field.sources.get("alternatives", [])} >= {first.value, 999}
    else:
        assert field.value == 999 and field.level != "high"
