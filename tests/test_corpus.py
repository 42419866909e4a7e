"""The synthetic corpus itself: values obey the rules they claim, renderings carry those values.

A property test of the reader is only as good as its renderer, so each family is read back here
by a trivial test-local reader (or checked for the damage the family is known for).
"""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path

import pytest

from service.templates import (
    compact,
    paths_for,
    strip_numbering,
    table2,
    table3_columns,
    table3_rows,
    table4_columns,
    table4_groups,
)
from tests.corpus.render import FAMILIES, TEXT_FAMILIES, format_value, render
from tests.corpus.values import (
    LABELLED_LATER,
    Values,
    break_one_rule,
    failing_equations,
    generate_values,
    load_gold,
    numeric_paths,
    other_subrows_printed,
    printed_cells,
)

REPO = Path(__file__).resolve().parent.parent
GOLD_FILES = sorted((REPO / "evals" / "gold").glob("**/*.json"))
CASES = [("2021", True), ("2021", False), ("2019", False)]


def _values(seed: int, template: str, subrows: bool, blanks: int = 0) -> Values:
    return generate_values(random.Random(seed), template, other_subrows=subrows, blanks=blanks)


# ---------------------------------------------------------------------------------- values


@pytest.mark.parametrize(("template", "subrows"), CASES)
def test_generated_values_cover_the_template_and_obey_every_rule(template: str, subrows: bool) -> None:
    for seed in range(40):
        values = _values(seed, template, subrows, blanks=seed % 3)
        assert list(values) == paths_for(template)
        assert failing_equations(values) == [], seed
        assert other_subrows_printed(values) is subrows
        printed = printed_cells(values)
        assert sum(values[p] is None for p in printed) == seed % 3
        hidden = [p for p in numeric_paths(template) if p not in printed]
        assert all(values[p] is None for p in hidden) if not subrows else hidden


def test_generated_values_are_skewed_like_real_reports() -> None:
    samples = [_values(seed, "2021", seed % 2 == 0) for seed in range(200)]
    cells = [v for s in samples for p, v in s.items() if p.startswith("applications.")
             and not p.endswith(".total") and isinstance(v, int)]
    assert sum(v == 0 for v in cells) > 0.6 * len(cells)  # mostly zeros
    assert max(cells) >= 50  # a few large counts
    natural = sum(int(s["applications.total.natural_person"] or 0) for s in samples)
    others = [sum(int(s[f"applications.total.{c.key}"] or 0) for s in samples)
              for c in table3_columns()[1:-1]]
    assert natural > max(others)
    fees = [s["active_disclosure.administrative_fees.amount_wan_yuan"] for s in samples]
    assert any(isinstance(f, float) and f != int(f) for f in fees)


def test_template_2019_has_negative_changes() -> None:
    changes = [v for seed in range(100) for p, v in _values(seed, "2019", False).items()
               if p.endswith(".change")]
    assert any(isinstance(v, int) and v < 0 for v in changes)


@pytest.mark.parametrize(("template", "subrows"), CASES)
def test_break_one_rule_breaks_exactly_one_rule(template: str, subrows: bool) -> None:
    rules = set()
    for seed in range(80):
        values = _values(seed, template, subrows, blanks=seed % 2)
        broken, info = break_one_rule(values, random.Random(seed))
        failing = failing_equations(broken)
        assert failing and {eq.rule for eq in failing} == {info.rule}
        assert {eq.path for eq in failing} == {eq.path for eq in info.equations}
        assert [p for p in paths_for(template) if broken[p] != values[p]] != []
        rules.add(info.rule)
    expected = {"applications.row_total", "applications.column_total", "applications.balance",
                "reviews_and_litigation.group_total"}
    assert rules == expected


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.stem)
def test_load_gold_gives_every_template_path(path: Path) -> None:
    gold = json.loads(path.read_text("utf-8"))["fields"]
    values = load_gold(path)
    assert list(values) == [p for p in paths_for(str(gold["meta.template"]))
                            if p in gold or p not in LABELLED_LATER]
    assert all(values[p] == gold.get(p) for p in values)


