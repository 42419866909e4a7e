"""The model reader wired in: modes, reconcile against the parser, failures, CLI, API and eval.

The model's answers here are fake ModelRuns built by the tests (right from gold, plausible-wrong
numbers that occur in the text with their real position, random, ungrounded, or failures): what
reconcile does with an answer does not depend on how the answer was obtained. The HTTP path
through the test double is tested with the reader itself.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.cli import main
from service.config import Settings
from service.contract import Extraction, Usage
from service.document import Document
from service.evaluate import run_eval, values_equal
from service.model.run import ModelRun
from service.pipeline import ModelReader, extract_bytes
from service.read import read_document
from service.readings import Reading, SectionReading
from service.reconcile import ARGUED, reconcile
from service.templates import equations

REPO = Path(__file__).resolve().parent.parent
EVALS = REPO / "evals"
SETS = ("seeds", "dev")
CORPUS = [
    (json.loads(g.read_text("utf-8")), EVALS / "docs" / name / json.loads(g.read_text("utf-8"))["document"])
    for name in SETS for g in sorted((EVALS / "gold" / name).glob("*.json"))
]
IDS = [doc.name for _, doc in CORPUS]
SEED_GOLD, SEED_DOC = CORPUS[1]


# --- fake model runs ---------------------------------------------------------------------------

def _printed(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _find(text: str, value: Any) -> tuple[int, int] | None:
    """Where `value` is printed in the text (a number not inside a longer one)."""
    printed = _printed(value)
    if not printed:
        return None
    pattern = rf"(?<![\d.]){re.escape(printed)}(?![\d.])" if printed[0].isdigit() else re.escape(printed)
    m = re.search(pattern, text)
    return (m.start(), m.end()) if m else None


def _parser_readings(sections: list[SectionReading]) -> dict[str, Reading]:
    return {p: r for s in sections for p, r in s.readings.items()}


def _llm(path: str, value: Any, span: tuple[int, int] | None) -> Reading:
    """A model reading as the reader makes them: grounded with a span, or doubted."""
    return Reading(path=path, value=value, source="llm", span=span,
                   doubts=[] if span is not None else ["llm_ungrounded"])


def _run(readings: dict[str, Reading], failures: list[str] | None = None, calls: int = 3) -> ModelRun:
    return ModelRun(readings=readings, prompt_version="v1", model="fake-model", instructor_mode="tools",
                    usage=Usage(prompt_tokens=1000, completion_tokens=200), latency_ms=12.0, calls=calls,
                    cost=0.01, failures=failures or [])


Answer = Callable[[str, Any, Document, dict[str, Reading]], Reading | None]


def reader_from(gold: dict[str, Any], answer: Answer) -> ModelReader:
    """A ModelReader answering each gold path through `answer(path, gold value, doc, parser)`."""

    def read(doc: Document, sections: list[SectionReading]) -> ModelRun:
        parser = _parser_readings(sections)
        out = {}
        for path, want in gold["fields"].items():
            r = answer(path, want, doc, parser)
            if r is not None:
                out[path] = r
        return _run(out)

    return read


def right(path: str, want: Any, doc: Document, parser: dict[str, Reading]) -> Reading | None:
    """The gold value, grounded where the parser read it or where it is printed; null answers
    carry no quote (ungrounded), as a model's null does."""
    if want is None:
        return _llm(path, None, None)
    p = parser.get(path)
    span = p.span if p is not None and values_equal(path, p.value, want) and p.span else _find(doc.text, want)
    return _llm(path, want, span)


def ungrounded(path: str, want: Any, doc: Document, parser: dict[str, Reading]) -> Reading | None:
    return _llm(path, want, None)


def _numbers(text: str) -> list[str]:
    return sorted(set(re.findall(r"(?<![\d.])\d{1,6}(?![\d.])", text)))


def plausible_wrong(seed: int, only: set[str] | None = None) -> Answer:
    """A number that occurs in the text but is not the gold one (nor, where the parser offered
    alternatives, one of them), grounded at its real position; right on paths not in `only`."""
    rng = random.Random(seed)

    def answer(path: str, want: Any, doc: Document, parser: dict[str, Reading]) -> Reading | None:
        if only is not None and path not in only:
            return right(path, want, doc, parser)
        p = parser.get(path)
        offered = {_printed(a) for a in (p.alternatives if p else [])}
        choices = [n for n in _numbers(doc.text) if n != _printed(want) and n not in offered]
        value = rng.choice(choices)
        return _llm(path, int(value), _find(doc.text, value))

    return answer


