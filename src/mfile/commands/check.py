"""``mfile check``: lint M-Files and directories of them; exit 0 clean, 1 errors.

With a site profile (``--profile`` or the project file's) every pipeline's resources are also
checked against it (E4xx, ``commands/site.py``), as ``mfile compile`` would, so CI finds 8 GPUs
on a 4-GPU node before anyone compiles. Nothing is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mfile.commands.report import EXIT_ERRORS, EXIT_OK, ReportEmitter
from mfile.compiler.frontend import check_paths


def check_command(
    files: list[Path], roots: list[Path], fmt: str, emit: ReportEmitter, profile_name: str | None = None,
    follow_symlinks: bool = False,
) -> int:
    site = None
    if profile_name:
        # Only with a profile: a plain check must not load codegen (start-up of a linter).
        from mfile.commands.site import check_site, load_site

        site = load_site(profile_name)  # a bad profile is a usage error, before any M-File
    result = check_paths(files, roots, follow_symlinks)
    if site is not None:
        check_site(result, site)
    emit(result.reporter, result.sources, fmt)
    if fmt == "text":
        print(result.summary(), file=sys.stderr)
    return EXIT_ERRORS if result.reporter.has_errors else EXIT_OK
