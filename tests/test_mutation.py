"""The damage (mutation) suite's CI subset, and unit tests of the damage kinds themselves.

Every family × kind runs a few mutants (tests/mutation); THE invariant is asserted per pair: no
wrong value at `high`, destroyed cells null or low, and a damaged report is still read whole
(no refusal, no crash, no path missing). Wrong values at `medium` are counted in the messages.
The full census with counts is `python -m tests.mutation`.
"""

from __future__ import annotations

import dataclasses
import random
import re
import unicodedata
from functools import cache

import pytest

from service.pipeline import extract_bytes
from tests.corpus.render import TEXT_FAMILIES, Grid, render, table3_grid
from tests.corpus.values import generate_values
from tests.mutation import (
    REAL,
    Mutant,
    Outcome,
    check,
    clean_failures,
    generated_mutant,
    pairs,
    real_mutant,
    real_reports,
    run_one,
)
from tests.mutation import damage as dmg
from tests.test_properties import Case

CI_MUTANTS = 8  # per generated family × kind
CI_REAL_MUTANTS = 16  # per kind over the real reports (two per report, in turn)
PAIRS = pairs()
SEEDS = range(40)


@cache
def outcomes(family: str, kind: str) -> tuple[Outcome, ...]:
    n = CI_REAL_MUTANTS if family == REAL else CI_MUTANTS
    found = tuple(o for i in range(n) if (o := run_one(family, kind, i)) is not None)
    assert found, f"{family} × {kind}: no mutant could be made"
    return found


def _message(found: list[Outcome], every: tuple[Outcome, ...], what: str) -> str:
    medium = sum(bool(o.wrong_medium) for o in every)
    lines = [f"{len(found)} of {len(every)} mutants {what} ({medium} with a wrong value at medium)"]
    return "\n".join(lines + [line for o in found for line in o.lines()][:15])


# ------------------------------------------------------------------------------ the invariant


@pytest.mark.parametrize(("family", "kind"), PAIRS, ids=[f"{f}-{k}" for f, k in PAIRS])
def test_no_wrong_value_at_high(family: str, kind: str) -> None:
    every = outcomes(family, kind)
    found = [o for o in every if o.wrong_high]
    if found:
        pytest.fail(_message(found, every, "have a wrong value at high"), pytrace=False)


@pytest.mark.parametrize(("family", "kind"), PAIRS, ids=[f"{f}-{k}" for f, k in PAIRS])
def test_destroyed_cells_are_null_or_low(family: str, kind: str) -> None:
    every = outcomes(family, kind)
    found = [o for o in every if o.destroyed_not_low]
    if found:
        pytest.fail(_message(found, every, "read a destroyed cell as a value, not low"), pytrace=False)


@pytest.mark.parametrize(("family", "kind"), PAIRS, ids=[f"{f}-{k}" for f, k in PAIRS])
def test_damaged_report_is_still_read_whole(family: str, kind: str) -> None:
    every = outcomes(family, kind)
    found = [o for o in every if o.refused or o.crashed or o.missing]
    if found:
        pytest.fail(_message(found, every, "were refused, crashed or lost a path"), pytrace=False)


# ------------------------------------------------------------------------------ the check can fail


def _clean_mutant(family: str = "tabs") -> Mutant:
    case = Case(seed=7, template="2021", subrows=False, blanks=0)
    values = case.values()
    data, filename = render(values, case.template, family, seed=case.seed)
    return Mutant(family, "none", "clean", data, filename, values, frozenset(), "", "", "", case,
                  clean_failures(family, case))


def _read_high(m: Mutant) -> str:
    extraction = extract_bytes(m.data, m.filename)[1]
    return next(f.path for f in extraction.fields
                if f.level == "high" and isinstance(f.value, int) and f.path.startswith("applications."))


def test_check_reports_a_wrong_value_at_high() -> None:
    m = _clean_mutant()
    path = _read_high(m)
    value = m.truth[path]
    assert isinstance(value, int)
    lying = dataclasses.replace(m, truth={**m.truth, path: value + 1})
    assert [v.path for v in check(lying).wrong_high] == [path]
    assert not check(m).failed


def test_check_reports_a_destroyed_cell_read_as_a_value() -> None:
    m = _clean_mutant()
    path = _read_high(m)
    outcome = check(dataclasses.replace(m, destroyed=frozenset({path})))
    assert [v.path for v in outcome.destroyed_not_low] == [path] and not outcome.wrong_high


def test_check_counts_a_refusal() -> None:
    m = _clean_mutant()
    outcome = check(dataclasses.replace(m, data="一段与年报无关的文字。".encode()))
    assert outcome.refused and outcome.failed


# ------------------------------------------------------------------------------ damage of one number


