"""``mfile check``: lint M-Files and directories of them; exit 0 clean, 1 errors.

With a site profile (``--profile`` or the project file's) every pipeline's resources are also
checked against it (E4xx), as ``mfile compile`` would, so CI finds 8 GPUs on a 4-GPU node
before anyone compiles. Nothing is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mfile.codegen.jobs import check_resources
from mfile.codegen.profile import Profile, ProfileError, load_profile
from mfile.commands.report import EXIT_ERRORS, EXIT_OK, ReportEmitter
from mfile.compiler.frontend import CheckResult, check_paths
from mfile.diagnostics import Span
from mfile.errors import UsageError


def check_command(
    files: list[Path], roots: list[Path], fmt: str, emit: ReportEmitter, profile_name: str | None = None
) -> int:
    profile = _load(profile_name) if profile_name else None  # a bad profile is a usage error, first
    result = check_paths(files, roots)
    if profile is not None:
        check_site(result, profile)
    emit(result.reporter, result.sources, fmt)
    if fmt == "text":
        print(result.summary(), file=sys.stderr)
    return EXIT_ERRORS if result.reporter.has_errors else EXIT_OK


def check_site(result: CheckResult, profile: Profile) -> None:
    """The E4xx checks of every pipeline of every M-File that has no errors of its own."""
    failed = {r.span.file for r in result.reporter.reports if r.severity.value == "error"}
    for name, program in result.programs.items():
        if name in failed:
            continue
        for pipeline in program.pipelines:
            fallback = pipeline.loc.span() if pipeline.loc else Span.whole_file(name)
            check_resources(pipeline, profile, result.reporter, fallback)


def _load(name: str) -> Profile:
    try:
        return load_profile(name)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
