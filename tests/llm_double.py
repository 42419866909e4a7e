"""A TEST DOUBLE of an OpenAI-compatible chat-completions server, started by the tests.

It is not a model and never stands in for one in a figure: it answers what each test scripts
(right answers built from gold labels, plausible wrong answers, random schema-valid answers,
malformed JSON, slow answers, 429 with Retry-After, 5xx, truncation, refusals), in the shape the
request asks for: `tool_calls` when the request carries `tools` (instructor's tools mode), raw JSON
content when it carries `response_format` (json_schema mode), a fenced ```json block otherwise
(md_json mode). Every request is recorded so that tests can assert what was sent.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.model.schema import PROSE, TABLES, prose_fields, prose_name, table_spec
from service.model.tokens import estimate_tokens


@dataclass
class Request:
    """One request the double received."""

    path: str
    body: dict[str, Any]
    raw: str  # the body exactly as sent (to check that Chinese was not \\u-escaped)
    at: float

    @property
    def text(self) -> str:
        """Every message's content, joined."""
        parts = []
        for m in self.body.get("messages", []):
            c = m.get("content")
            parts.append(c if isinstance(c, str) else json.dumps(c, ensure_ascii=False))
        return "\n".join(parts)

    @property
    def kind(self) -> str | None:
        """Which call this is (a table name or "prose"), read from the prompt's task marker."""
        m = re.search(r"\[task:([a-z_]+)\]", self.text)
        return m.group(1) if m else None


@dataclass
class Reply:
    """What the double answers to one request.

    `payload`: an object rendered in the request's mode; `raw`: answer text put verbatim where
    the mode expects the JSON (malformed JSON); `content`: the message text verbatim
    (malformed JSON, a refusal in words); `refusal`: the protocol's refusal field; `status` and
    `headers` for errors (429 + Retry-After, 5xx); `delay` seconds before answering (past the
    client's timeout: a timeout); `finish_reason` "length" for a truncated answer.
    """

    payload: Any = None
    raw: str | None = None
    content: str | None = None
    refusal: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    finish_reason: str = "stop"
    completion_tokens: int | None = None


Script = Callable[[Request], Reply]


