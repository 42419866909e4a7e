"""Plain text and markdown → normalized text; their line layout is kept for the readers."""

from __future__ import annotations

import re

from service.document import Table
from service.ingest.normalize import normalize_text

_EMBEDDED_TABLE = re.compile(r"<table\b[^>]*>.*?</table\s*>", re.IGNORECASE | re.DOTALL)


def read_text(text: str, max_chars: int | None = None) -> tuple[str, list[Table]]:
    """(normalized text, tables). Lines, TABs and blank lines stay as they are: in converted
    reports they are the table layout. HTML tables embedded in the text (as PDF-to-markdown
    tools emit them) are rendered like tables of an HTML page. `max_chars` bounds their rendering;
    the caller checks the length of the result."""
    if _EMBEDDED_TABLE.search(text):
        from service.ingest.html import read_text_with_html_tables  # lazy: lxml only when needed

        return read_text_with_html_tables(text, max_chars)
    return normalize_text(text), []