# ----------------------------------------------------------------------- a trivial reader

_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def _norm(text: str) -> str:
    return strip_numbering(compact(text))


def _row_forms(template: str) -> dict[str, tuple[str, list[str]]]:
    """Normalized row label → (path prefix, its value columns), for tables 2 and 3."""
    forms: dict[str, tuple[str, list[str]]] = {}
    for group in table2(template):
        for row in group.rows:
            for form in [row.label, *row.variants]:
                forms[_norm(form)] = (f"active_disclosure.{row.key}", [c.key for c in group.columns])
    for row in table3_rows():
        if template in row.templates:
            forms[_norm(row.label)] = (f"applications.{row.key}", [c.key for c in table3_columns()])
    return forms


def _match_label(label: str, forms: dict[str, tuple[str, list[str]]]) -> tuple[str, list[str]] | None:
    key = _norm(label)
    if key in forms:
        return forms[key]
    starts = [f for f in forms if len(key) >= 6 and f.startswith(key)]
    return forms[starts[0]] if len(starts) == 1 else None


def read_grid_rows(rows: list[list[str]], template: str) -> Values:
    """Rows of cell strings → values: a row label, then its numbers; table 4 is 15 numbers."""
    forms = _row_forms(template)
    out: Values = {}
    for cells in rows:
        cells = [c.strip() for c in cells]
        numeric = [i for i, c in enumerate(cells) if _NUMBER.match(c)]
        if not numeric:
            continue
        if len([c for c in cells if c]) == 15 and len(numeric) == 15:
            keys = [f"reviews_and_litigation.{g.key}.{c.key}" for g in table4_groups() for c in table4_columns()]
            out.update(zip(keys, (cells[i] for i in numeric), strict=True))
            continue
        labels = [i for i, c in enumerate(cells[: numeric[0]]) if c]
        if not labels:
            continue
        found = _match_label(cells[labels[-1]], forms)
        if found is None:
            continue
        prefix, columns = found
        printed = [c for c in cells[labels[-1] + 1:] if c]
        out.update({f"{prefix}.{col}": text for col, text in zip(columns, printed, strict=False)})
    return out


def _assert_reads_back(read: Values, values: Values, template: str) -> None:
    expected = {p: format_value(values[p]) for p in printed_cells(values) if values[p] is not None}
    assert {p: read.get(p) for p in expected} == expected


def _lines_rows(text: str) -> list[list[str]]:
    rows: list[list[str]] = []
    for block in re.split(r"\n\s*\n", text):
        cells: list[str] = []
        for line in block.split("\n"):
            if line.startswith("\t"):
                cells.append(line[1:])
            elif cells:
                cells[-1] += line
        if cells:
            rows.append(cells)
    return rows


def _html_rows(data: bytes) -> list[list[str]]:
    import lxml.html

    rows: list[list[str]] = []
    for table in lxml.html.fromstring(data).iter("table"):
        pending: dict[tuple[int, int], str] = {}
        for r, tr in enumerate(table.iter("tr")):
            row: list[str] = []
            c = 0
            for td in tr.iter("td"):
                while (r, c) in pending:
                    row.append(pending.pop((r, c)))
                    c += 1
                text = "".join(str(t) for t in td.itertext()).replace("\xa0", "")
                rs, cs = int(td.get("rowspan", 1)), int(td.get("colspan", 1))
                for dr in range(rs):
                    for dc in range(cs):
                        if dr:
                            pending[(r + dr, c + dc)] = text
                row += [text] * cs
                c += cs
            while (r, c) in pending:
                row.append(pending.pop((r, c)))
                c += 1
            rows.append(row)
    return rows


def _docx_rows(data: bytes) -> list[list[str]]:
    import docx

    document = docx.Document(io.BytesIO(data))
    return [[cell.text for cell in row.cells] for table in document.tables for row in table.rows]


def _pdf_rows(data: bytes) -> list[list[str]]:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [[c or "" for c in row] for page in pdf.pages for table in page.extract_tables()
                for row in table]


