"""Load a versioned prompt from `prompts/` and fill it from the schemas, never by hand."""

from __future__ import annotations

import string
from pathlib import Path

from pydantic import BaseModel

from service.model.schema import prose_fields, prose_name, table_spec
from service.templates import catalog, table2

PROMPTS_DIR = Path(__file__).resolve().parent.parent.parent / "prompts"
CURRENT_VERSION = "v1"
FENCE_OPEN = "<<<REPORT_DATA"
FENCE_CLOSE = "REPORT_DATA>>>"


class Prompt(BaseModel):
    version: str
    system: str
    user: str


def versions() -> list[str]:
    return sorted(p.name for p in PROMPTS_DIR.iterdir() if p.is_dir() and (p / "system.md").exists())


def _folder(version: str) -> Path:
    folder = PROMPTS_DIR / version
    if not (folder / "system.md").exists():
        raise FileNotFoundError(f"no prompt version {version!r} in {PROMPTS_DIR}")
    return folder


def _fill(folder: Path, name: str, values: dict[str, str]) -> str:
    """`{name}` placeholders of a prompt file; the values (report text included) are never parsed."""
    return string.Template((folder / name).read_text("utf-8").replace("{", "${")).substitute(values)


def fenced(text: str) -> str:
    """Report text with the fence markers removed, so that it cannot close its own fence."""
    return text.replace(FENCE_OPEN, "").replace(FENCE_CLOSE, "").replace("<<<", "‹‹‹").replace(">>>", "›››")


def render_prompt(text: str, template: str, version: str = CURRENT_VERSION) -> Prompt:
    """The naive whole-report prompt (every field, the whole text): the baseline, not the reader."""
    folder = _folder(version)
    fields = [f for f in catalog() if template in f.templates]
    columns = sorted({c.label for g in table2(template) for c in g.columns})
    values = {
        "template": template,
        "table2_columns": "、".join(columns),
        "field_count": str(len(fields)),
        "field_list": "\n".join(f"- {f.path} — {f.label_zh} ({f.type})" for f in fields),
        "text": text,
    }
    return Prompt(version=version, system=(folder / "system.md").read_text("utf-8"),
                  user=_fill(folder, "extract.md", values))


def render_table(kind: str, template: str, text: str, version: str = CURRENT_VERSION) -> Prompt:
    """One table's call: its template rows and columns, then only its region of the text."""
    folder = _folder(version)
    spec = table_spec(kind, template)
    rows = "\n".join(
        f"- {r.key} = {r.label} ({' / '.join(c[1] for c in r.columns)})" for r in spec.rows
    )
    values = {"kind": kind, "title": spec.title, "template": template, "rows": rows, "text": fenced(text)}
    return Prompt(version=version, system=(folder / "system.md").read_text("utf-8"),
                  user=_fill(folder, "table.md", values))


def render_prose(passages: list[str], version: str = CURRENT_VERSION) -> Prompt:
    """The prose call: every prose field with its meaning, then only the passages that state them."""
    folder = _folder(version)
    fields = "\n".join(f"- {prose_name(p)} — {meaning} ({typ})" for p, meaning, typ in prose_fields())
    values = {"fields": fields, "text": "\n…\n".join(fenced(p) for p in passages)}
    return Prompt(version=version, system=(folder / "system.md").read_text("utf-8"),
                  user=_fill(folder, "prose.md", values))
