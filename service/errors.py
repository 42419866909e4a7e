"""One exception root, so the CLI and the API can turn every refusal into a clear message."""

from __future__ import annotations


class NianbaoError(Exception):
    """A refusal the user can act on; carries a Chinese and an English reason."""

    status_code = 422
    code = "error"

    def __init__(self, message_en: str, message_zh: str | None = None) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh or message_en

    @property
    def reason(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


class UnreadableDocument(NianbaoError):
    """Empty, binary junk, undecodable text, a scan without a text layer."""

    code = "unreadable_document"


class UnsupportedFormat(NianbaoError):
    """A real format we do not read (e.g. .doc, .xlsx, images)."""

    status_code = 415
    code = "unsupported_format"


class NoReportContent(NianbaoError):
    """Readable text that is not an annual report at all (no table, no report heading)."""

    code = "no_report_content"


class TooLarge(NianbaoError):
    """An upload over the configured size limit."""

    status_code = 413
    code = "too_large"


class DocumentTooLarge(TooLarge):
    """A document within the upload limit that would cost too much to read: too many pages or
    characters, or a compressed part (a .docx's XML) that inflates past the limit."""

    code = "document_too_large"
