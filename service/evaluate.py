"""Eval harness: score extractions against hand-labelled gold files, as contract.md defines it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from service.contract import Extraction
from service.document import Document
from service.model.run import ModelRun
from service.pipeline import (
    DEFAULT_PROMPT_VERSION,
    ModelReader,
    check_scope,
    default_reader,
    extract_bytes,
    resolve_mode,
)
from service.readings import SectionReading

SECTIONS = ("meta", "active_disclosure", "applications", "reviews_and_litigation", "narrative")
ISSUER_SUFFIXES = ("人民政府", "管理委员会", "管委会")
LEVELS = ("high", "medium", "low")
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
    # Calibration: per level, how many values and how many of them right.
    levels: dict[str, Counts] = Field(default_factory=dict)
    # The model run's cost (zero in deterministic mode).
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    priced: bool = False  # a price per token was set: `cost` is a cost, not an unknown
    calls: int = 0
    cached: int = 0
    model_failures: int = 0

    def merge(self, other: DocScore) -> None:
        self.fields.right += other.fields.right
        self.fields.total += other.fields.total
        for table, theirs in ((self.sections, other.sections), (self.levels, other.levels)):
            for name, c in theirs.items():
                mine = table.setdefault(name, Counts())
                mine.right += c.right
                mine.total += c.total
        for attr in ("low", "wrong", "wrong_low", "accepted", "accepted_right", "findings_expected",
                     "findings_recalled", "findings_reported", "findings_matching", "prompt_tokens",
                     "completion_tokens", "cost", "calls", "cached", "model_failures"):
            setattr(self, attr, getattr(self, attr) + getattr(other, attr))
        self.priced = self.priced or other.priced


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
        lvl = s.levels.setdefault(level, Counts())
        lvl.total += 1
        lvl.right += ok
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
    info = extraction.extraction
    s.prompt_tokens, s.completion_tokens = info.usage.prompt_tokens, info.usage.completion_tokens
    s.cost, s.calls, s.cached, s.model_failures = info.cost or 0.0, info.calls, info.cached, len(info.failures)
    s.priced = info.cost is not None
    return s


class EvalError(Exception):
    """Eval options that cannot run together (CLI exit 2)."""


def recording_path(folder: Path, prompt_version: str, document: str) -> Path:
    """Where the model run for one document under one prompt version is recorded."""
    return folder / prompt_version / f"{document}.json"


def save_run(folder: Path, prompt_version: str, document: str, run: ModelRun) -> None:
    path = recording_path(folder, prompt_version, document)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(run.model_dump_json(indent=1), "utf-8")


def _replayer(folder: Path, version: str, name: str) -> ModelReader:
    """Answers from a recording, offline; a document without one is a recorded failure (its
    values then come from the parsers, as with a failed call)."""
    def read(doc: Document, sections: list[SectionReading]) -> ModelRun:
        path = recording_path(folder, version, name)
        if not path.exists():
            return ModelRun(prompt_version=version, model="replay", instructor_mode="replay",
                            failures=[f"not_recorded: {path}"])
        return ModelRun.model_validate_json(path.read_text("utf-8"))

    return read


def _recorder(inner: ModelReader, folder: Path, version: str, name: str) -> ModelReader:
    def read(doc: Document, sections: list[SectionReading]) -> ModelRun:
        run = inner(doc, sections)
        save_run(folder, version, name, run)
        return run

    return read


def run_eval(gold_dir: Path, docs_dir: Path, *, mode: str | None = None, llm_scope: str | None = None,
             prompt_version: str | None = None, record: Path | None = None, replay: Path | None = None,
             settings: Any = None) -> tuple[list[DocScore], DocScore]:
    """Extract every gold file's document through the one pipeline and score it.

    With `replay`, the model's answers are read from the recordings there (no endpoint is
    needed); with `record`, every model run is saved there. Raises EvalError for options that
    cannot run together, a NianbaoError for a mode that cannot run.
    """
    if settings is None:
        from service.config import get_settings

        settings = get_settings()
    if replay is not None and record is not None:
        raise EvalError("--record and --replay exclude each other / --record 与 --replay 不能同时使用")
    if replay is not None and mode == "deterministic":
        raise EvalError("--replay replays model answers: use --mode llm or auto / --replay 需要 llm 或 auto 模式")
    if replay is not None and not replay.is_dir():
        raise EvalError(f"目录不存在 / not a directory: {replay}")
    version = prompt_version or getattr(settings, "llm_prompt_version", None) or DEFAULT_PROMPT_VERSION
    scope = check_scope(llm_scope) or getattr(settings, "llm_scope", None) or "doubtful"
    resolved = "llm" if replay is not None else resolve_mode(mode, settings)
    if record is not None and resolved != "llm":
        raise EvalError("--record needs a model: use --mode llm with an endpoint configured / "
                        "--record 需要已配置的模型")
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
        reader: ModelReader | None = None
        if replay is not None:
            reader = _replayer(replay, version, name)
        elif record is not None:
            reader = _recorder(default_reader(settings, scope, version), record, version, name)
        try:
            _, extraction = extract_bytes(doc_path.read_bytes(), doc_path.name, mode=resolved, settings=settings,
                                          llm_scope=scope, prompt_version=version, reader=reader)
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


def calibration_lines(s: DocScore) -> list[str]:
    """Per level: how many values, how many right, the share right (is `high` right?)."""
    lines = ["calibration (level: fields, right, share right):"]
    for level in LEVELS:
        c = s.levels.get(level, Counts())
        lines.append(f"  {level:6} {c.total:6} {c.right:6}  {pct(c.rate)}")
    return lines


def cost_line(s: DocScore) -> str:
    return (f"model: {s.calls} calls ({s.cached} cached), {s.prompt_tokens} tokens in, "
            f"{s.completion_tokens} out, cost {f'{s.cost:.4f}' if s.priced else 'n/a (no price set)'}, "
            f"{s.model_failures} failures")


def _wrong_by_field(docs: list[DocScore]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d.document, w["path"]): w for d in docs for w in d.wrong_fields}


def compare(base: tuple[list[DocScore], DocScore], cand: tuple[list[DocScore], DocScore],
            tolerance_points: float) -> dict[str, Any]:
    """Baseline against candidate: per-section accuracy, review rate, caught errors and cost side
    by side; each field one fixed or broke; the sections where the candidate is worse by more
    than `tolerance_points` percentage points."""
    (bdocs, b), (cdocs, c) = base, cand
    rows: list[tuple[str, float | None, float | None]] = [("fields", b.fields.rate, c.fields.rate)]
    rows += [(n, b.sections[n].rate if n in b.sections else None, c.sections[n].rate if n in c.sections else None)
             for n in SECTIONS if n in b.sections or n in c.sections]
    rows += [("review rate", ratio(b.low, b.fields.total), ratio(c.low, c.fields.total)),
             ("caught errors", ratio(b.wrong_low, b.wrong), ratio(c.wrong_low, c.wrong)),
             ("auto-accept precision", ratio(b.accepted_right, b.accepted), ratio(c.accepted_right, c.accepted))]
    bw, cw = _wrong_by_field(bdocs), _wrong_by_field(cdocs)
    fixed = [{"document": d, "path": p, "gold": w["gold"], "baseline": w["got"]}
             for (d, p), w in sorted(bw.items()) if (d, p) not in cw]
    broke = [{"document": d, "path": p, "gold": w["gold"], "candidate": w["got"], "level": w["level"]}
             for (d, p), w in sorted(cw.items()) if (d, p) not in bw]
    worse = [n for n in SECTIONS if n in b.sections
             and 100 * ((b.sections[n].rate or 0.0) - (c.sections.get(n, Counts()).rate or 0.0)) > tolerance_points]
    return {"rows": rows, "fixed": fixed, "broke": broke, "worse_sections": worse,
            "tokens": [(b.prompt_tokens, b.completion_tokens), (c.prompt_tokens, c.completion_tokens)],
            "cost": [b.cost, c.cost]}


def compare_lines(result: dict[str, Any], baseline: str, candidate: str, tolerance_points: float) -> list[str]:
    lines = [f"{'':24} {'baseline ' + baseline:>16} {'candidate ' + candidate:>16} {'change':>9}"]
    for name, bv, cv in result["rows"]:
        change = "" if bv is None or cv is None else f"{100 * (cv - bv):+.2f}"
        lines.append(f"{name:24} {pct(bv):>16} {pct(cv):>16} {change:>9}")
    (bi, bo), (ci, co) = result["tokens"]
    lines.append(f"{'tokens in / out':24} {f'{bi} / {bo}':>16} {f'{ci} / {co}':>16}")
    lines.append(f"{'cost':24} {result['cost'][0]:>16.4f} {result['cost'][1]:>16.4f}")
    lines.append(f"fixed by {candidate} ({len(result['fixed'])}):")
    lines += [f"  {f['document']}  {f['path']}  gold {f['gold']!r}, {baseline} read {f['baseline']!r}"
              for f in result["fixed"]]
    lines.append(f"broken by {candidate} ({len(result['broke'])}):")
    lines += [f"  {f['document']}  {f['path']}  gold {f['gold']!r}, {candidate} read {f['candidate']!r} "
              f"[{f['level']}]" for f in result["broke"]]
    worse = result["worse_sections"]
    lines.append(f"worse beyond {tolerance_points:g} points: {', '.join(worse)}" if worse
                 else f"no section worse beyond {tolerance_points:g} points")
    return lines


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
            "calibration": {lvl: {"fields": c.total, "right": c.right, "share_right": c.rate}
                            for lvl in LEVELS if (c := s.levels.get(lvl)) is not None},
            "model": {"calls": s.calls, "cached": s.cached, "prompt_tokens": s.prompt_tokens,
                      "completion_tokens": s.completion_tokens, "cost": s.cost, "failures": s.model_failures},
        }

    return {"documents": [one(d) for d in docs], "overall": one(overall)}
