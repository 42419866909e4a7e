"""Load a versioned prompt from `prompts/` and fill it from the schemas, never by hand."""

from __future__ import annotations

import string
from pathlib import Path

from pydantic import BaseModel

from service.templates import catalog, table2

PROMPTS_DIR = Path(__file__).resolve().parent.parent.parent / "prompts"
CURRENT_VERSION = "v1"


class Prompt(BaseModel):
    version: str
    system: str
    user: str


def versions() -> list[str]:
    return sorted(p.name for p in PROMPTS_DIR.iterdir() if p.is_dir() and (p / "system.md").exists())


def render_prompt(text: str, template: str, version: str = CURRENT_VERSION) -> Prompt:
    """The system and user messages for one report on one template."""
    folder = PROMPTS_DIR / version
    if not (folder / "system.md").exists():
        raise FileNotFoundError(f"no prompt version {version!r} in {PROMPTS_DIR}")
    fields = [f for f in catalog() if template in f.templates]
    columns = sorted({c.label for g in table2(template) for c in g.columns})
    values = {
        "template": template,
        "table2_columns": "、".join(columns),
        "field_count": str(len(fields)),
        "field_list": "\n".join(f"- {f.path} — {f.label_zh} ({f.type})" for f in fields),
        "text": text,
    }
    user = string.Template((folder / "extract.md").read_text("utf-8").replace("{", "${")).substitute(values)
    return Prompt(version=version, system=(folder / "system.md").read_text("utf-8"), user=user)
