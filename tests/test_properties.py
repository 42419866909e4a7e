"""Property tests of the whole reader on synthetic reports of every layout family.

THE invariant: for every field of the report's template, the extracted value equals the printed
value, or the field is flagged `low`. A wrong value at `high` is a failure, and so is a wrong value
at `medium` (counted separately in the message, to see how often it happens). A report whose
printed figures break a rule must also come back with a `sum_mismatch` finding about that rule.

The same invariant runs over the real dev reports and seeds against their gold files.

Reproducible: hypothesis is derandomized with no example database, and shrinking is off (each
example is a whole report through the whole pipeline; a failure names its family and seed).
Set NIANBAO_CORPUS_DUMP=/some/dir to have every failing report written there. For per-family
counts instead of a first failure: `python -m tests.test_properties [--n 20] [--broken 6]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from service.contract import Extraction
from service.errors import NianbaoError
from service.evaluate import values_equal
from service.pipeline import extract_bytes
from tests.corpus.render import FAMILIES, FAMILY_TEMPLATES, LOST_FAMILIES, render
from tests.corpus.values import (
    BrokenRule,
    Value,
    Values,
    break_one_rule,
    generate_values,
    load_gold,
)

REPO = Path(__file__).resolve().parent.parent
DOCS_DIR = REPO / "evals" / "docs"
GOLD_DIR = REPO / "evals" / "gold"

VALID_EXAMPLES = 30  # per family
BROKEN_EXAMPLES = 8  # per family

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=False,
)


@dataclass(frozen=True)
class Case:
    """What one synthetic report is drawn from."""

    seed: int
    template: str
    subrows: bool
    blanks: int

    def values(self) -> Values:
        return generate_values(random.Random(self.seed), self.template, other_subrows=self.subrows,
                               blanks=self.blanks)

    def broken(self) -> tuple[Values, BrokenRule]:
        return break_one_rule(self.values(), random.Random(self.seed + 1))


def for_family(family: str, case: Case) -> Case:
    """The case on a template the family shows (glued2019 renders the 2019 table 2)."""
    templates = FAMILY_TEMPLATES.get(family)
    if templates and case.template not in templates:
        return replace(case, template=templates[case.seed % len(templates)])
    return case


CASES = st.builds(
    Case,
    seed=st.integers(0, 2**32 - 1),
    template=st.sampled_from(("2021", "2019")),
    subrows=st.booleans(),
    blanks=st.sampled_from((0, 0, 0, 1, 2)),
)


# ------------------------------------------------------------------------------ the invariant


def same_value(path: str, expected: Value, got: object) -> bool:
    """The contract's comparison, the one the eval harness uses."""
    return values_equal(path, got, expected)


@dataclass(frozen=True)
class Violation:
    path: str
    expected: Value
    got: object
    level: str  # "high", "medium" or "missing" (the path is absent from the output)


def violations(expected: Values, extraction: Extraction) -> list[Violation]:
    """Every field that is neither right nor flagged low."""
    fields = {f.path: f for f in extraction.fields}
    out = []
    for path, value in expected.items():
        result = fields.get(path)
        if result is None:
            out.append(Violation(path, value, None, "missing"))
        elif not same_value(path, value, result.value) and result.level != "low":
            out.append(Violation(path, value, result.value, result.level))
    return out


def reports_mismatch(extraction: Extraction, broken: BrokenRule, *, exact: bool = True) -> bool:
    """A `sum_mismatch` at a broken equation's path (or under it), or at one of its cells.

    With `exact=False` any `sum_mismatch` in the broken rule's table counts: when a blank cell
    vanished from the layout, the reader cannot always tell which column the mismatch is in; and
    a rule over a cell the reader says may be that vanished blank (`low`, blank among its
    readings) cannot be checked at all, which the reader has said.
    """
    targets = {eq.path for eq in broken.equations}
    cells = {p for eq in broken.equations for p in [*eq.lhs, *eq.rhs]}
    section = broken.rule.split(".")[0]
    if not exact and any(
        f.path in cells and f.level == "low" and "blank_may_have_vanished" in f.flags
        and (f.value is None or None in f.sources.get("alternatives", []))
        for f in extraction.fields
    ):
        return True
    return any(
        f.kind == "sum_mismatch"
        and (f.path in cells or any(f.path == t or f.path.startswith(t + ".") for t in targets)
             or (not exact and f.path.split(".")[0] == section))
        for f in extraction.findings
    )


