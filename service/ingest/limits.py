"""What one document may cost to read: the caps from the settings, and their refusals.

An upload within NIANBAO_MAX_UPLOAD_BYTES can still be a zip bomb, a PDF of 20,000 pages or a
20 MB single line; each reader checks these caps before the expensive step (declared sizes and
page counts first, then the bytes and characters actually produced), so the refusal itself is
cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.errors import DocumentTooLarge, TooLarge, UnreadableDocument


@dataclass(frozen=True)
class Limits:
    """The caps one ingest applies; tests pass their own, the service reads the settings."""

    max_pages: int
    max_chars: int
    max_inflated_bytes: int
    max_html_tags: int = 200_000

    @classmethod
    def from_settings(cls) -> Limits:
        """The caps of the environment's settings (NIANBAO_MAX_PAGES, …)."""
        from service.config import get_settings

        return cls.of(get_settings())

    @classmethod
    def of(cls, settings: Any) -> Limits:
        """The caps of settings the caller already holds (reading the environment again costs
        about a millisecond, a fifth of reading a text report)."""
        return cls(settings.max_pages, settings.max_chars, settings.max_inflated_bytes,
                   settings.max_html_tags)


def file_too_large(limit: int) -> TooLarge:
    """A file (on the command line, in a batch or a zip) over NIANBAO_MAX_UPLOAD_BYTES."""
    return TooLarge(
        f"the file is larger than the limit of {limit} bytes (NIANBAO_MAX_UPLOAD_BYTES)",
        f"文件超过 {limit} 字节的上限（NIANBAO_MAX_UPLOAD_BYTES）",
    )


def empty_file() -> UnreadableDocument:
    return UnreadableDocument("the file is empty", "文件为空")


def too_many_pages(limit: int, pages: int | None = None) -> DocumentTooLarge:
    """`pages` when the PDF says how many it has; None when we stopped counting past the limit."""
    en = f"{pages} pages, more than" if pages is not None else "more pages than"
    zh = f"共 {pages} 页，" if pages is not None else ""
    return DocumentTooLarge(
        f"the PDF has {en} the limit of {limit} (NIANBAO_MAX_PAGES); an annual report has 5-60",
        f"PDF {zh}超过 {limit} 页的上限（NIANBAO_MAX_PAGES）；年度报告通常为 5-60 页",
    )


def too_many_chars(limit: int) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"the document's text is longer than the limit of {limit} characters (NIANBAO_MAX_CHARS); "
        "an annual report has fewer than 200,000",
        f"文档文字超过 {limit} 字符的上限（NIANBAO_MAX_CHARS）；年度报告通常不足 20 万字",
    )


def too_much_inflated(limit: int, part: str) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"the compressed part {part} inflates to more than the limit of {limit} bytes "
        "(NIANBAO_MAX_INFLATED_BYTES): a damaged file or a zip bomb",
        f"压缩包中的 {part} 解压后超过 {limit} 字节的上限（NIANBAO_MAX_INFLATED_BYTES）：文件损坏或为压缩炸弹",
    )


def check_chars(count: int, limits: Limits) -> None:
    if count > limits.max_chars:
        raise too_many_chars(limits.max_chars)


def check_tags(markup: str, limits: Limits) -> None:
    """Refuse markup with more tags than the limit before parsing it: every element costs
    memory in the parsed tree and time in the renderer, text or not (`<` counts as a tag)."""
    if markup.count("<") > limits.max_html_tags:
        raise DocumentTooLarge(
            f"the page has more than {limits.max_html_tags} HTML tags (NIANBAO_MAX_HTML_TAGS); "
            "an annual report's page has a few thousand",
            f"网页的 HTML 标签超过 {limits.max_html_tags} 个的上限（NIANBAO_MAX_HTML_TAGS）；年度报告网页通常只有几千个",
        )
