"""Locate and parse: a Document → one SectionReading per section. PLACEHOLDER until the parsers land."""

from __future__ import annotations

from service.document import Document
from service.readings import SectionReading


def read_document(doc: Document) -> list[SectionReading]:
    return []