def _describe(label: str, found: list[Violation], limit: int = 12) -> str:
    counts = {k: sum(v.level == k for v in found) for k in ("high", "medium", "missing")}
    lines = [f"{label}: {len(found)} fields neither right nor low "
             f"(wrong at high {counts['high']}, wrong at medium {counts['medium']}, missing {counts['missing']})"]
    lines += [f"  {v.path}: printed {v.expected!r}, read {v.got!r} ({v.level})" for v in found[:limit]]
    if len(found) > limit:
        lines.append(f"  … and {len(found) - limit} more")
    return "\n".join(lines)


def _dump(data: bytes, filename: str) -> str:
    target = os.environ.get("NIANBAO_CORPUS_DUMP")
    if not target:
        return ""
    path = Path(target) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f" (written to {path})"


def _extract(data: bytes, filename: str, label: str) -> Extraction:
    try:
        return extract_bytes(data, filename)[1]
    except NianbaoError as exc:
        pytest.fail(f"{label}: refused a readable report: {exc.reason}{_dump(data, filename)}")


# ----------------------------------------------------------------------- synthetic reports


@pytest.mark.parametrize("family", (*FAMILIES, *LOST_FAMILIES))
@settings(SETTINGS, max_examples=VALID_EXAMPLES)
@given(case=CASES)
def test_valid_report_reads_right_or_flags_low(family: str, case: Case) -> None:
    case = for_family(family, case)
    values = case.values()
    data, filename = render(values, case.template, family, seed=case.seed)
    label = f"{family} {case}"
    found = violations(values, _extract(data, filename, label))
    assert not found, _describe(label, found) + _dump(data, filename)


@pytest.mark.parametrize("family", (*FAMILIES, *LOST_FAMILIES))
@settings(SETTINGS, max_examples=BROKEN_EXAMPLES)
@given(case=CASES)
def test_rule_breaking_report_reads_as_printed_and_reports_the_mismatch(family: str, case: Case) -> None:
    case = for_family(family, case)
    values, broken = case.broken()
    data, filename = render(values, case.template, family, seed=case.seed)
    label = f"{family} {case} broken {broken.rule} via {list(broken.changed)}"
    extraction = _extract(data, filename, label)
    found = violations(values, extraction)
    assert not found, _describe(label, found) + _dump(data, filename)
    assert reports_mismatch(extraction, broken, exact=case.blanks == 0), (
        f"{label}: no sum_mismatch at {[eq.path for eq in broken.equations]}; findings: "
        f"{[(f.kind, f.path) for f in extraction.findings]}" + _dump(data, filename)
    )


# -------------------------------------------------------------------------- real reports


def _real_reports() -> list[tuple[Path, Path]]:
    pairs = []
    for gold in sorted(GOLD_DIR.glob("**/*.json")):
        document = json.loads(gold.read_text("utf-8"))["document"]
        pairs.append((DOCS_DIR / gold.parent.name / document, gold))
    return pairs


REAL_REPORTS = _real_reports()


def test_real_reports_are_all_there() -> None:
    assert REAL_REPORTS and all(doc.exists() for doc, _ in REAL_REPORTS)


@pytest.mark.parametrize(("document", "gold"), REAL_REPORTS, ids=lambda p: p.name)
def test_real_report_reads_right_or_flags_low(document: Path, gold: Path) -> None:
    extraction = _extract(document.read_bytes(), document.name, document.name)
    found = violations(load_gold(gold), extraction)
    assert not found, _describe(document.name, found)