_READERS = {
    "tabs": lambda data: [line.split("\t") for line in data.decode().split("\n")],
    "lines": lambda data: _lines_rows(data.decode()),
    "html": _html_rows,
    "docx": _docx_rows,
    "pdf": _pdf_rows,
}


@pytest.mark.parametrize("family", sorted(_READERS))
@pytest.mark.parametrize(("template", "subrows"), CASES)
def test_grid_families_read_back_by_a_trivial_reader(family: str, template: str, subrows: bool) -> None:
    for seed in range(4 if family in ("docx", "pdf") else 12):
        values = _values(seed + 100, template, subrows)
        data, _ = render(values, template, family, seed=seed)
        _assert_reads_back(read_grid_rows(_READERS[family](data), template), values, template)


def _plain_text(family: str, data: bytes) -> str:
    if family == "html":
        import lxml.html

        return "".join(str(t) for t in lxml.html.fromstring(data).itertext())
    if family == "docx":
        import docx

        document = docx.Document(io.BytesIO(data))
        cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
        return "\n".join([p.text for p in document.paragraphs] + cells)
    if family == "pdf":
        import pdfplumber

        with pdfplumber.open(io.BytesIO(data)) as pdf:
            return "\n".join(page.extract_text() or "" for page in pdf.pages)
    return data.decode("utf-8")


def _printed_row_labels(values: Values, template: str) -> list[list[str]]:
    """Each printed row label with its accepted forms (table 2 prints a label or a variant)."""
    labels = [[row.label, *row.variants] for g in table2(template) for row in g.rows]
    subrows = other_subrows_printed(values)
    for row in table3_rows():
        if template not in row.templates or (row.subrow_of and not subrows):
            continue
        if subrows and any(r.subrow_of == row.key for r in table3_rows()):
            continue  # printed as the sub-rows' group cell, wrapped in narrow layouts
        labels.append([row.label])
    labels += [[g.label] for g in table4_groups()]
    return labels


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("template", "subrows"), CASES)
def test_every_family_prints_every_row_label(family: str, template: str, subrows: bool) -> None:
    for seed in range(2 if family in ("docx", "pdf") else 6):
        values = _values(seed, template, subrows, blanks=1)
        data, filename = render(values, template, family, seed=seed)
        text = compact(_plain_text(family, data))
        issuer = str(values["meta.issuer"])
        assert issuer.removesuffix("人民政府") in text
        assert str(values["meta.report_year"]) in text
        for forms in _printed_row_labels(values, template):
            assert any(_norm(f) in text or _norm(f)[:6] in text for f in forms), (family, seed, forms)
        assert filename.endswith({"html": ".html", "docx": ".docx", "pdf": ".pdf"}.get(family, ".txt"))


@pytest.mark.parametrize("family", FAMILIES)
def test_rendering_is_deterministic_per_seed(family: str) -> None:
    values = _values(1, "2021", True, blanks=1)
    assert render(values, "2021", family, seed=3) == render(values, "2021", family, seed=3)
    if family in TEXT_FAMILIES:
        assert render(values, "2021", family, seed=3)[0] != render(values, "2021", family, seed=4)[0]


# ------------------------------------------------------------------ family-specific damage


def _distinct(template: str, subrows: bool) -> Values:
    """Values where every table-3 cell is a different number (rules ignored), to trace order."""
    values = _values(9, template, subrows)
    for k, path in enumerate(p for p in paths_for(template) if p.startswith("applications.")):
        if values[path] is not None:
            values[path] = 1000 + k
    return values


def test_pdf_text_lists_labels_then_values_column_by_column_across_a_page_break() -> None:
    values = _distinct("2021", True)
    for seed in range(5):
        lines = [x for x in render(values, "2021", "pdf_text", seed=seed)[0].decode().split("\n") if x]
        start = next(i for i, x in enumerate(lines) if "予以公开" in x)
        numbers = [i for i, x in enumerate(lines) if x == str(values["applications.new_received.natural_person"])]
        assert numbers and numbers[0] > start  # labels first
        first = numbers[0]
        assert lines[first + 1] == str(values["applications.carried_over.natural_person"])  # column-major
        footer = next(i for i in range(first, len(lines)) if re.fullmatch(r"- \d+ -", lines[i]))
        after = lines[footer + 1: footer + 12]
        assert any(not _NUMBER.match(x) for x in after)  # labels resume after the break
        assert str(values["applications.carried_forward.total"]) in lines[footer:]