def test_digit_swap_swaps_two_adjacent_different_digits() -> None:
    rng = random.Random(1)
    swapped = 0
    for _ in range(200):
        printed = str(rng.choice([rng.randint(10, 99999), -rng.randint(10, 999), round(rng.uniform(10, 999), 2)]))
        out = dmg.digit_swap(printed, rng)
        if out is None:
            continue
        swapped += 1
        diff = [i for i, (a, b) in enumerate(zip(printed, out, strict=True)) if a != b]
        assert len(diff) == 2 and diff[1] == diff[0] + 1, (printed, out)
        i = diff[0]
        assert out[i] == printed[i + 1] and out[i + 1] == printed[i] and (out[i] + out[i + 1]).isdigit()
        assert not out.lstrip("-").startswith("0"), (printed, out)
    assert swapped > 150


def test_digit_swap_needs_two_different_digits_and_makes_no_leading_zero() -> None:
    rng = random.Random(0)
    assert dmg.digit_swap("7", rng) is None
    assert dmg.digit_swap("11", rng) is None
    assert dmg.digit_swap("10", rng) is None
    assert dmg.digit_swap("-10", rng) is None
    assert dmg.digit_swap("12", rng) == "21"


def test_plus_one_adds_one_and_keeps_decimal_places() -> None:
    rng = random.Random(0)
    assert [dmg.plus_one(s, rng) for s in ("41", "-1", "12.50", "0")] == ["42", "0", "13.50", "1"]


def test_blank_cell_leaves_the_marker_only() -> None:
    rng = random.Random(0)
    assert dmg.blank_cell("128", rng, "-") == "-" and dmg.blank_cell("128", rng) == ""


@pytest.mark.parametrize("seed", SEEDS)
def test_ocr_letters_replace_one_digit_by_its_lookalike(seed: int) -> None:
    rng = random.Random(seed)
    printed = str(rng.randint(0, 99999))
    avoid = "|" if seed % 2 else ""
    out = dmg.ocr_letters(printed, rng, avoid)
    if out is None:
        assert not set(printed) & set(dmg.OCR_LOOKALIKES)
        return
    diff = [(a, b) for a, b in zip(printed, out, strict=True) if a != b]
    assert len(diff) == 1 and diff[0][1] in dmg.OCR_LOOKALIKES[diff[0][0]] and diff[0][1] not in avoid


def test_ocr_letters_cannot_damage_digits_without_lookalike() -> None:
    assert dmg.ocr_letters("3467", random.Random(0)) is None
    assert dmg.ocr_letters("1", random.Random(0), avoid="lI|") is None


def test_fullwidth_digits_are_the_same_number_to_nfkc() -> None:
    out = dmg.fullwidth_digits("-2418.5", random.Random(0))
    assert out == "-２４１８.５" and unicodedata.normalize("NFKC", out) == "-2418.5"


@pytest.mark.parametrize(("printed", "expected"), [
    ("2418", "2,418"), ("1234567", "1,234,567"), ("-1234.5", "-1,234.5"), ("10000.25", "10,000.25"),
    ("999", None), ("-999", None), ("12.5", None),
])
def test_thousands_separator_only_inside_numbers_of_four_digits(printed: str, expected: str | None) -> None:
    out = dmg.thousands_separator(printed, random.Random(0))
    assert out == expected
    assert out is None or out.replace(",", "") == printed


@pytest.mark.parametrize("seed", SEEDS)
def test_line_break_falls_between_two_digits(seed: int) -> None:
    rng = random.Random(seed)
    printed = str(rng.choice([rng.randint(0, 9999), round(rng.uniform(0, 99), 2)]))
    out = dmg.line_break_in_number(printed, rng, "<br/>")
    if out is None:
        assert not re.search(r"\d\d", printed)
        return
    i = out.index("<br/>")
    assert out.replace("<br/>", "", 1) == printed and out[i - 1].isdigit() and out[i + 5].isdigit()


@pytest.mark.parametrize("seed", SEEDS)
def test_glued_drop_digit_leaves_one_digit_out(seed: int) -> None:
    rng = random.Random(seed)
    printed = str(rng.randint(0, 99999))
    out = dmg.glued_drop_digit(printed, rng)
    assert out is not None and len(out) == len(printed) - 1
    assert any(printed[:i] + printed[i + 1:] == out for i in range(len(printed)))
    assert dmg.glued_drop_digit("-", rng) is None


# ------------------------------------------------------------------------------ damage of one row


def _table3(seed: int) -> Grid:
    values = generate_values(random.Random(seed), "2021", other_subrows=seed % 2 == 0)
    return table3_grid(values, "2021")


def _paths(grid: Grid) -> list[str]:
    return [c.path for row in grid.rows for c in row if c.path]


@pytest.mark.parametrize("seed", range(4))
def test_delete_row_removes_that_row_and_keeps_the_grid_whole(seed: int) -> None:
    grid = _table3(seed)
    for r in range(grid.header_rows, len(grid.rows)):
        gone = [c.path for c in grid.rows[r] if c.path]
        out = dmg.delete_row(grid, r)
        assert len(out.matrix()) == len(grid.rows) - 1  # no hole, no overflow
        assert _paths(out) == [p for p in _paths(grid) if p not in gone]
        kept = [row for i, row in enumerate(grid.rows) if i != r]
        assert [[c.text for c in row if c.role == "label"] for row in out.rows] == \
               [[c.text for c in row if c.role == "label"] for row in kept]
    assert len(grid.matrix()) == len(grid.rows)  # the input grid is untouched


