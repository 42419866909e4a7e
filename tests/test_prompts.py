"""Prompts are versioned files filled from the schemas: every catalog path, no loose placeholder."""

from __future__ import annotations

import re

import pytest

from service.model.prompts import CURRENT_VERSION, render_prompt, versions
from service.templates import paths_for


@pytest.mark.parametrize("template", ["2019", "2021"])
def test_prompt_lists_exactly_the_templates_fields(template: str) -> None:
    prompt = render_prompt("报告正文{x}", template)
    listed = re.findall(r"^- (\S+) — ", prompt.user, flags=re.M)
    assert listed == paths_for(template)
    assert "报告正文{x}" in prompt.user  # the report text is not treated as a template
    assert "${" not in prompt.user and "{template}" not in prompt.user


def test_current_version_exists_and_unknown_is_refused() -> None:
    assert CURRENT_VERSION in versions()
    with pytest.raises(FileNotFoundError):
        render_prompt("x", "2021", version="v999")