def test_glued_concatenates_cells_and_a_blank_vanishes() -> None:
    values = _values(3, "2021", False)
    row = "applications.new_received"
    values.update({f"{row}.{c.key}": v for c, v in zip(table3_columns(), [64, 0, 0, 2, 0, 4, 70], strict=True)})
    text = render(values, "2021", "glued", seed=1)[0].decode()
    assert "申请数量640020470" in text.replace(" ", "")
    values[f"{row}.research_institution"] = None
    text = render(values, "2021", "glued", seed=1)[0].decode()
    label = next(r.label for r in table3_rows() if r.key == "new_received")
    digits = re.match(r"[\d ]*", text[text.index(label) + len(label):])
    assert digits and digits.group().replace(" ", "") == "64020470"


def test_markdown_cuts_labels_from_value_rows_and_splits_headers() -> None:
    values = _values(4, "2021", True)
    cut = split = 0
    for seed in range(6):
        lines = render(values, "2021", "markdown", seed=seed)[0].decode().split("\n")
        pipe_rows = [[c.strip() for c in x.strip("|").split("|")] for x in lines if x.startswith("| ")]
        cut += sum(1 for r in pipe_rows if len(r) == 7 and all(_NUMBER.match(c) for c in r))
        split += any(x.startswith("| ") and "数据1" in x for x in lines) or any(
            compact(c.label)[2:] in lines[i] for i in range(len(lines)) for c in table3_columns()[1:5]
            if lines[i].startswith("| ") and compact(c.label) not in lines[i])
    assert cut > 0 and split > 0


def test_html_uses_rowspan_colspan_and_nbsp_for_blanks() -> None:
    values = _values(5, "2021", True, blanks=3)
    texts = [render(values, "2021", "html", seed=s)[0].decode() for s in range(6)]
    assert all('rowspan="' in t and 'colspan="' in t for t in texts)
    assert any("&nbsp;" in t for t in texts)
    assert any("\n" not in t.strip() for t in texts)  # sometimes the whole page on one line


def test_tabs_break_header_words_and_wrap_labels() -> None:
    values = _values(6, "2021", True)
    texts = [render(values, "2021", "tabs", seed=s)[0].decode() for s in range(6)]
    natural = table3_columns()[0].label
    assert any(f"{natural[:1]} {natural[1:]}" in t or " ".join(natural) in t for t in texts)
    assert any(re.search(r"^\t+[^\t\d]+\t*$", t, re.M) for t in texts)  # a wrapped label's rest


def test_docx_has_merged_cells_and_pdf_has_a_ruled_text_layer() -> None:
    import docx
    import pdfplumber

    values = _values(7, "2021", True)
    document = docx.Document(io.BytesIO(render(values, "2021", "docx", seed=1)[0]))
    assert len(document.tables) == 3
    header = document.tables[1].rows[0].cells
    assert header[0]._tc is header[1]._tc  # the balance note spans columns
    with pdfplumber.open(io.BytesIO(render(values, "2021", "pdf", seed=1)[0])) as pdf:
        assert len(pdf.pages) >= 2
        assert all(page.lines or page.rects for page in pdf.pages[1:2])
        text = "".join(page.extract_text() or "" for page in pdf.pages)
    assert str(values["meta.issuer"]) in compact(text)


def test_blank_cells_render_as_the_family_blank() -> None:
    values = _values(8, "2021", False)
    path = "applications.granted.commercial_enterprise"
    values[path] = None
    data = render(values, "2021", "tabs", seed=2)[0].decode()
    granted = next(line for line in data.split("\n") if "予以公开" in line)
    cells = [c for c in granted.split("\t") if c.strip() and not c.strip().startswith(("(", "（", "三"))]
    assert len(cells) in (6, 7) and all(_NUMBER.match(c) or c in ("-", "/") for c in cells)
