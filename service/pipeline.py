"""The one pipeline the CLI, the API and the eval harness call: ingest → locate → parse → (model) →
check → reconcile.

The mode decides whether a model reads too: `deterministic` never calls one, `llm` requires one,
`auto` uses one when `NIANBAO_LLM_BASE_URL` and `NIANBAO_LLM_MODEL` are set. The model is asked
between reading and reconciling, so reconcile can weigh its answer cell by cell; whatever the model
does (time out, refuse, answer nonsense), the extraction completes from the parsers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from service.contract import DocumentInfo, Extraction, ExtractionInfo, Mode, Scope
from service.document import Document
from service.errors import NianbaoError, NoReportContent
from service.ingest import Limits, ingest
from service.readings import SectionReading

if TYPE_CHECKING:  # the model reader's record is imported when a model is asked (start-up)
    from service.model.run import ModelRun

DETERMINISTIC_NOTICE = (
    "No model endpoint configured: values come from the deterministic parsers only. "
    "未配置模型服务：所有数值仅来自确定性解析器。"
)
DETERMINISTIC_CHOSEN_NOTICE = (
    "Deterministic mode requested: values come from the deterministic parsers only. "
    "已选择确定性模式：所有数值仅来自确定性解析器。"
)
MODES: tuple[str, ...] = get_args(Mode)
SCOPES: tuple[str, ...] = get_args(Scope)
DEFAULT_PROMPT_VERSION = "v1"

# What reads a document with a model: (document, the parsers' sections) → the run's record.
# The default calls service.model.reader.read_with_model; the eval harness swaps in a recorder
# or a replayer, the tests a fake.
ModelReader = Callable[[Document, list[SectionReading]], "ModelRun"]


class ModelNotConfigured(NianbaoError):
    """`--mode llm` / `mode=llm` with no model endpoint configured."""

    status_code = 422
    code = "llm_not_configured"

    def __init__(self) -> None:
        super().__init__(
            "mode llm needs a model endpoint: set NIANBAO_LLM_BASE_URL and NIANBAO_LLM_MODEL "
            "(or use mode auto or deterministic)",
            "llm 模式需要模型服务：请设置 NIANBAO_LLM_BASE_URL 和 NIANBAO_LLM_MODEL（或改用 auto、deterministic 模式）",
        )


class InvalidMode(NianbaoError):
    """A mode or scope that is not one of the allowed words."""

    status_code = 422
    code = "invalid_mode"

    def __init__(self, what: str, value: object, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"{what} must be one of {', '.join(allowed)}, not {value!r}",
            f"{what} 只能是 {'、'.join(allowed)}，不能是 {value!r}",
        )


TABLE_SECTIONS = ("active_disclosure", "applications", "reviews_and_litigation")
_REPORT_HEADING = re.compile(r"政\s*府\s*信\s*息\s*公\s*开.{0,30}?(?:年\s*度\s*报\s*告|年\s*报)", re.S)


def looks_like_report(text: str) -> bool:
    """A report with its tables missing is still a report; anything else is refused."""
    return bool(_REPORT_HEADING.search(text[:3000]))


def model_configured(settings: Any) -> bool:
    """A model is configured when both its endpoint and its name are set."""
    return bool(getattr(settings, "llm_base_url", None)) and bool(getattr(settings, "llm_model", None))


def resolve_mode(mode: str | None, settings: Any, *, reader: ModelReader | None = None) -> Literal[
        "deterministic", "llm"]:
    """The mode an extraction runs in, or a refusal (before any byte is read): `llm` needs a
    configured endpoint unless a reader is given (the eval harness replaying recorded answers)."""
    mode = mode or "auto"
    if mode not in MODES:
        raise InvalidMode("mode", mode, MODES)
    if mode == "deterministic":
        return "deterministic"
    if reader is not None or model_configured(settings):
        return "llm"
    if mode == "llm":
        raise ModelNotConfigured()
    return "deterministic"


def check_scope(scope: str | None) -> Scope | None:
    if scope is None:
        return None
    if scope not in SCOPES:
        raise InvalidMode("llm_scope", scope, SCOPES)
    return scope  # type: ignore[return-value]


def extract_bytes(data: bytes, filename: str | None = None, *, mode: str | None = "auto",
                  settings: Any = None, llm_scope: str | None = None, prompt_version: str | None = None,
                  reader: ModelReader | None = None) -> tuple[Document, Extraction]:
    """Read a file's bytes end to end. Raises a NianbaoError subclass for unreadable input or a
    mode that cannot run (checked first, so a refused mode costs no reading)."""
    settings = _settings(settings)
    resolve_mode(mode, settings, reader=reader)
    check_scope(llm_scope)
    doc = ingest(data, filename, Limits.of(settings))
    return doc, extract_document(doc, mode=mode, settings=settings, llm_scope=llm_scope,
                                 prompt_version=prompt_version, reader=reader)


def extract_document(doc: Document, mode: str | None = "auto", settings: Any = None, *,
                     llm_scope: str | None = None, prompt_version: str | None = None,
                     reader: ModelReader | None = None) -> Extraction:
    """Read one document in `mode`; see the module docstring."""
    from service.parse.solve import deadline
    from service.read import read_document
    from service.reconcile import reconcile

    settings = _settings(settings)
    resolved = resolve_mode(mode, settings, reader=reader)
    scope: Scope = check_scope(llm_scope) or check_scope(getattr(settings, "llm_scope", None)) or "doubtful"
    version = prompt_version or getattr(settings, "llm_prompt_version", None) or DEFAULT_PROMPT_VERSION
    with deadline():
        sections = read_document(doc)
    if not any(s.found for s in sections if s.section in TABLE_SECTIONS) and not looks_like_report(doc.text):
        raise NoReportContent(
            "no recognizable table and no annual-report heading: this does not look like a "
            "政府信息公开工作年度报告",
            "未找到可识别的表格，也没有年度报告标题：这不像政府信息公开工作年度报告",
        )
    run: ModelRun | None = None
    if resolved == "llm":
        run = _ask_model(doc, sections, reader or default_reader(settings, scope, version),
                         settings, version)
    fields, findings = reconcile(doc, sections, run)
    info = ExtractionInfo(id="ext_" + uuid.uuid4().hex[:16], mode=resolved, created_at=datetime.now(UTC))
    if run is None:
        info.notices.append(DETERMINISTIC_CHOSEN_NOTICE if mode == "deterministic" else DETERMINISTIC_NOTICE)
    else:
        _record_run(info, run, scope)
    return Extraction(
        document=DocumentInfo(
            id=doc.id, filename=doc.filename, sha256=doc.sha256, media_type=doc.media_type,
            chars=len(doc.text),
        ),
        extraction=info,
        fields=fields,
        findings=findings,
    )


def _settings(settings: Any) -> Any:
    if settings is not None:
        return settings
    from service.config import get_settings

    return get_settings()


def default_reader(settings: Any, scope: Scope, version: str) -> ModelReader:
    """The model reader over the configured endpoint (service.model.reader)."""
    def read(doc: Document, sections: list[SectionReading]) -> ModelRun:
        from service.model.reader import read_with_model  # type: ignore[import-not-found,unused-ignore]

        run: ModelRun = read_with_model(doc, sections, settings=settings, prompt_version=version, scope=scope)
        return run

    return read


def _ask_model(doc: Document, sections: list[SectionReading], reader: ModelReader, settings: Any,
               version: str) -> ModelRun:
    """The model's run; the reader promises never to raise, and if it breaks that promise the
    extraction still completes from the parsers, with the failure recorded."""
    from service.model.run import ModelRun

    try:
        return reader(doc, sections)
    except Exception as exc:  # failure is normal: the parsers' result stands
        return ModelRun(
            prompt_version=version,
            model=str(getattr(settings, "llm_model", None) or ""),
            instructor_mode=str(getattr(settings, "llm_instructor_mode", None) or ""),
            failures=[f"reader_error: {type(exc).__name__}: {exc}"[:300]],
        )


def _record_run(info: ExtractionInfo, run: ModelRun, scope: Scope) -> None:
    """What the model calls cost and how they failed, in `extraction` and its notices."""
    info.model = run.model or None
    info.prompt_version = run.prompt_version
    info.instructor_mode = run.instructor_mode or None
    info.llm_scope = scope
    info.usage = run.usage
    info.latency_ms = run.latency_ms
    info.retries = run.retries
    info.cost = run.cost
    info.calls = run.calls
    info.cached = run.cached
    info.failures = list(run.failures)
    info.asked = list(getattr(run, "asked", []))
    info.notices.append(
        f"Values read by the parsers and checked against the model {run.model} (prompt {run.prompt_version}, "
        f"scope {scope}): {run.calls} call(s), {run.cached} from the cache, {len(run.readings)} value(s) answered. "
        f"模型 {run.model}（提示词 {run.prompt_version}，范围 {scope}）复核了解析器读出的数值："
        f"调用 {run.calls} 次，其中缓存 {run.cached} 次，答复 {len(run.readings)} 个数值。"
    )
    if run.calls == 0 and run.cached == 0 and not run.failures:
        info.notices.append(
            "The model was asked nothing: every table the parsers read was already high (scope doubtful). "
            "未询问模型：解析器读出的表格均为高置信度（范围 doubtful）。"
        )
    for failure in run.failures:
        info.notices.append(
            f"A model call failed ({failure}); the values it would have checked come from the parsers alone. "
            f"模型调用失败（{failure}）；相关数值仅来自解析器。"
        )
