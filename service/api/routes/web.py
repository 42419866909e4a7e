"""The review web UI: `/` and its static files, served by the API itself (no CDN, works offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from service.api.errors import NotFound

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# nosniff: a browser must not guess a script out of served text; the CSP keeps the page to its own
# files (no CDN, no inline script), a second line of defence behind rendering report text escaped.
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(tags=["web"], include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = WEB_DIR / name
    # Only the UI's own files by their plain name: no path separators, no dot files, no other types.
    if "/" in name or "\\" in name or name.startswith(".") or path.suffix not in _MEDIA_TYPES or not path.is_file():
        raise NotFound(f"no static file {name!r}", f"没有静态文件 {name!r}")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)


@router.get("/")
def index() -> FileResponse:
    """The single page of the review UI."""
    return _file("index.html")


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """app.js and app.css (and nothing else from the package)."""
    return _file(name)
