"""The model reader: the only code that talks to a language model."""

from service.model.reader import doubtful_sections, read_with_model
from service.model.run import ModelRun

__all__ = ["ModelRun", "doubtful_sections", "read_with_model"]