def random_answer(seed: int) -> Answer:
    """Random schema-valid values: small numbers, nulls, words; grounded only where they are printed."""
    rng = random.Random(seed)

    def answer(path: str, want: Any, doc: Document, parser: dict[str, Reading]) -> Reading | None:
        value: Any = rng.choice([None, rng.randint(0, 9), rng.randint(0, 500), "无", True])
        span = _find(doc.text, value) if value is not None and not isinstance(value, bool) else None
        return _llm(path, value, span)

    return answer


def extract(doc_path: Path, reader: ModelReader | None = None, mode: str = "llm") -> Extraction:
    return extract_bytes(doc_path.read_bytes(), doc_path.name, mode=mode if reader else "deterministic",
                         reader=reader)[1]


def wrong_at(ex: Extraction, gold: dict[str, Any], levels: set[str]) -> list[tuple[str, Any, Any, str]]:
    out: list[tuple[str, Any, Any, str]] = []
    for f in ex.fields:
        if f.path in gold["fields"] and f.level in levels and not values_equal(f.path, f.value, gold["fields"][f.path]):
            out.append((f.path, f.value, gold["fields"][f.path], f.level))
    return out


def ruled_paths() -> set[str]:
    return {p for eq in equations() for p in eq.lhs + eq.rhs}


# --- reconcile -------------------------------------------------------------------------------

@pytest.mark.parametrize(("gold", "doc_path"), CORPUS, ids=IDS)
def test_agreeing_model_lifts_medium_to_high_and_stays_right(gold: dict[str, Any], doc_path: Path) -> None:
    det = extract(doc_path)
    ex = extract(doc_path, reader_from(gold, right))
    assert ex.extraction.mode == "llm" and ex.extraction.model == "fake-model"
    assert not wrong_at(ex, gold, {"high", "medium", "low"})
    before = {f.path: f for f in det.fields}
    order = {"low": 0, "medium": 1, "high": 2}
    lifted = 0
    for f in ex.fields:
        b = before[f.path]
        assert order[f.level] >= order[b.level], (f.path, b.level, f.level, f.flags)
        if "llm" in f.sources and f.sources["llm"] is not None and f.span is not None:
            assert "readers_agree" in f.flags, f.path
        if b.level == "medium" and f.level == "high":
            lifted += 1
            assert "readers_agree" in f.flags and "sum_mismatch" not in f.flags
            assert f.sources["llm"] == f.value
    if any(b.level == "medium" and b.value is not None and not ARGUED & set(b.flags)
           and gold["fields"].get(b.path) is not None for b in det.fields):
        assert lifted > 0
    assert sum(f.level == "low" for f in ex.fields) <= sum(f.level == "low" for f in det.fields)


@pytest.mark.parametrize(("gold", "doc_path"), CORPUS, ids=IDS)
def test_model_wrong_on_chosen_cells_ends_low_with_a_conflict(gold: dict[str, Any], doc_path: Path) -> None:
    rng = random.Random(doc_path.name)
    candidates = sorted(p for p, v in gold["fields"].items() if isinstance(v, int) and not isinstance(v, bool))
    chosen = set(rng.sample(candidates, min(12, len(candidates))))
    ruled = ruled_paths()
    assert chosen & ruled, "the sample must include cells the arithmetic can decide"
    ex = extract(doc_path, reader_from(gold, plausible_wrong(7, chosen)))
    det = {f.path: f for f in extract(doc_path).fields}
    conflicts = {f.path for f in ex.findings if f.kind == "llm_parser_conflict"}
    for path in chosen:
        f = ex.field(path)
        assert f is not None
        assert f.level == "low", (path, f.value, f.level, f.flags)
        assert path in conflicts and "llm_parser_conflict" in f.flags
        assert f.value == det[path].value  # the parser's value is kept
        assert f.sources["llm"] != f.value and f.sources["parser" if "parser" in f.sources else "text"] == f.value
        if "arithmetic_chose_parser" in f.flags:
            assert path in ruled
    assert not wrong_at(ex, gold, {"high", "medium"})


