"""``mfile check``: lint M-Files and directories of them; exit 0 clean, 1 errors."""

from __future__ import annotations

import sys
from pathlib import Path

from mfile.commands.report import EXIT_ERRORS, EXIT_OK, ReportEmitter
from mfile.compiler.frontend import check_paths


def check_command(files: list[Path], roots: list[Path], fmt: str, emit: ReportEmitter) -> int:
    result = check_paths(files, roots)
    emit(result.reporter, result.sources, fmt)
    if fmt == "text":
        print(result.summary(), file=sys.stderr)
    return EXIT_ERRORS if result.reporter.has_errors else EXIT_OK
