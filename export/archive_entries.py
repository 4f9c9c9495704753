"""The zip layer of an artifact archive (.pt2, TorchScript), checked before anything reads it.

Both torch formats are zip files with one root folder. An archive from a stranger is accepted only
if every entry name is one our exporter writes (`allowed`, below the root), no name repeats (zip
readers disagree on which copy wins), and no entry is oversized.
"""
from __future__ import annotations

import io
import re
import zipfile

from export.errors import ArtifactError


def archive_entries(data: bytes, source: object, what: str, allowed: re.Pattern[str],
                    max_entries: int = 64, max_entry_bytes: int = 16 << 20,
                    ) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    """(the open zip, {name below the root: entry}), or an ArtifactError naming the first problem."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ArtifactError(f"{source}: not a {what} archive ({exc})") from None
    infos = zf.infolist()
    if not infos or len(infos) > max_entries:
        raise ArtifactError(f"{source}: {len(infos)} archive entries, not an archive our exporter writes")
    if len({info.filename.split("/", 1)[0] for info in infos}) != 1:
        raise ArtifactError(f"{source}: archive entries under several root folders, expected one")
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename.split("/", 1)[1] if "/" in info.filename else ""
        if not allowed.fullmatch(name):
            raise ArtifactError(
                f"{source}: unexpected archive entry {info.filename[:120]!r} (our exporter writes no such "
                f"file; pickled objects, extra files and other code are refused)")
        if name in entries:
            raise ArtifactError(f"{source}: archive entry {info.filename[:120]!r} appears twice")
        if info.file_size > max_entry_bytes:
            raise ArtifactError(f"{source}: archive entry {info.filename[:120]!r} is {info.file_size} bytes, "
                                f"over the {max_entry_bytes}-byte limit")
        entries[name] = info
    return zf, entries


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: object, max_bytes: int = 16 << 20) -> bytes:
    """One entry's bytes, reading no further than max_bytes (the header's size may lie)."""
    try:
        with zf.open(info) as f:
            data = f.read(max_bytes + 1)
    except Exception as exc:  # noqa: BLE001 - zlib, CRC, truncation, unsupported compression
        raise ArtifactError(f"{source}: archive entry {info.filename[:120]!r} is unreadable "
                            f"({type(exc).__name__})") from None
    if len(data) > max_bytes:
        raise ArtifactError(f"{source}: archive entry {info.filename[:120]!r} is over the size limit")
    return data
