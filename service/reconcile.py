"""Reconcile: readings and findings → one value per field with confidence. PLACEHOLDER."""

from __future__ import annotations

from service.contract import FieldResult, Finding
from service.document import Document
from service.readings import SectionReading
from service.templates import paths_for


def reconcile(doc: Document, sections: list[SectionReading]) -> tuple[list[FieldResult], list[Finding]]:
    fields = [FieldResult(path=p, value=None, confidence=0.0, level="low") for p in paths_for("2021")]
    return fields, []
