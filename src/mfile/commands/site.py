"""The site checks of ``mfile check --profile`` (and the API and language server): every
pipeline's resources against a site profile (E4xx), and whether the container sees every
input (E420), as ``mfile compile`` checks them."""

from __future__ import annotations

from pathlib import Path

from mfile.codegen.binds import pipeline_binds
from mfile.codegen.jobs import check_resources
from mfile.codegen.profile import Profile, ProfileError, load_profile
from mfile.compiler.frontend import CheckResult
from mfile.diagnostics import Span
from mfile.errors import UsageError


def load_site(name: str) -> Profile:
    """The profile, or a usage error that says what is wrong with it."""
    try:
        return load_profile(name)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None


def check_site(result: CheckResult, profile: Profile) -> None:
    """The E4xx checks of every pipeline of every M-File that has no errors of its own."""
    failed = {r.span.file for r in result.reporter.reports if r.severity.value == "error"}
    for name, program in result.programs.items():
        if name in failed:
            continue
        for pipeline in program.pipelines:
            fallback = pipeline.loc.span() if pipeline.loc else Span.whole_file(name)
            tasks = check_resources(pipeline, profile, result.reporter, fallback)
            pipeline_binds(tasks, str(Path(program.source).resolve()), profile, result.reporter, fallback)  # E420