def _render(req: Request, reply: Reply) -> dict[str, Any]:
    body = req.body
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": reply.refusal}
    if reply.content is not None:
        message["content"] = reply.content
        text = reply.content
    elif reply.payload is not None or reply.raw is not None:
        text = reply.raw if reply.raw is not None else json.dumps(reply.payload, ensure_ascii=False)
        tools = body.get("tools") or []
        if tools:
            name = tools[0]["function"]["name"]
            message["tool_calls"] = [{"id": "call_double_1", "type": "function",
                                      "function": {"name": name, "arguments": text}}]
        elif body.get("response_format"):
            message["content"] = text
        else:
            message["content"] = f"```json\n{text}\n```"
    else:
        text = ""
    if reply.finish_reason == "length" and message.get("tool_calls"):
        message["tool_calls"][0]["function"]["arguments"] = text[: len(text) // 2]
    elif reply.finish_reason == "length" and message["content"]:
        message["content"] = message["content"][: len(message["content"]) // 2]
    prompt = estimate_tokens(req.text)
    completion = reply.completion_tokens if reply.completion_tokens is not None else estimate_tokens(text)
    return {
        "id": "chatcmpl-double", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "test-double"),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


class LLMDouble:
    """The test double's HTTP server: `with LLMDouble(script) as d: ... d.base_url ... d.requests`.

    `script` is a function Request → Reply, or an iterable of Replies answered in order (an
    exhausted queue answers 500, so a test that sends more than it scripted sees failures).
    """

    def __init__(self, script: Script | Iterable[Reply]) -> None:
        if callable(script):
            self._script: Script = script
        else:
            queue = deque(script)
            lock = threading.Lock()

            def pop(_: Request) -> Reply:
                with lock:
                    if queue:
                        return queue.popleft()
                return Reply(status=500, payload={"error": {"message": "test double: script exhausted"}})

            self._script = pop
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the double is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> LLMDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stall)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
                return

            def do_POST(self) -> None:  # noqa: N802 - stdlib's name
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode("utf-8")
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, {"error": {"message": f"test double: no route {self.path}"}}, {})
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "test double: body is not JSON"}}, {})
                    return
                req = Request(self.path, body, raw, time.monotonic())
                with double._lock:
                    double.requests.append(req)
                reply = double._script(req)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    payload = reply.payload or {"error": {"message": f"test double: status {reply.status}"}}
                    self._send(reply.status, payload, reply.headers)
                    return
                self._send(200, _render(req, reply), reply.headers)

            def _send(self, status: int, payload: Any, headers: Mapping[str, str]) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json; charset=utf-8")
                    self.send_header("content-length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


# --- answers built from gold labels ---------------------------------------------------------

def _printed(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def table_answer(kind: str, template: str, gold: Mapping[str, Any],
                 cell: Callable[[str, Any], str] = lambda path, v: _printed(v)) -> dict[str, Any]:
    """A table answer from gold values; `cell(path, gold_value)` prints each cell (override to lie)."""
    spec = table_spec(kind, template)
    printed_subrows = {r.subrow_of for r in spec.rows
                       if r.subrow_of and any(f"{kind}.{r.key}.{c[0]}" in gold for c in r.columns)}
    rows = []
    for r in spec.rows:
        paths = [f"{kind}.{r.key}.{c[0]}" for c in r.columns]
        if not any(p in gold for p in paths) or r.key in printed_subrows:
            continue  # not printed, or printed only as its sub-rows
        rows.append({"key": r.key, "label": r.label, "cells": [cell(p, gold.get(p)) for p in paths]})
    return {"table": kind, "rows": rows}


def _quote_for(text: str, value: Any) -> str:
    """A verbatim piece of `text` around the value's last printed occurrence ("" if none); a
    date as the report prints it (2022年1月17日)."""
    printed = _printed(value)
    if not printed:
        return ""
    date = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", printed)
    if date:
        y, mo, d = date.groups()
        found = list(re.finditer(rf"{y}\s*年\s*0?{int(mo)}\s*月\s*0?{int(d)}\s*日", text))
        return found[-1].group(0) if found else ""
    m = re.search(rf"(?<!\d){re.escape(printed)}(?!\d)", text) if printed[0].isdigit() else None
    i = m.start() if m else text.find(printed)
    if i < 0:
        return ""
    return text[max(0, i - 8): i + len(printed) + 4]


def prose_answer(gold: Mapping[str, Any], text: str,
                 value: Callable[[str, Any], Any] = lambda path, v: v) -> dict[str, Any]:
    """A prose answer from gold values with real quotes from `text` (`value` may lie)."""
    out: dict[str, Any] = {}
    for path, _meaning, typ in prose_fields():
        v = value(path, gold.get(path))
        quote = "" if v is None or typ == "bool" else _quote_for(text, v)
        if typ == "bool" and v is not None:
            quote = _quote_for(text, "信息处理费") or ""
        out[prose_name(path)] = {"value": v, "quote": quote}
    return out


def gold_script(gold: Mapping[str, Any], template: str, text: str) -> Script:
    """Right answers for every call kind, from gold labels."""

    def answer(req: Request) -> Reply:
        kind = req.kind
        if kind in TABLES:
            return Reply(payload=table_answer(kind, template, gold))
        if kind == PROSE:
            return Reply(payload=prose_answer(gold, text))
        return Reply(status=400, payload={"error": {"message": "test double: unknown task"}})

    return answer


def plausible_wrong(text: str, seed: int = 0) -> Callable[[str, Any], str]:
    """A cell printer that answers a number that does occur in the text, but not the gold one."""
    rng = random.Random(seed)
    numbers = sorted(set(re.findall(r"\d+", text))) or ["7"]

    def cell(path: str, v: Any) -> str:
        choices = [n for n in numbers if n != _printed(v)] or ["9999"]
        return rng.choice(choices)

    return cell


def random_cells(seed: int = 0) -> Callable[[str, Any], str]:
    """A cell printer that answers random schema-valid strings: numbers, blanks, words."""
    rng = random.Random(seed)

    def cell(path: str, v: Any) -> str:
        return rng.choice(["", str(rng.randint(0, 500)), str(rng.randint(0, 9)), "无", "-"])

    return cell
