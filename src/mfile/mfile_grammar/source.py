"""Read an M-File robustly: every way a path can be bad becomes a diagnostic, never an exception.

Only regular files are read (a FIFO or device could block forever); at most ``MAX_BYTES + 1``
bytes are read even when ``stat`` reports less (``/proc`` files report size 0). A UTF-8 BOM
is stripped; a NUL byte means binary; invalid UTF-8 is located by byte offset *and* line and
column so the text renderer can point at it.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

from mfile.diagnostics import (
    BinaryFile,
    FileTooLarge,
    NotUtf8,
    Reporter,
    Span,
    UnreadableFile,
)

MAX_BYTES = 10 * 1024 * 1024  # 10 MiB: a hand-written workflow is a few KiB


def _position(data: bytes, offset: int, file: str) -> Span:
    """Line and column (in characters) of a byte offset; undecodable bytes count as one."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return Span(file, line, column, line, column + 1)


def read_source(path: Path, reporter: Reporter) -> str | None:
    """The text of ``path``, or None after reporting why it cannot be an M-File."""
    file = str(path)
    span = Span.whole_file(file)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            reporter.report(UnreadableFile, span, path=file, reason="it is a directory")
            return None
        if not stat.S_ISREG(info.st_mode):
            reporter.report(UnreadableFile, span, path=file, reason="not a regular file")
            return None
        if info.st_size > MAX_BYTES:
            reporter.report(FileTooLarge, span, size=info.st_size, limit=MAX_BYTES)
            return None
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        reporter.report(UnreadableFile, span, path=file, reason="no such file")
        return None
    except PermissionError:
        reporter.report(UnreadableFile, span, path=file, reason="permission denied")
        return None
    except IsADirectoryError:
        reporter.report(UnreadableFile, span, path=file, reason="it is a directory")
        return None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path itself
        reason = getattr(exc, "strerror", None) or str(exc)
        reporter.report(UnreadableFile, span, path=file, reason=reason)
        return None
    if len(data) > MAX_BYTES:  # the file grew, or stat did not know its size
        reporter.report(FileTooLarge, span, size=f"more than {MAX_BYTES}", limit=MAX_BYTES)
        return None
    return decode_source(data, file, reporter)


def decode_source(data: bytes, file: str, reporter: Reporter) -> str | None:
    """UTF-8 text of ``data`` without a BOM, or None after reporting E903/E902."""
    nul = data.find(b"\0")
    if nul >= 0:
        reporter.report(BinaryFile, _position(data, nul, file), offset=nul)
        return None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        base = len(codecs.BOM_UTF8)
    else:
        base = 0
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        reporter.report(
            NotUtf8, _position(data, exc.start, file), offset=exc.start + base, reason=exc.reason
        )
        return None
