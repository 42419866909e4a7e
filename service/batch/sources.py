"""The files of a batch: paths, folders, globs and `.zip` archives, each read within the limits.

A batch must go on past a bad file, so a file that cannot be taken (too large, an archive member
that inflates past the limit, a damaged archive) becomes a `Source` carrying its refusal instead
of an exception. Archive members are inflated through a counted stream that stops one byte past
NIANBAO_MAX_UPLOAD_BYTES (what ingest does for a .docx's XML): a member whose header lies about
its size costs no more than one that says the truth.
"""

from __future__ import annotations

import glob
import os
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from service.errors import NianbaoError, TooLarge, UnreadableDocument
from service.ingest.filename import clean_filename
from service.ingest.limits import empty_file, file_too_large

# An archive with more members than this is refused whole (a batch of a province has thousands).
MAX_MEMBERS = 20_000
_UTF8_NAME_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1


@dataclass(frozen=True)
class Source:
    """One file of a batch: `name` as the user knows it (`reports.zip/2023/a.pdf`), the bytes,
    or the reason it was refused before reading. A file registered by where it lies (`path`,
    and `member`, its name inside the zip at `path`) has no bytes yet: `load` reads them when
    its turn comes; `size` is then what the file system or the archive says."""

    name: str
    data: bytes | None
    refusal: NianbaoError | None = None
    path: str | None = None
    member: str | None = None
    size: int | None = None

    @property
    def filename(self) -> str | None:
        """The name the reader sees: the last part, cleaned."""
        return clean_filename(self.name)


class NoSuchInput(NianbaoError):
    """A path on the command line that names nothing (a typo is the user's, not a file's)."""

    code = "no_such_input"


def inflates_past(limit: int) -> TooLarge:
    return TooLarge(
        f"the archive member inflates to more than the upload limit of {limit} bytes "
        "(NIANBAO_MAX_UPLOAD_BYTES): a file too large, or a zip bomb",
        f"压缩包中的文件解压后超过 {limit} 字节的上传上限（NIANBAO_MAX_UPLOAD_BYTES）：文件过大或为压缩炸弹",
    )


def expand_paths(paths: Sequence[str]) -> list[Path]:
    """Files named, found under folders (recursively, hidden ones left out) or matched by globs,
    in the order given and each once. Raises NoSuchInput for a path or glob that names nothing."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += _files_under(path)
        elif path.is_file():
            found.append(path)
        elif any(ch in raw for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))]
            files = [f for m in matches for f in (_files_under(m) if m.is_dir() else [m]) if f.is_file()]
            if not files:
                raise NoSuchInput(f"no file matches {raw}", f"没有与 {raw} 匹配的文件")
            found += files
        else:
            raise NoSuchInput(f"no such file or folder: {raw}", f"文件或文件夹不存在：{raw}")
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _files_under(folder: Path) -> list[Path]:
    return sorted(
        f for f in folder.rglob("*")
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    )


def read_paths(paths: Iterable[Path], limit: int) -> Iterator[Source]:
    """Each file's Source, read one at a time (bounded: a huge file costs `limit` bytes)."""
    for path in paths:
        if path.suffix.lower() == ".zip":
            yield from _zip_on_disk(path, zip_members, limit)
            continue
        yield _read_file(str(path), path, limit)


def _read_file(name: str, path: str | Path, limit: int) -> Source:
    """A file on disk read within `limit` (one byte more tells it is too large), or why not."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        return Source(name, None, _unreadable_file(exc))
    return _checked(name, data, limit)


def _zip_on_disk(path: Path, members: Callable[[str, IO[bytes], int], Iterator[Source]],
             limit: int) -> Iterator[Source]:
    """The Sources of a zip on disk as `members` lists them; one refusal when it cannot be opened."""
    try:
        with path.open("rb") as handle:
            yield from members(str(path), handle, limit)
    except OSError as exc:
        yield Source(str(path), None, _unreadable_file(exc))


def register_paths(paths: Iterable[Path], limit: int) -> Iterator[Source]:
    """Each file's Source by where it lies, no bytes read (a zip's directory only): what a batch
    on this machine needs, so that memory and the database hold only the files being read.
    What can be refused from the file system or the archive's directory is refused here."""
    for path in paths:
        if path.suffix.lower() == ".zip":
            yield from _zip_on_disk(path, _registered_members, limit)
            continue
        try:
            size = path.stat().st_size
        except OSError as exc:
            yield Source(str(path), None, _unreadable_file(exc))
            continue
        if size > limit:
            yield Source(str(path), None, file_too_large(limit), size=size)
        elif size == 0:
            yield Source(str(path), None, empty_file(), size=0)
        else:
            yield Source(str(path), None, path=str(path), size=size)


def _registered_members(archive: str, handle: IO[bytes], limit: int) -> Iterator[Source]:
    for listed in _listed_members(archive, handle):
        if isinstance(listed, Source):
            yield listed
            continue
        info, name = listed
        refusal = _declared_refusal(info, limit)
        yield Source(name, None, refusal, path=None if refusal else archive, member=info.filename,
                     size=info.file_size)


