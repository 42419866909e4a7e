"""The model reader: the only code that talks to a language model.

The names below are loaded on first use (PEP 562): importing `service.model.run` for the
ModelRun record must not import openai and instructor (most of a CLI run's start-up) when no
model is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.model.reader import doubtful_sections, read_with_model
    from service.model.run import ModelRun

__all__ = ["ModelRun", "doubtful_sections", "read_with_model"]


def __getattr__(name: str) -> Any:
    if name in ("doubtful_sections", "read_with_model"):
        from service.model import reader

        return getattr(reader, name)
    if name == "ModelRun":
        from service.model.run import ModelRun

        return ModelRun
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