@pytest.mark.parametrize("seed", range(4))
def test_duplicate_row_prints_that_row_twice_and_keeps_the_grid_whole(seed: int) -> None:
    grid = _table3(seed)
    for r in range(grid.header_rows, len(grid.rows)):
        twice = [c.path for c in grid.rows[r] if c.path]
        out = dmg.duplicate_row(grid, r)
        matrix = out.matrix()
        assert len(matrix) == len(grid.rows) + 1
        assert [s[0].path for s in matrix[r]] == [s[0].path for s in matrix[r + 1]]
        assert sorted(_paths(out)) == sorted(_paths(grid) + twice)


# ------------------------------------------------------------------------------ damage in the file


def _replaced_once(clean: str, damaged: str, before: str, after: str) -> bool:
    """`damaged` is `clean` with one printed `before` replaced by `after`, and nothing else."""
    p = next((i for i, (a, b) in enumerate(zip(clean, damaged, strict=False)) if a != b), len(clean))
    return any(clean[:k] + after + clean[k + len(before):] == damaged
               for k in range(p + 1) if clean.startswith(before, k))


CELL_TEXT_KINDS = ("digit_swap", "plus_one", "ocr_letters", "fullwidth_digits", "thousands_separator",
                   "line_break_in_number")


@pytest.mark.parametrize("family", TEXT_FAMILIES)
@pytest.mark.parametrize("kind", CELL_TEXT_KINDS)
def test_cell_damage_changes_that_cell_and_nothing_else(family: str, kind: str) -> None:
    for index in range(3):
        m = generated_mutant(family, kind, index)
        assert m is not None and m.case is not None
        clean = render(m.case.values(), m.case.template, family, seed=m.case.seed)[0].decode()
        assert m.before and m.after and m.before != m.after
        assert _replaced_once(clean, m.data.decode(), m.before, m.after), (m.damage(), m.name)


def test_glued_drop_digit_damages_a_glued_run() -> None:
    for index in range(5):
        m = generated_mutant("glued", "glued_drop_digit", index)
        assert m is not None and m.case is not None
        clean = render(m.case.values(), m.case.template, "glued", seed=m.case.seed)[0].decode()
        assert _replaced_once(clean, m.data.decode(), m.before, m.after), m.damage()
        assert m.destroyed >= {m.path}


@pytest.mark.parametrize("kind", CELL_TEXT_KINDS + ("blank_cell", "glued_drop_digit"))
def test_real_cell_damage_changes_that_cell_and_nothing_else(kind: str) -> None:
    texts = {r.name: r.text for r in real_reports()}
    for index in range(4):
        m = real_mutant(kind, index)
        assert m is not None
        clean = texts[m.filename.removesuffix(".txt")]
        assert _replaced_once(clean, m.data.decode(), m.before, m.after), m.damage()


@pytest.mark.parametrize("kind", dmg.ROW_KINDS)
def test_row_damage_removes_or_repeats_one_html_row(kind: str) -> None:
    for index in range(3):
        m = generated_mutant("html", kind, index)
        assert m is not None and m.case is not None
        clean = render(m.case.values(), m.case.template, "html", seed=m.case.seed)[0].decode()
        step = -1 if kind == "delete_row" else 1
        assert m.data.decode().count("<tr>") == clean.count("<tr>") + step
        assert (m.destroyed >= {m.path}) == (kind == "delete_row")


@pytest.mark.parametrize("kind", dmg.ROW_KINDS)
def test_real_row_damage_removes_or_repeats_whole_lines(kind: str) -> None:
    texts = {r.name: r.text for r in real_reports()}
    for index in range(4):
        m = real_mutant(kind, index)
        assert m is not None and m.before.endswith("\n")
        clean, damaged = texts[m.filename.removesuffix(".txt")], m.data.decode()
        if kind == "delete_row":
            assert _replaced_once(clean, damaged, m.before, "")
        else:
            assert _replaced_once(clean, damaged, m.before, m.before * 2)


@pytest.mark.parametrize("family", ("tabs", "lines", "html", "glued"))
@pytest.mark.parametrize("kind", dmg.PROSE_KINDS)
def test_prose_damage_only_adds_its_sentence(family: str, kind: str) -> None:
    for index in range(3):
        m = generated_mutant(family, kind, index)
        assert m is not None and m.case is not None
        clean = render(m.case.values(), m.case.template, family, seed=m.case.seed)[0].decode()
        damaged = m.data.decode()
        assert damaged.count(m.after) == 1 and damaged.replace(m.after, "", 1) == clean
        if kind == "contradicting_prose":
            stated = re.search(r"\d+", m.after)
            assert m.destroyed == {m.path} and stated and int(stated.group()) != m.truth[m.path]