@pytest.mark.parametrize("kind", ["plausible_wrong", "random"])
@pytest.mark.parametrize(("gold", "doc_path"), CORPUS, ids=IDS)
def test_wrong_answers_on_every_cell_never_make_a_wrong_high(gold: dict[str, Any], doc_path: Path,
                                                             kind: str) -> None:
    for seed in range(3):
        answer = plausible_wrong(seed) if kind == "plausible_wrong" else random_answer(seed)
        ex = extract(doc_path, reader_from(gold, answer))
        assert not wrong_at(ex, gold, {"high"}), (seed, wrong_at(ex, gold, {"high"}))


@pytest.mark.parametrize(("gold", "doc_path"), CORPUS[:3], ids=IDS[:3])
def test_ungrounded_answers_change_nothing(gold: dict[str, Any], doc_path: Path) -> None:
    det = extract(doc_path)
    for answer in (ungrounded, plausible_wrong(3)):
        def strip(path: str, want: Any, doc: Document, parser: dict[str, Reading], a: Answer = answer) -> Reading:
            r = a(path, want, doc, parser)
            assert r is not None
            return _llm(path, r.value, None)

        ex = extract(doc_path, reader_from(gold, strip))
        for f, b in zip(ex.fields, det.fields, strict=True):
            assert (f.path, f.value, f.level, f.span) == (b.path, b.value, b.level, b.span)
            assert ("llm_ungrounded" in f.flags) == (f.path in gold["fields"])
        assert not any(fd.kind == "llm_parser_conflict" for fd in ex.findings)


def _sections(doc_path: Path) -> tuple[Document, list[SectionReading]]:
    doc, _ = extract_bytes(doc_path.read_bytes(), doc_path.name, mode="deterministic")
    return doc, read_document(doc)


def test_a_value_only_the_model_found_is_medium_at_most_and_only_when_grounded() -> None:
    doc, sections = _sections(SEED_DOC)
    table = next(s for s in sections if s.section == "applications")
    path = "applications.granted.total"
    parser = table.readings.pop(path)
    assert parser.value is not None and parser.span is not None
    fields, _ = reconcile(doc, sections, _run({path: _llm(path, parser.value, parser.span)}))
    f = next(f for f in fields if f.path == path)
    assert (f.value, f.level, f.span) == (parser.value, "medium", parser.span) and "llm_only" in f.flags
    fields, _ = reconcile(doc, sections, _run({path: _llm(path, parser.value, None)}))
    f = next(f for f in fields if f.path == path)
    assert f.value is None and f.level == "low" and "llm_ungrounded" in f.flags
    assert path in ruled_paths() and isinstance(parser.value, int)
    fields, _ = reconcile(doc, sections, _run({path: _llm(path, parser.value + 5, parser.span)}))
    f = next(f for f in fields if f.path == path)
    assert f.level == "low" and "llm_value_breaks_rule" in f.flags


def test_the_arithmetic_decides_for_the_model_when_the_parsers_reading_breaks_a_rule() -> None:
    doc, sections = _sections(SEED_DOC)
    ruled = ruled_paths()
    table = next(s for s in sections if s.section == "applications")
    path = next(p for p, r in table.readings.items() if p in ruled and isinstance(r.value, int) and r.span)
    right_reading = table.readings[path]
    assert isinstance(right_reading.value, int)
    table.readings[path] = right_reading.model_copy(update={"value": right_reading.value + 7})  # a misreading
    alone, _ = reconcile(doc, sections)
    assert next(f for f in alone if f.path == path).level != "high"
    fields, findings = reconcile(doc, sections, _run({path: _llm(path, right_reading.value, right_reading.span)}))
    f = next(f for f in fields if f.path == path)
    assert f.value == right_reading.value and f.level == "medium" and "arithmetic_chose_llm" in f.flags
    assert any(fd.kind == "llm_parser_conflict" and fd.path == path for fd in findings)