def load(source: Source, limit: int) -> Source:
    """A registered source with its bytes read now (within `limit`), or its refusal: the file
    is gone, grew past the limit, the archive changed or its member is damaged."""
    if source.data is not None or source.refusal is not None or source.path is None:
        return source
    if source.member is None:
        return _read_file(source.name, source.path, limit)
    with _archive_lock:
        try:
            zf = _open_archive(source.path)
            info = zf.getinfo(source.member)
        except KeyError:
            return Source(source.name, None, UnreadableDocument(
                "the file is no longer in the archive", "压缩包中已没有该文件"))
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            return Source(source.name, None, UnreadableDocument(f"not a readable zip archive: {exc}",
                                                                f"不是可读取的 zip 压缩包：{exc}"))
        return _member(zf, info, source.name, limit)


# The archive members of a batch are read in order: the last archive opened stays open (its
# directory read once, not once per member), shared by the threads that read under the lock.
_archive_lock = threading.Lock()
_archive: tuple[str, float, zipfile.ZipFile] | None = None


def _open_archive(path: str) -> zipfile.ZipFile:
    global _archive
    mtime = os.stat(path).st_mtime
    if _archive is not None and _archive[0] == path and _archive[1] == mtime:
        return _archive[2]
    if _archive is not None:
        _archive[2].close()
        _archive = None
    zf = zipfile.ZipFile(path)
    _archive = (path, mtime, zf)
    return zf


def from_upload(name: str, handle: IO[bytes], limit: int) -> Iterator[Source]:
    """An uploaded part: a `.zip` is opened as an archive, anything else is one file."""
    if name.lower().endswith(".zip"):
        yield from zip_members(name, handle, limit)
        return
    yield _checked(name, handle.read(limit + 1), limit)


def _checked(name: str, data: bytes, limit: int) -> Source:
    if len(data) > limit:
        return Source(name, None, file_too_large(limit))
    if not data:
        return Source(name, None, empty_file())
    return Source(name, data)


def _unreadable_file(exc: OSError) -> UnreadableDocument:
    return UnreadableDocument(f"cannot read the file: {exc.strerror or exc}", f"无法读取文件：{exc.strerror or exc}")


def zip_members(archive: str, handle: IO[bytes], limit: int) -> Iterator[Source]:
    """The archive's files (folders and `__MACOSX/` left out), each inflated within `limit`."""
    zf: zipfile.ZipFile | None = None
    for listed in _listed_members(archive, handle):
        if isinstance(listed, Source):
            yield listed
            continue
        info, name = listed
        if zf is None:
            zf = zipfile.ZipFile(handle)
        yield _member(zf, info, name, limit)
    if zf is not None:
        zf.close()


def _listed_members(archive: str, handle: IO[bytes]) -> Iterator[Source | tuple[zipfile.ZipInfo, str]]:
    """The archive's files (folders and `__MACOSX/` left out) with the names users know them
    by; a Source carrying the refusal when the archive cannot be taken."""
    try:
        zf = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield Source(archive, None, UnreadableDocument(f"not a readable zip archive: {exc}",
                                                       f"不是可读取的 zip 压缩包：{exc}"))
        return
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    if len(infos) > MAX_MEMBERS:
        yield Source(archive, None, TooLarge(
            f"the archive holds {len(infos)} files, more than the limit of {MAX_MEMBERS}; split it",
            f"压缩包含 {len(infos)} 个文件，超过 {MAX_MEMBERS} 个的上限；请拆分",
        ))
        return
    for info in infos:
        yield info, f"{archive}/{_member_name(info)}"


def _member_name(info: zipfile.ZipInfo) -> str:
    """Archives made on Chinese Windows store names in GBK without the UTF-8 flag; Python then
    reads them as cp437 (mojibake). Read them back as GBK when that decodes."""
    name = info.filename
    if info.flag_bits & _UTF8_NAME_FLAG or name.isascii():
        return name
    try:
        return name.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


def _declared_refusal(info: zipfile.ZipInfo, limit: int) -> NianbaoError | None:
    """What the archive's directory alone says is not to be read (cheap, before inflating)."""
    if info.flag_bits & _ENCRYPTED_FLAG:
        return UnreadableDocument("the archive member is encrypted", "压缩包中的文件已加密")
    if info.file_size > limit:  # the declared size
        return file_too_large(limit) if info.compress_size > limit else inflates_past(limit)
    return None


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limit: int) -> Source:
    refusal = _declared_refusal(info, limit)
    if refusal is not None:
        return Source(name, None, refusal)
    try:
        with zf.open(info) as member:
            data = member.read(limit + 1)  # inflated a block at a time: never past limit + 1
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        return Source(name, None, UnreadableDocument(f"the archive member is damaged: {exc}",
                                                     f"压缩包中的文件已损坏：{exc}"))
    if len(data) > limit:
        return Source(name, None, inflates_past(limit))
    return _checked(name, data, limit)
