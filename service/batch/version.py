"""The reader version recorded with every batch extraction: bytes already read by the same
version are skipped, so a batch resumes without doing anything twice, and a reader change
(bump READERS_REVISION) makes every file worth reading again."""

from __future__ import annotations

from typing import Any

from service import __version__

# Bump when a reader (ingest, locate, parse, checks, reconcile) changes what it reads from the
# same bytes; the package version alone changes only at releases.
READERS_REVISION = 1


def reader_version(resolved_mode: str, settings: Any, llm_scope: str | None = None) -> str:
    """`nianbao 0.1.0 r1 deterministic`, or with the model: its name, prompt version and scope
    (a model reading is another reader)."""
    base = f"nianbao {__version__} r{READERS_REVISION}"
    if resolved_mode != "llm":
        return f"{base} deterministic"
    scope = llm_scope or getattr(settings, "llm_scope", None) or "doubtful"
    prompt = getattr(settings, "llm_prompt_version", None) or "v1"
    return f"{base} llm {getattr(settings, 'llm_model', None)} prompt {prompt} scope {scope}"[:255]