def test_the_model_may_choose_among_the_parsers_readings_but_not_override_a_settled_one() -> None:
    doc, sections = _sections(SEED_DOC)
    table = next(s for s in sections if s.section == "active_disclosure")
    path, r = next((p, r) for p, r in table.readings.items() if isinstance(r.value, int) and r.span
                   and p not in ruled_paths())
    assert isinstance(r.value, int)
    other = r.value + 10
    table.readings[path] = r.model_copy(update={"doubts": ["several_readings_possible"], "alternatives": [other]})
    fields, _ = reconcile(doc, sections, _run({path: _llm(path, other, r.span)}))
    f = next(f for f in fields if f.path == path)
    assert f.value == other and f.level == "medium" and "llm_chose_reading" in f.flags
    table.readings[path] = r  # settled: one reading, no doubt
    fields, findings = reconcile(doc, sections, _run({path: _llm(path, other, r.span)}))
    f = next(f for f in fields if f.path == path)
    assert f.value == r.value and f.level == "low" and any(fd.path == path for fd in findings)


@pytest.mark.parametrize("failures", [["timeout"], ["http_429", "malformed_json", "truncated", "refusal"]])
def test_failed_model_calls_leave_the_parsers_result_and_are_recorded(failures: list[str]) -> None:
    det = extract(SEED_DOC)
    ex = extract(SEED_DOC, lambda doc, sections: _run({}, failures=failures, calls=len(failures)))
    assert ex.extraction.mode == "llm" and ex.extraction.failures == failures
    assert [f.model_dump() for f in ex.fields] == [f.model_dump() for f in det.fields]
    assert all(any(fail in n for n in ex.extraction.notices) for fail in failures)
    assert ex.extraction.usage.prompt_tokens == 1000 and ex.extraction.cost == 0.01


def test_a_reader_that_raises_is_a_recorded_failure() -> None:
    def explode(doc: Document, sections: list[SectionReading]) -> ModelRun:
        raise ConnectionError("endpoint went away")

    ex = extract(SEED_DOC, explode)
    assert ex.extraction.failures and "ConnectionError" in ex.extraction.failures[0]
    assert [f.value for f in ex.fields] == [f.value for f in extract(SEED_DOC).fields]


# --- CLI -------------------------------------------------------------------------------------

@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NIANBAO_LLM_BASE_URL", "NIANBAO_LLM_MODEL", "NIANBAO_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake_endpoint(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """A configured endpoint whose reader is a fake answering right from the seed's gold."""
    monkeypatch.setenv("NIANBAO_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("NIANBAO_LLM_MODEL", "fake-model")
    calls: list[tuple[str, str]] = []

    def default_reader(settings: Any, scope: str, version: str) -> ModelReader:
        calls.append((scope, version))
        return reader_from(SEED_GOLD, right)

    monkeypatch.setattr("service.pipeline.default_reader", default_reader)
    monkeypatch.setattr("service.evaluate.default_reader", default_reader)
    return calls


def test_cli_mode_llm_without_an_endpoint_exits_2(no_model: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(SEED_DOC), "--mode", "llm", "--json"]) == 2
    err = capsys.readouterr().err
    assert "NIANBAO_LLM_BASE_URL" in err and "模型" in err and "Traceback" not in err
    assert main(["eval", "--mode", "llm"]) == 2


def test_cli_modes(no_model: None, fake_endpoint: list[tuple[str, str]],
                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(SEED_DOC), "--json"]) == 0  # auto with an endpoint: the model reads
    ex = Extraction.model_validate_json(capsys.readouterr().out)
    assert ex.extraction.mode == "llm" and fake_endpoint == [("doubtful", "v1")]
    assert main(["extract", str(SEED_DOC), "--json", "--mode", "deterministic"]) == 0
    assert Extraction.model_validate_json(capsys.readouterr().out).extraction.mode == "deterministic"
    assert len(fake_endpoint) == 1
    assert main(["extract", str(SEED_DOC), "--mode", "llm", "--llm-scope", "all"]) == 0
    out = capsys.readouterr().out
    assert "mode: llm" in out and "model run: prompt v1" in out and fake_endpoint[-1] == ("all", "v1")
    with pytest.raises(SystemExit) as exit_info:
        main(["extract", str(SEED_DOC), "--mode", "model"])
    assert exit_info.value.code == 2


# --- API -------------------------------------------------------------------------------------

