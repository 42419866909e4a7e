"""The ingest stage's output: one normalized text that every span points into, plus tables."""

# No `from __future__ import annotations`: pydantic would eval each field's annotation string
# when it builds the models, at every start-up (~1 ms of a `nianbao extract`).

from typing import Any

from pydantic import BaseModel, Field

Span = tuple[int, int]


def new_list() -> list[Any]:
    """The default factory of our models' list fields. pydantic reads each factory's signature
    when it builds a model; a builtin's (`list`, `dict`) it gets by running the tokenizer over
    the text signature: ~1.3 ms for the first and ~0.1 ms for each after, at every start-up."""
    return []


def new_dict() -> dict[str, Any]:
    """The default factory of our models' dict fields (see new_list)."""
    return {}


class Cell(BaseModel):
    """One table cell: its normalized text and where it stands in `Document.text`."""

    text: str
    span: Span | None = None


class CellBox(BaseModel):
    """Where a PDF grid cell stood: 1-based page, (x0, top, x1, bottom) in PDF points from the
    page's top-left corner, and the page's size, so a page image of any scale can draw it.
    `span` is the cell's span in `Document.text`: fields find their box by it."""

    span: Span
    page: int
    bbox: tuple[float, float, float, float]
    page_width: float
    page_height: float


class Table(BaseModel):
    """A grid of cells after rowspan/colspan expansion: a merged cell repeats the same Cell.

    `origin` says which layout the grid came from ("html", "docx", "pdf", "text-tabs",
    "text-lines", "markdown", "glued"); readers trust a grid from markup more than one guessed
    from plain text.
    """

    rows: list[list[Cell]]
    origin: str
    span: Span | None = None


class Document(BaseModel):
    """A report after ingest. `text` is normalized (NFKC, LF, no NBSP); spans index into it."""

    filename: str | None = None
    media_type: str
    sha256: str
    encoding: str | None = None
    text: str
    tables: list[Table] = Field(default_factory=new_list)
    pages: int | None = None
    boxes: list[CellBox] = Field(default_factory=new_list)

    @property
    def id(self) -> str:
        """Documents are identified by content: the same bytes are the same document."""
        return "doc_" + self.sha256[:16]
