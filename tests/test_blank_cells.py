"""A printed blank where the rules need a number (an OCR `|` for 1 reads as a cell separator, a
digit lost in conversion) is `low`; a blank the rules accept as 0 stays `medium` (missing_cell)."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from service.pipeline import extract_bytes
from service.templates import equations
from tests.mutation import _set_cell, render_edited
from tests.test_properties import Case

FAMILIES = ("tabs", "lines", "markdown", "html")


def _rule_cells(values: Mapping[str, object]) -> list[str]:
    """Printed cells of tables 3 and 4 that some rule adds up (not a derived (六) total)."""
    cells = {p for eq in equations() for p in (*eq.lhs, *eq.rhs)
             if p.startswith(("applications.", "reviews_and_litigation.")) and not p.startswith("applications.other_total")}
    return sorted(p for p in cells if isinstance(values.get(p), int))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("seed", range(6))
def test_blank_where_a_rule_needs_a_number_is_low(family: str, seed: int) -> None:
    rng = random.Random(f"blank:{family}:{seed}")
    nonzero: list[str] = []
    while not nonzero:  # a small body may have had no application at all: draw another report
        case = Case(rng.randrange(2**32), rng.choice(("2021", "2019")), False, 0)
        values = case.values()
        cells = _rule_cells(values)
        nonzero = [p for p in cells if values[p] != 0]
        zero = [p for p in cells if values[p] == 0]
    lost, kept = rng.choice(nonzero), rng.choice(zero)
    for path, needed in ((lost, True), (kept, False)):
        data, filename = render_edited(values, case, family, _set_cell(path, ""))
        _, ex = extract_bytes(data, filename, mode="deterministic")
        field = ex.field(path)
        assert field is not None and field.value is None, (path, field)
        if needed:
            assert field.level == "low" and "blank_where_rule_needs_value" in field.flags, field
        else:
            assert field.level == "medium" and "blank_where_rule_needs_value" not in field.flags, field


@pytest.mark.parametrize("seed", range(6))
def test_blank_in_a_markdown_row_with_a_cell_too_many_is_low(seed: int) -> None:
    """Table 2 has no rule to notice a lost number, but a markdown row with more cells than its
    table's `|---|` line shows one `|` too many (`| 1 |` OCR'd as `| | |`): what is read from the
    cell is `low` (a blank, or a neighbour's value where the row has several columns). A blank in
    a row of the right width is not taken for one (its level is the blank's own)."""
    rng = random.Random(f"overfull:{seed}")
    case = Case(rng.randrange(2**32), "2021", False, 0)
    values = case.values()
    # The one-column rows of the 2021 table 2 (本年处理决定数量): with several columns the reader
    # already doubts which cell a blank is (low), whether or not a `|` is too many.
    cells = sorted(p for p, v in values.items() if p.startswith("active_disclosure.")
                   and p.endswith(".decisions") and isinstance(v, int) and not isinstance(v, bool))
    path = rng.choice(cells)
    for printed, low in (("|", True), ("", False)):
        data, filename = render_edited(values, case, "markdown", _set_cell(path, printed))
        _, ex = extract_bytes(data, filename, mode="deterministic")
        field = ex.field(path)
        assert field is not None, path
        if low:
            assert field.level == "low", (path, field)
        else:
            assert field.value is None and "pipe_or_one" not in field.flags, field