def _expected_mismatches(gold: Path) -> list[str]:
    findings = json.loads(gold.read_text("utf-8"))["expected_findings"]
    return [f["path"] for f in findings if f["kind"] == "sum_mismatch"]


@pytest.mark.parametrize(
    ("document", "gold"), [p for p in REAL_REPORTS if _expected_mismatches(p[1])], ids=lambda p: p.name
)
def test_real_report_reports_its_sum_mismatches(document: Path, gold: Path) -> None:
    extraction = _extract(document.read_bytes(), document.name, document.name)
    reported = [f.path for f in extraction.findings if f.kind == "sum_mismatch"]
    for path in _expected_mismatches(gold):
        assert any(r == path or r.startswith(path + ".") for r in reported), (path, reported)


# --------------------------------------------------------------------- per-family census


@dataclass
class Tally:
    reports: int = 0
    passed: int = 0
    wrong_high: int = 0
    wrong_medium: int = 0
    missing: int = 0
    refused: int = 0
    mismatch_reported: int = 0
    broken: int = 0
    fields: int = 0
    low: int = 0


def census(families: list[str], n_valid: int, n_broken: int) -> dict[str, Tally]:
    """Run every family over the same cases and count instead of stopping at the first failure."""
    rng = random.Random(20240601)
    cases = [Case(rng.randrange(2**32), rng.choice(("2021", "2019")), rng.random() < 0.5,
                  rng.choice((0, 0, 0, 1, 2))) for _ in range(max(n_valid, n_broken))]
    out: dict[str, Tally] = {}
    for family in families:
        tally = out.setdefault(family, Tally())
        for k, case in enumerate(cases[:n_valid] + cases[:n_broken]):
            case = for_family(family, case)
            is_broken = k >= n_valid
            values, broken = case.broken() if is_broken else (case.values(), None)
            data, filename = render(values, case.template, family, seed=case.seed)
            tally.reports += 1
            try:
                extraction = extract_bytes(data, filename)[1]
            except NianbaoError:
                tally.refused += 1
                continue
            found = violations(values, extraction)
            levels = {f.path: f.level for f in extraction.fields}
            tally.fields += len(values)
            tally.low += sum(levels.get(p) == "low" for p in values)
            tally.wrong_high += sum(v.level == "high" for v in found)
            tally.wrong_medium += sum(v.level == "medium" for v in found)
            tally.missing += sum(v.level == "missing" for v in found)
            ok = not found
            if broken is not None:
                tally.broken += 1
                reported = reports_mismatch(extraction, broken, exact=case.blanks == 0)
                tally.mismatch_reported += reported
                ok = ok and reported
            tally.passed += ok
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-family pass/fail counts of the reader's invariant.")
    parser.add_argument("--n", type=int, default=VALID_EXAMPLES, help="valid reports per family")
    parser.add_argument("--broken", type=int, default=BROKEN_EXAMPLES, help="rule-breaking reports per family")
    parser.add_argument("--families", nargs="*", default=[*FAMILIES, *LOST_FAMILIES])
    args = parser.parse_args(argv)
    print(f"{'family':<13}{'pass':>6}{'fail':>6}{'refused':>9}{'wrong@high':>12}{'wrong@medium':>14}"
          f"{'missing':>9}{'mismatch found':>16}{'low %':>8}")
    for family, t in census(args.families, args.n, args.broken).items():
        print(f"{family:<13}{t.passed:>6}{t.reports - t.passed:>6}{t.refused:>9}{t.wrong_high:>12}"
              f"{t.wrong_medium:>14}{t.missing:>9}{f'{t.mismatch_reported}/{t.broken}':>16}"
              f"{100 * t.low / max(1, t.fields):>7.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
