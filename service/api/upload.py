"""Reading POST /extract's body (multipart file or JSON text) within the upload size limit.

The limit is enforced twice without ever holding an oversized body: a declared Content-Length
over it is refused before reading, and the bytes actually received are counted while streaming
(a chunked upload declares no length). A refused body is then read to its end and dropped (up
to a bound), so that the client reads the 413 instead of a connection reset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from service.api.errors import BadRequest, InvalidRequest, UnsupportedMediaType
from service.api.public import ExtractTextRequest
from service.errors import TooLarge
from service.ingest.filename import clean_filename
from service.ingest.limits import empty_file

# Room for multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# After a 413, how long we keep reading (and dropping) the rest of the body so that the client
# can read the answer; POST /extract reads at most DRAIN_FACTOR × the upload limit more.
DRAIN_SECONDS = 30.0
DRAIN_FACTOR = 4


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None
    mode: str | None = None  # auto | deterministic | llm (service.pipeline checks it)
    llm_scope: str | None = None  # doubtful | all


# The reading options of POST /extract and POST /batches, as OpenAPI form properties.
FORM_OPTIONS: dict[str, dict[str, Any]] = {
    "mode": {"type": "string", "enum": ["auto", "deterministic", "llm"], "default": "auto"},
    "llm_scope": {"type": "string", "enum": ["doubtful", "all"], "default": "doubtful"},
}


def multipart_body(file: dict[str, Any], other_media: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAPI request body (openapi_extra): a multipart form of `file` and the reading
    options, and `other_media` (media type: its content) besides."""
    form = {"type": "object", "required": ["file"], "properties": {"file": file, **FORM_OPTIONS}}
    content = {"multipart/form-data": {"schema": form}, **(other_media or {})}
    return {"requestBody": {"required": True, "content": content}}


class ExtractRequest(ExtractTextRequest):
    """POST /extract as JSON, with the model options (issue 8) besides the text."""

    mode: Literal["auto", "deterministic", "llm"] | None = None
    llm_scope: Literal["doubtful", "all"] | None = None


async def read_upload(request: Request, max_bytes: int, *, drain_bytes: int = 0) -> Upload:
    """The document bytes and filename of a POST /extract request, or a NianbaoError.

    Refusing an oversized body must not leave it unread: a server that closes the connection
    with unread data makes the TCP stack answer with a reset, and a client that sends its whole
    body before reading (urllib, anything sending `Connection: close`) then sees "connection
    reset" instead of the 413. So after a 413 up to `drain_bytes` more of the body are read and
    dropped (never held), for DRAIN_SECONDS at most. A client waiting for `100 Continue` has
    sent nothing yet: it is answered at once.
    """
    body = _Body(request)
    try:
        return await _read(body, max_bytes)
    except TooLarge:
        if drain_bytes > 0 and not _expects_continue(request):
            await body.discard_rest(drain_bytes)
        raise


async def _read(body: _Body, max_bytes: int) -> Upload:
    media_type = body.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        upload = await _read_multipart(body.limited(max_bytes + MULTIPART_OVERHEAD_BYTES, max_bytes))
    elif media_type == "application/json" or media_type.endswith("+json"):
        # A JSON string may spell each CJK character as a 6-byte \uXXXX escape (3 bytes in UTF-8).
        upload = await _read_json(body.limited(2 * max_bytes + MULTIPART_OVERHEAD_BYTES, max_bytes))
    else:
        raise UnsupportedMediaType(
            f"send the report as multipart/form-data (field 'file') or as JSON {{\"text\": ...}}, "
            f"not {media_type or 'a body without Content-Type'}",
            f"请以 multipart/form-data（字段 file）或 JSON {{\"text\": ...}} 提交报告，"
            f"不支持 {media_type or '无 Content-Type 的请求体'}",
        )
    if len(upload.data) > max_bytes:
        raise _too_large(max_bytes)
    if not upload.data:
        raise empty_file()
    return upload


def _too_large(max_bytes: int) -> TooLarge:
    return TooLarge(
        f"the upload is larger than the limit of {max_bytes} bytes",
        f"上传内容超过 {max_bytes} 字节的上限",
    )


def _expects_continue(request: Request) -> bool:
    return request.headers.get("expect", "").strip().lower() == "100-continue"


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length", "").strip()
    return int(declared) if declared.isdigit() else None


class _Body:
    """The request's body stream, counted, knowing whether its last chunk has been read (asking
    for more after that would wait until the client hangs up)."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.received = 0
        self.ended = False

    async def receive(self) -> Message:
        message = await self.request.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.ended = not message.get("more_body", False)
        else:
            self.ended = True  # http.disconnect: nothing more will come
        return message

    def limited(self, body_limit: int, max_bytes: int) -> Request:
        """A view of the request whose body stream refuses to go past `body_limit` bytes."""
        declared = _declared_length(self.request)
        if declared is not None and declared > body_limit:
            raise _too_large(max_bytes)

        async def counting_receive() -> Message:
            message = await self.receive()
            if self.received > body_limit:
                raise _too_large(max_bytes)
            return message

        limited_receive: Receive = counting_receive
        return Request(self.request.scope, receive=limited_receive)

    async def discard_rest(self, max_bytes: int) -> None:
        """Read and drop the rest of the body: at most `max_bytes` more, for DRAIN_SECONDS."""
        declared = _declared_length(self.request)
        if self.ended or (declared is not None and declared - self.received > max_bytes):
            return  # nothing left, or more than we would read anyway: answer now
        start = self.received
        with anyio.move_on_after(DRAIN_SECONDS):
            while not self.ended and self.received - start <= max_bytes:
                await self.receive()


async def _read_multipart(request: Request) -> Upload:
    async with request.form(max_files=1, max_fields=16) as form:
        files = [value for value in form.getlist("file") if isinstance(value, UploadFile)]
        if len(files) != 1:
            raise InvalidRequest(
                "the multipart form must carry exactly one file in the field 'file'",
                "multipart 表单须在字段 file 中包含且仅包含一个文件",
            )
        data = await files[0].read()
        return Upload(data=data, filename=clean_filename(files[0].filename),
                      mode=form_text(form.get("mode")), llm_scope=form_text(form.get("llm_scope")))


def form_text(value: object) -> str | None:
    """A plain form field's value (a file sent under that name is not one)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest("mode and llm_scope must be plain form fields, not files",
                             "mode 与 llm_scope 须为普通表单字段，不能是文件")
    return value.strip() or None


async def _read_json(request: Request) -> Upload:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", "请求体不是有效的 JSON") from exc
    try:
        parsed = ExtractRequest.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidRequest(
            f"expected {{\"text\": \"...\", \"filename\": \"optional\", \"mode\": \"auto|deterministic|llm\", "
            f"\"llm_scope\": \"doubtful|all\"}}: {problems}",
            "请求体应为 {\"text\": \"...\", \"filename\": \"可选\", \"mode\": \"auto|deterministic|llm\", "
            "\"llm_scope\": \"doubtful|all\"}",
        ) from exc
    if not parsed.text.strip():
        raise InvalidRequest("the text is empty", "文本为空")
    try:
        data = parsed.text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate sent as a \uD8xx escape
        raise InvalidRequest("the text is not valid Unicode", "文本不是有效的 Unicode") from exc
    return Upload(data=data, filename=clean_filename(parsed.filename), mode=parsed.mode, llm_scope=parsed.llm_scope)
