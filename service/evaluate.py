"""Eval harness: score extractions against hand-labelled gold files, as contract.md defines it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from service.contract import Extraction
from service.pipeline import extract_bytes

SECTIONS = ("meta", "active_disclosure", "applications", "reviews_and_litigation", "narrative")
ISSUER_SUFFIXES = ("人民政府", "管理委员会", "管委会")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_GOLD = REPO / "evals" / "gold" / "seeds"
DEFAULT_DOCS = REPO / "evals" / "docs" / "seeds"


class Counts(BaseModel):
    right: int = 0
    total: int = 0

    @property
    def rate(self) -> float | None:
        return self.right / self.total if self.total else None


class DocScore(BaseModel):
    document: str
    fields: Counts = Field(default_factory=Counts)
    sections: dict[str, Counts] = Field(default_factory=dict)
    low: int = 0
    wrong: int = 0
    wrong_low: int = 0
    accepted: int = 0
    accepted_right: int = 0
    findings_expected: int = 0
    findings_recalled: int = 0
    findings_reported: int = 0
    findings_matching: int = 0
    wrong_fields: list[dict[str, Any]] = Field(default_factory=list)
    missed_findings: list[list[str]] = Field(default_factory=list)
    error: str | None = None

    def merge(self, other: DocScore) -> None:
        self.fields.right += other.fields.right
        self.fields.total += other.fields.total
        for name, c in other.sections.items():
            mine = self.sections.setdefault(name, Counts())
            mine.right += c.right
            mine.total += c.total
        for attr in ("low", "wrong", "wrong_low", "accepted", "accepted_right", "findings_expected",
                     "findings_recalled", "findings_reported", "findings_matching"):
            setattr(self, attr, getattr(self, attr) + getattr(other, attr))


def values_equal(path: str, got: Any, want: Any) -> bool:
    if want is None or got is None:
        return want is None and got is None
    if path == "meta.issuer":
        a, b = _strip_issuer(str(got)), _strip_issuer(str(want))
        return bool(a) and bool(b) and (a.endswith(b) or b.endswith(a))
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, int | float) and isinstance(got, int | float):
        return abs(float(got) - float(want)) < 1e-9
    return str(got) == str(want)


def _strip_issuer(name: str) -> str:
    name = name.strip()
    for suffix in ISSUER_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _under(reported: str, expected: str) -> bool:
    return reported == expected or reported.startswith(expected + ".")


def score(extraction: Extraction, gold: dict[str, Any], name: str) -> DocScore:
    s = DocScore(document=name)
    got = {f.path: f for f in extraction.fields}
    for path, want in gold["fields"].items():
        f = got.get(path)
        value = f.value if f else None
        level = f.level if f else "low"
        ok = values_equal(path, value, want)
        section = path.split(".")[0]
        sec = s.sections.setdefault(section, Counts())
        sec.total += 1
        s.fields.total += 1
        if ok:
            sec.right += 1
            s.fields.right += 1
        else:
            s.wrong += 1
            s.wrong_low += level == "low"
            s.wrong_fields.append({"path": path, "got": value, "gold": want, "level": level})
        if level == "low":
            s.low += 1
        else:
            s.accepted += 1
            s.accepted_right += ok
    expected = [(e["kind"], e["path"]) for e in gold.get("expected_findings", [])]
    reported = [(f.kind, f.path) for f in extraction.findings]
    s.findings_expected = len(expected)
    for kind, path in expected:
        if any(k == kind and _under(p, path) for k, p in reported):
            s.findings_recalled += 1
        else:
            s.missed_findings.append([kind, path])
    s.findings_reported = len(reported)
    s.findings_matching = sum(
        1 for k, p in reported if any(k == ek and _under(p, ep) for ek, ep in expected)
    )
    return s


def run_eval(gold_dir: Path, docs_dir: Path) -> tuple[list[DocScore], DocScore]:
    """Extract every gold file's document through the one pipeline and score it."""
    docs: list[DocScore] = []
    overall = DocScore(document="overall")
    for gold_path in sorted(gold_dir.glob("*.json")):
        gold = json.loads(gold_path.read_text("utf-8"))
        name = gold.get("document") or gold_path.stem
        doc_path = docs_dir / name
        if not doc_path.exists():
            s = DocScore(document=name, error=f"document not found: {doc_path}")
            docs.append(s)
            continue
        try:
            _, extraction = extract_bytes(doc_path.read_bytes(), doc_path.name)
        except Exception as exc:  # an unreadable gold document is an eval failure, not a crash
            s = DocScore(document=name, error=f"{type(exc).__name__}: {exc}")
            s.fields.total = len(gold["fields"])
            s.wrong = s.fields.total
            docs.append(s)
            overall.merge(s)
            continue
        s = score(extraction, gold, name)
        docs.append(s)
        overall.merge(s)
    return docs, overall


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def summary_line(s: DocScore) -> str:
    secs = " ".join(f"{n}={pct(s.sections[n].rate)}" for n in SECTIONS if n in s.sections)
    return (
        f"fields {s.fields.right}/{s.fields.total} = {pct(s.fields.rate)} | {secs} | "
        f"review rate {pct(ratio(s.low, s.fields.total))} | "
        f"caught errors {pct(ratio(s.wrong_low, s.wrong))} ({s.wrong_low}/{s.wrong} wrong at low) | "
        f"auto-accept precision {pct(ratio(s.accepted_right, s.accepted))} | "
        f"findings recall {pct(ratio(s.findings_recalled, s.findings_expected))} "
        f"({s.findings_recalled}/{s.findings_expected}) "
        f"precision {pct(ratio(s.findings_matching, s.findings_reported))} "
        f"({s.findings_matching}/{s.findings_reported})"
    )


def scores_json(docs: list[DocScore], overall: DocScore) -> dict[str, Any]:
    def one(s: DocScore) -> dict[str, Any]:
        return {
            "document": s.document,
            "error": s.error,
            "field_accuracy": s.fields.rate,
            "fields_right": s.fields.right,
            "fields_total": s.fields.total,
            "section_accuracy": {n: c.rate for n, c in s.sections.items()},
            "review_rate": ratio(s.low, s.fields.total),
            "caught_errors": ratio(s.wrong_low, s.wrong),
            "wrong": s.wrong,
            "wrong_at_low": s.wrong_low,
            "auto_accept_precision": ratio(s.accepted_right, s.accepted),
            "findings_recall": ratio(s.findings_recalled, s.findings_expected),
            "findings_precision": ratio(s.findings_matching, s.findings_reported),
            "wrong_fields": s.wrong_fields,
            "missed_findings": s.missed_findings,
        }

    return {"documents": [one(d) for d in docs], "overall": one(overall)}