def test_api_mode_llm_without_an_endpoint_is_a_422(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    response = client.post("/extract", files={"file": (SEED_DOC.name, SEED_DOC.read_bytes(), "text/plain")},
                           data={"mode": "llm"})
    assert response.status_code == 422 and response.json()["error"] == "llm_not_configured"
    assert "NIANBAO_LLM_BASE_URL" in response.json()["reason_en"] and response.json()["reason_zh"]
    text = SEED_DOC.read_text("utf-8")
    response = client.post("/extract", json={"text": text, "mode": "llm"})
    assert response.status_code == 422 and response.json()["error"] == "llm_not_configured"
    response = client.post("/extract", json={"text": text, "mode": "model"})
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    response = client.post("/extract", files={"file": ("a.txt", text.encode(), "text/plain")},
                           data={"mode": "sometimes"})
    assert response.status_code == 422 and response.json()["error"] == "invalid_mode"
    response = client.post("/extract", json={"text": text, "mode": "deterministic"})
    assert response.status_code == 200 and response.json()["extraction"]["mode"] == "deterministic"


def test_api_model_failure_is_a_200_with_the_record(make_client: Callable[..., TestClient],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def default_reader(settings: Any, scope: str, version: str) -> ModelReader:
        assert settings.llm_model == "fake-model"
        return lambda doc, sections: _run({}, failures=["timeout", "http_5xx"], calls=2)

    monkeypatch.setattr("service.pipeline.default_reader", default_reader)
    client = make_client(llm_base_url="http://127.0.0.1:9/v1", llm_model="fake-model")
    response = client.post("/extract", files={"file": (SEED_DOC.name, SEED_DOC.read_bytes(), "text/plain")})
    assert response.status_code == 200, response.text
    info = response.json()["extraction"]
    assert info["mode"] == "llm" and info["failures"] == ["timeout", "http_5xx"] and info["calls"] == 2
    stored = client.get(f"/extractions/{info['id']}")
    assert stored.status_code == 200 and stored.json()["extraction"]["failures"] == ["timeout", "http_5xx"]
    response = client.post("/extract", json={"text": SEED_DOC.read_text("utf-8"), "mode": "llm",
                                             "llm_scope": "all"})
    assert response.status_code == 200 and response.json()["extraction"]["llm_scope"] == "all"


# --- eval ------------------------------------------------------------------------------------

def _seed_set(tmp_path: Path) -> tuple[Path, Path]:
    gold_dir, docs_dir = tmp_path / "gold", tmp_path / "docs"
    gold_dir.mkdir()
    docs_dir.mkdir()
    (gold_dir / "g.json").write_text(json.dumps(SEED_GOLD, ensure_ascii=False), "utf-8")
    (docs_dir / SEED_DOC.name).write_bytes(SEED_DOC.read_bytes())
    return gold_dir, docs_dir


def test_eval_record_then_replay_offline(tmp_path: Path, no_model: None, fake_endpoint: list[tuple[str, str]],
                                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    gold_dir, docs_dir = _seed_set(tmp_path)
    rec = tmp_path / "rec"
    assert main(["eval", str(gold_dir), str(docs_dir), "--mode", "llm", "--record", str(rec), "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out)["overall"]
    assert (rec / "v1" / f"{SEED_DOC.name}.json").exists()
    monkeypatch.delenv("NIANBAO_LLM_BASE_URL")  # offline: no endpoint at all
    assert main(["eval", str(gold_dir), str(docs_dir), "--mode", "llm", "--replay", str(rec), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)["overall"]
    assert len(fake_endpoint) == 1
    for key in ("field_accuracy", "review_rate", "calibration", "model"):
        assert replayed[key] == recorded[key]
    assert main(["eval", str(gold_dir), str(docs_dir), "--mode", "deterministic", "--replay", str(rec)]) == 2


def test_eval_prints_calibration_per_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--mode", "deterministic"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    cal = lines.index("calibration (level: fields, right, share right):")
    counts = {ln.split()[0]: int(ln.split()[1]) for ln in lines[cal + 1: cal + 4]}
    fields = int(re.search(r"fields \d+/(\d+)", lines[-1]).group(1))  # type: ignore[union-attr]
    assert set(counts) == {"high", "medium", "low"} and sum(counts.values()) == fields


def test_eval_compare_lists_what_a_prompt_broke_and_fails_beyond_tolerance(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from service.evaluate import save_run

    gold_dir, docs_dir = _seed_set(tmp_path)
    doc, sections = _sections(SEED_DOC)
    rec = tmp_path / "rec"
    save_run(rec, "v1", SEED_DOC.name, reader_from(SEED_GOLD, right)(doc, sections))
    chosen = {p for p in SEED_GOLD["fields"] if p.startswith("active_disclosure.")
              and isinstance(SEED_GOLD["fields"][p], int)}
    save_run(rec, "v2", SEED_DOC.name, reader_from(SEED_GOLD, plausible_wrong(1, chosen))(doc, sections))
    args = ["eval", str(gold_dir), str(docs_dir), "--mode", "llm", "--replay", str(rec)]
    assert main([*args, "--prompt", "v1", "--baseline", "v1"]) == 0
    assert "no section worse" in capsys.readouterr().out
    code = main([*args, "--prompt", "v2", "--baseline", "v1"])
    out = capsys.readouterr().out
    assert "baseline v1" in out and "candidate v2" in out and "tokens in / out" in out
    # Wrong grounded answers end low with the parser's value: accuracy holds, the review rate rises.
    review = next(ln for ln in out.splitlines() if ln.startswith("review rate"))
    assert code == 0 and review.split()[-1].startswith("+")
    assert main([*args, "--prompt", "v2", "--baseline", "v1", "--tolerance", "-1"]) == 1


def test_compare_lists_fixed_and_broken_fields_and_the_worse_sections() -> None:
    from service.evaluate import DocScore, compare, score

    ex = extract(SEED_DOC)
    gold_a = json.loads(json.dumps(SEED_GOLD))
    gold_b = json.loads(json.dumps(SEED_GOLD))
    gold_a["fields"]["meta.report_year"] = 1999  # baseline wrong here
    gold_b["fields"]["applications.granted.total"] = -1  # candidate wrong here
    base_doc, cand_doc = score(ex, gold_a, "d"), score(ex, gold_b, "d")
    base_all, cand_all = DocScore(document="overall"), DocScore(document="overall")
    base_all.merge(base_doc)
    cand_all.merge(cand_doc)
    result = compare(([base_doc], base_all), ([cand_doc], cand_all), 0.5)
    assert [f["path"] for f in result["fixed"]] == ["meta.report_year"]
    assert [f["path"] for f in result["broke"]] == ["applications.granted.total"]
    assert result["worse_sections"] == ["applications"]


def test_recorded_answers_are_as_accurate_as_deterministic_with_a_lower_review_rate(
        capsys: pytest.CaptureFixture[str]) -> None:
    """CI's LLM eval path: recorded answers (a test double's, made from gold), no endpoint."""
    for name in SETS:
        gold, docs = EVALS / "gold" / name, EVALS / "docs" / name
        recorded = EVALS / "recorded" / name
        assert any(recorded.rglob("*.json")), recorded
        _, det = run_eval(gold, docs, mode="deterministic")
        assert main(["eval", str(gold), str(docs), "--mode", "llm", "--replay", str(recorded), "--json"]) == 0
        llm = json.loads(capsys.readouterr().out)["overall"]
        assert llm["field_accuracy"] >= (det.fields.rate or 0.0)
        assert llm["model"]["failures"] == 0 and llm["model"]["calls"] > 0
        det_review = det.low / det.fields.total
        assert llm["review_rate"] < det_review or llm["review_rate"] == det_review == 0.0
        assert llm["calibration"]["high"]["fields"] > 0 and llm["calibration"]["high"]["share_right"] == 1.0


# --- end to end through the test double (real HTTP, the real openai + instructor clients) ------

def _double_settings(base_url: str, mode: Any = "tools", **more: Any) -> Settings:
    return Settings(llm_base_url=base_url, llm_model="test-double", llm_api_key="none", llm_cache_dir="",
                    llm_instructor_mode=mode, **more)


def _through_double(gold: dict[str, Any], doc_path: Path, script_for: Callable[[str, str], Any],
                    mode: str = "tools", scope: str = "all", **more: Any) -> Extraction:
    from tests.llm_double import LLMDouble

    data = doc_path.read_bytes()
    text = extract_bytes(data, doc_path.name, mode="deterministic")[0].text
    with LLMDouble(script_for(text, gold["fields"]["meta.template"])) as double:
        return extract_bytes(data, doc_path.name, mode="llm", settings=_double_settings(double.base_url, mode, **more),
                             llm_scope=scope)[1]


@pytest.mark.parametrize("mode", ["tools", "json_schema"])
@pytest.mark.parametrize(("gold", "doc_path"), [CORPUS[1], CORPUS[-2]], ids=[IDS[1], IDS[-2]])
def test_double_answering_right_keeps_every_value_and_lowers_nothing(gold: dict[str, Any], doc_path: Path,
                                                                       mode: str) -> None:
    from tests.llm_double import gold_script

    det = extract(doc_path)
    ex = _through_double(gold, doc_path, lambda text, tpl: gold_script(gold["fields"], tpl, text), mode)
    assert ex.extraction.mode == "llm" and ex.extraction.instructor_mode == mode
    assert ex.extraction.calls == 4 and not ex.extraction.failures and ex.extraction.usage.prompt_tokens > 0
    assert not wrong_at(ex, gold, {"high", "medium", "low"})
    assert sum(f.level == "low" for f in ex.fields) <= sum(f.level == "low" for f in det.fields)
    assert sum(f.level == "high" for f in ex.fields) > sum(f.level == "high" for f in det.fields)
    assert any("readers_agree" in f.flags for f in ex.fields)


@pytest.mark.parametrize("kind", ["plausible_wrong", "random"])
@pytest.mark.parametrize(("gold", "doc_path"), CORPUS, ids=IDS)
def test_double_answering_wrong_everywhere_never_makes_a_wrong_high(gold: dict[str, Any], doc_path: Path,
                                                                     kind: str) -> None:
    from tests.llm_double import (
        Reply,
        Request,
        plausible_wrong,
        prose_answer,
        random_cells,
        table_answer,
    )
    from tests.llm_double import Script as DoubleScript

    def script(text: str, template: str) -> DoubleScript:
        cell = plausible_wrong(text, seed=5) if kind == "plausible_wrong" else random_cells(seed=5)
        rng = random.Random(5)
        numbers = _numbers(text)

        def lie(path: str, v: Any) -> Any:
            return int(rng.choice([n for n in numbers if n != _printed(v)])) \
                if isinstance(v, int) and not isinstance(v, bool) else v

        def answer(req: Request) -> Reply:
            if req.kind == "prose":
                return Reply(payload=prose_answer(gold["fields"], text, lie))
            return Reply(payload=table_answer(str(req.kind), template, gold["fields"], cell))

        return answer

    ex = _through_double(gold, doc_path, script)
    assert not ex.extraction.failures, ex.extraction.failures
    assert not wrong_at(ex, gold, {"high"}), wrong_at(ex, gold, {"high"})


@pytest.mark.parametrize(("gold", "doc_path"), CORPUS, ids=IDS)
def test_double_answering_wrong_on_chosen_cells_ends_them_low(gold: dict[str, Any], doc_path: Path) -> None:
    """Plausible wrong numbers: another value of the same row (a column shift), which the reader
    grounds in the row; a lie it cannot ground changes nothing."""
    from tests.llm_double import Reply, Request, gold_script, table_answer
    from tests.llm_double import Script as DoubleScript

    doc, sections = _sections(doc_path)
    regions = {s.section: doc.text[s.span[0]:s.span[1]] for s in sections
               if s.span is not None and s.section in ("active_disclosure", "applications", "reviews_and_litigation")}
    rng = random.Random(doc_path.name)
    cells = sorted(p for p, v in gold["fields"].items() if p.split(".")[0] in regions and isinstance(v, int)
                   and not isinstance(v, bool))
    chosen = set(rng.sample(cells, min(10, len(cells))))
    lies: dict[str, int] = {}
    unprintable: set[str] = set()

    def script(text: str, template: str) -> DoubleScript:
        right_answers = gold_script(gold["fields"], template, text)

        def cell(path: str, v: Any) -> str:
            if path not in chosen:
                return "" if v is None else _printed(v)
            # A column shift: another value printed in the same row; else any number in the table.
            row = path.rsplit(".", 1)[0]
            numbers = sorted({_printed(w) for p, w in gold["fields"].items() if p.rsplit(".", 1)[0] == row
                              and isinstance(w, int) and _printed(w) != _printed(v)}) \
                or [n for n in _numbers(regions[path.split(".")[0]]) if n != _printed(v)]
            if not numbers:  # a table of zeros: any lie is printed nowhere in it
                numbers = ["9"]
                unprintable.add(path)
            lies[path] = int(random.Random(path).choice(numbers))
            return str(lies[path])

        def answer(req: Request) -> Reply:
            if req.kind in regions:
                return Reply(payload=table_answer(str(req.kind), template, gold["fields"], cell))
            return right_answers(req)

        return answer

    ex = _through_double(gold, doc_path, script)
    grounded = 0
    assert len(lies) >= len(chosen) // 2
    for path in lies:  # a row the answer shape leaves out (a sub-row the report prints) is not asked
        f = ex.field(path)
        assert f is not None and f.sources.get("llm") == lies[path]
        if "llm_ungrounded" in f.flags:  # the lie was not found where the cell stands: nothing changes
            assert f.value == gold["fields"][path]
            continue
        grounded += 1
        assert f.level == "low" and "llm_parser_conflict" in f.flags, (path, f.value, f.level, f.flags)
        assert any(fd.kind == "llm_parser_conflict" and fd.path == path for fd in ex.findings)
    assert grounded >= len(set(lies) - unprintable) // 2
    assert not wrong_at(ex, gold, {"high", "medium"})


def test_double_failing_every_call_is_a_200_from_the_parsers(make_client: Callable[..., TestClient]) -> None:
    from tests.llm_double import LLMDouble, Reply

    replies = [Reply(status=500), Reply(content="{not json"), Reply(status=503), Reply(content="I cannot help")] * 4
    with LLMDouble(replies) as double:
        client = make_client(llm_base_url=double.base_url, llm_model="test-double", llm_api_key="none",
                             llm_cache_dir="", llm_max_retries=0)
        response = client.post("/extract", data={"mode": "llm", "llm_scope": "all"},
                               files={"file": (SEED_DOC.name, SEED_DOC.read_bytes(), "text/plain")})
    assert response.status_code == 200, response.text
    body = Extraction.model_validate(response.json())
    assert body.extraction.mode == "llm" and len(body.extraction.failures) == 4
    det = extract(SEED_DOC)
    assert [(f.path, f.value, f.level) for f in body.fields] == [(f.path, f.value, f.level) for f in det.fields]


def test_eval_refuses_a_prompt_version_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--mode", "llm", "--prompt", "v9", "--replay", str(EVALS / "recorded" / "seeds")]) == 2
    assert "v9" in capsys.readouterr().err
    assert main(["eval", "--prompt", "v9", "--baseline", "v1"]) == 2
    assert "no prompt version v9" in capsys.readouterr().err


def _generated() -> list[tuple[str, int, str]]:
    from tests.corpus.render import FAMILIES, FAMILY_TEMPLATES, LOST_FAMILIES

    out = []
    for family in (*FAMILIES, *LOST_FAMILIES):
        for seed in (11, 12):
            templates = FAMILY_TEMPLATES.get(family, ("2021", "2019"))
            out.append((family, seed, templates[seed % len(templates)]))
    return out


@pytest.mark.parametrize(("family", "seed", "template"), _generated())
def test_generated_reports_wrong_answers_never_high_right_answers_never_wrong(family: str, seed: int,
                                                                              template: str) -> None:
    """The generated corpus of every layout family (tests/corpus): the model answering
    plausible-wrong or random on every cell leaves no wrong value at high; answering right, it
    makes no value wrong that the parser alone read right or flagged low."""
    from tests.corpus.render import render
    from tests.corpus.values import generate_values

    values = generate_values(random.Random(seed), template, other_subrows=bool(seed % 2), blanks=seed % 3)
    data, filename = render(values, template, family, seed=seed)
    gold = {"fields": values}
    det = extract_bytes(data, filename, mode="deterministic")[1]
    for answer in (plausible_wrong(seed), random_answer(seed)):
        ex = extract_bytes(data, filename, mode="llm", reader=reader_from(gold, answer))[1]
        assert not wrong_at(ex, gold, {"high"}), (family, seed, wrong_at(ex, gold, {"high"}))
    ex = extract_bytes(data, filename, mode="llm", reader=reader_from(gold, right))[1]
    assert len(wrong_at(ex, gold, {"high", "medium"})) <= len(wrong_at(det, gold, {"high", "medium"}))
    assert sum(f.level == "low" for f in ex.fields) <= sum(f.level == "low" for f in det.fields)
