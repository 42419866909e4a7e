"""One structured call to an OpenAI-compatible endpoint through instructor, bounded and never raising.

The `openai` client carries the HTTP layer: a timeout, bounded retries of timeouts, 429 (it
honours `Retry-After`) and 5xx with backoff. instructor carries the structure layer: the
configured mode (tools / json_schema / md_json) and bounded re-asks when an answer fails the
response model. Requests in flight are bounded process-wide (one semaphore per configured limit,
held by the HTTP exchange only, shared by every extraction) and per extraction (the reader's pool). A
failure comes back as a short reason string, never as an exception.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx2
import instructor
import openai
from instructor.core import IncompleteOutputException, InstructorRetryException
from pydantic import BaseModel

from service.config import Settings
from service.model.prompts import Prompt

MODES = {"tools": instructor.Mode.TOOLS, "json_schema": instructor.Mode.JSON_SCHEMA, "md_json": instructor.Mode.MD_JSON}

_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def process_slots(limit: int) -> threading.BoundedSemaphore:
    """The process-wide bound on calls in flight for a given concurrency limit."""
    with _slots_lock:
        if limit not in _slots:
            _slots[limit] = threading.BoundedSemaphore(limit)
        return _slots[limit]


@dataclass
class CallResult:
    """What one call returned: the validated answer or a failure reason, and what it cost."""

    kind: str
    answer: BaseModel | None = None
    failure: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    latency_ms: float = 0.0
    cached: bool = False

    @property
    def retries(self) -> int:
        return max(0, self.requests - 1)


def _last_message(exc: BaseException) -> Any:
    completion = getattr(exc, "last_completion", None)
    try:
        return completion.choices[0] if completion is not None else None
    except (AttributeError, IndexError, TypeError):
        return None


def classify(exc: BaseException) -> str:
    """A failure's reason: timeout, http_429, http_5xx, malformed_json, schema_violation, …"""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for e in chain:
        if isinstance(e, openai.APITimeoutError):
            return "timeout"
        if isinstance(e, openai.RateLimitError):
            return "http_429"
        if isinstance(e, openai.APIStatusError):
            return "http_5xx" if e.status_code >= 500 else f"http_{e.status_code}"
        if isinstance(e, openai.APIConnectionError):
            return "connection"
        if isinstance(e, IncompleteOutputException):
            return "truncated"
    choice = _last_message(exc)
    message = getattr(choice, "message", None)
    if getattr(choice, "finish_reason", None) == "length":
        return "truncated"
    text = " ".join(str(e) for e in chain)
    if getattr(message, "refusal", None) or "Unable to generate a response due to" in text:
        return "refusal"
    content = getattr(message, "content", None) or ""
    if message is not None and not getattr(message, "tool_calls", None) and "{" not in content:
        return "refusal"  # an answer in words, with no structure at all
    if "json_invalid" in text or "Invalid JSON" in text or "JSONDecodeError" in text or "EOF while parsing" in text:
        return "malformed_json"
    if "\ntable\n" in text or "literal_error" in text and "table" in text:
        return "wrong_table"
    if isinstance(exc, InstructorRetryException):
        return "schema_violation"
    return "error"


_local = threading.local()


class _BoundedTransport(httpx2.BaseTransport):
    """The HTTP exchange itself holds a process-wide slot: backoff sleeps and the client's own
    work between re-asks do not, so the limit bounds requests in flight, as providers count them.
    Also counts the current call's requests (retries and re-asks included)."""

    def __init__(self, limit: int) -> None:
        self._inner = httpx2.HTTPTransport(limits=httpx2.Limits(max_connections=limit * 2,
                                                                max_keepalive_connections=limit * 2))
        self._slots = process_slots(limit)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        _local.requests = getattr(_local, "requests", 0) + 1
        with self._slots:
            response = self._inner.handle_request(request)
            response.read()  # the body arrives inside the slot, then the slot is free
        return response

    def close(self) -> None:
        self._inner.close()


_client_lock = threading.Lock()


def _client(settings: Settings) -> Any:
    with _client_lock:  # built once, not by every thread of the first burst
        return _build_client(settings.llm_base_url or "", settings.llm_api_key or "unused",
                             settings.llm_timeout_seconds, settings.llm_max_retries,
                             settings.llm_instructor_mode, settings.llm_concurrency)


@lru_cache(maxsize=16)
def _build_client(base_url: str, api_key: str, timeout: float, retries: int, mode: str, limit: int) -> Any:
    """One client per endpoint configuration, shared by every call in the process: its
    connection pool is reused (keep-alive) and nothing is rebuilt per call."""
    http = openai.DefaultHttpxClient(transport=_BoundedTransport(limit), timeout=timeout)
    raw = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=retries, http_client=http)
    return instructor.from_openai(raw, mode=MODES[mode])


def call(settings: Settings, kind: str, prompt: Prompt, response_model: type[BaseModel]) -> CallResult:
    """One structured call; counts every HTTP request it took (retries and re-asks included)."""
    result = CallResult(kind=kind)
    started = time.perf_counter()
    _local.requests = 0
    try:
        answer, completion = _client(settings).chat.completions.create_with_completion(
            model=settings.llm_model or "",
            response_model=response_model,
            max_retries=settings.llm_max_retries,  # re-asks after the first answer
            temperature=0,
            messages=[{"role": "system", "content": prompt.system},
                      {"role": "user", "content": prompt.user}],
        )
        usage = getattr(completion, "usage", None)
        result.answer = answer
        result.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        result.completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reason, by contract
        result.failure = f"{classify(exc)}: {kind}: {_short(exc)}"
        usage = getattr(exc, "total_usage", None) or getattr(getattr(exc, "last_completion", None), "usage", None)
        result.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        result.completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    finally:
        result.requests = _local.requests
        result.latency_ms = (time.perf_counter() - started) * 1000
    return result


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}"


class AnswerCache:
    """Answers keyed by (document sha256, prompt version, model, schema hash, call, prompt text),
    in one small SQLite file: a re-run of the same report makes no call."""

    def __init__(self, directory: str) -> None:
        self.path = Path(directory) / "answers.sqlite3" if directory else None

    @staticmethod
    def key(doc_sha: str, version: str, model: str, schema: str, kind: str, prompt: Prompt) -> str:
        sent = hashlib.sha256((prompt.system + "\x00" + prompt.user).encode("utf-8")).hexdigest()
        return hashlib.sha256("|".join([doc_sha, version, model, schema, kind, sent]).encode()).hexdigest()

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("create table if not exists answers (key text primary key, kind text, answer text,"
                     " prompt_tokens integer, completion_tokens integer, created real)")
        return conn

    def get(self, key: str) -> tuple[dict[str, Any], int, int] | None:
        if self.path is None or not self.path.exists():
            return None
        with closing(self._connect()) as conn:
            row = conn.execute("select answer, prompt_tokens, completion_tokens from answers where key = ?",
                               (key,)).fetchone()
        return (json.loads(row[0]), int(row[1]), int(row[2])) if row else None

    def put(self, key: str, result: CallResult) -> None:
        if self.path is None or result.answer is None:
            return
        blob = json.dumps(result.answer.model_dump(mode="json"), ensure_ascii=False)
        with closing(self._connect()) as conn, conn:
            conn.execute("insert or replace into answers values (?, ?, ?, ?, ?, ?)",
                         (key, result.kind, blob, result.prompt_tokens, result.completion_tokens, time.time()))
