"""Every refusal leaves the API in one JSON shape: {"error", "reason", "reason_zh", "reason_en"}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import NianbaoError

log = logging.getLogger(__name__)


class BadRequest(NianbaoError):
    """A body we cannot parse at all (broken JSON, broken multipart)."""

    status_code = 400
    code = "bad_request"


class InvalidRequest(NianbaoError):
    """A well-formed body that lacks what /extract needs (no file, empty text)."""

    status_code = 422
    code = "invalid_request"


class UnsupportedMediaType(NianbaoError):
    """A request body that is neither multipart/form-data nor JSON."""

    status_code = 415
    code = "unsupported_media_type"


class NotFound(NianbaoError):
    status_code = 404
    code = "not_found"


class InternalError(NianbaoError):
    """Our fault, not the input's: logged with its traceback, reported without it."""

    status_code = 500
    code = "internal_error"

    def __init__(self) -> None:
        super().__init__("internal error; it has been logged", "服务器内部错误，已记录")


def error_body(code: str, message_zh: str, message_en: str) -> dict[str, str]:
    return {
        "error": code,
        "reason": f"{message_zh} / {message_en}",
        "reason_zh": message_zh,
        "reason_en": message_en,
    }


def error_response(exc: NianbaoError) -> JSONResponse:
    return JSONResponse(status_code=exc.status_code, content=error_body(exc.code, exc.message_zh, exc.message_en),
                        headers=getattr(exc, "headers", None))


_HTTP_REASONS_ZH = {
    400: "请求无效",
    404: "未找到",
    405: "不支持该请求方法",
    413: "请求内容过大",
    415: "不支持的内容类型",
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


async def _nianbao_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NianbaoError)
    if exc.status_code >= 500:
        log.error("%s: %s", exc.code, exc.message_en)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message_en = str(exc.detail)
    message_zh = _HTTP_REASONS_ZH.get(exc.status_code, "请求失败")
    code = _HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
    return JSONResponse(
        status_code=exc.status_code, content=error_body(code, message_zh, message_en), headers=exc.headers
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message_en = "; ".join(_describe(error) for error in exc.errors()) or "invalid request"
    return JSONResponse(status_code=422, content=error_body("invalid_request", "请求参数无效", message_en))


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}"


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return error_response(InternalError())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NianbaoError, _nianbao_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
