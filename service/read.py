"""Locate and parse: a Document → one SectionReading per section, plus the template decision."""

from __future__ import annotations

from service.document import Document
from service.locate import Regions, locate
from service.parse.tables import read_table2, read_table3, read_table4
from service.readings import Reading, SectionReading


def read_document(doc: Document) -> list[SectionReading]:
    regions = locate(doc)
    tables: list[SectionReading] = []
    cells = grid_cells(doc)
    t3 = read_table3(doc.text, regions.table3, cells) if regions.table3 else None
    t4 = read_table4(doc.text, regions.table4, cells) if regions.table4 else None
    prose = _read_prose(doc, [r for r in (regions.table2, regions.table3, regions.table4) if r])
    template, template_reading = _template(regions, t3, prose)
    t2 = read_table2(doc.text, regions.table2, template, cells) if regions.table2 else None
    for name, sec in (("active_disclosure", t2), ("applications", t3), ("reviews_and_litigation", t4)):
        tables.append(sec if sec is not None else SectionReading(section=name, found=False))
    meta = SectionReading(section="meta", found=True, readings={"meta.template": template_reading},
                          facts={"template": template, "template_votes": regions.template_votes,
                                 "table2_span": regions.table2})
    return [meta, *tables, prose]


GRID_ORIGINS = ("html", "docx", "pdf")


def grid_cells(doc: Document) -> frozenset[int]:
    """Where each cell of a grid read from markup starts in the text: there a cell is a cell."""
    return frozenset(
        cell.span[0]
        for table in doc.tables if table.origin in GRID_ORIGINS
        for row in table.rows for cell in row
        if cell.span is not None and cell.span[1] > cell.span[0]
    )


def _read_prose(doc: Document, table_spans: list[tuple[int, int]]) -> SectionReading:
    try:
        from service.parse.prose import read_prose
    except ImportError:  # pragma: no cover - the prose reader is part of the package
        return SectionReading(section="narrative", found=False)
    return read_prose(doc.text, table_spans)


def _template(regions: Regions, t3: SectionReading | None, prose: SectionReading) -> tuple[str, Reading]:
    """meta.template is decided by table 2's column headers; other evidence only breaks ties."""
    votes = regions.template_votes
    span = regions.template_span
    if len(votes) == 1:
        tpl = next(iter(votes))
        return tpl, Reading(path="meta.template", value=tpl, span=span)
    doubts = ["template_headers_conflict" if votes else "template_headers_not_found"]
    if votes:
        tpl = max(votes, key=lambda k: votes[k])
    elif t3 is not None and t3.facts.get("subrows_printed"):
        tpl = "2021"
    else:
        year = prose.readings.get("meta.report_year")
        tpl = "2021" if year is None or year.value is None or int(year.value) >= 2021 else "2019"
    return tpl, Reading(path="meta.template", value=tpl if votes else None, span=span, doubts=doubts)
