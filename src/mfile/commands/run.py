"""``mfile run``: compile one pipeline with the local profile and run it here, without Slurm."""

from __future__ import annotations

from pathlib import Path

from mfile.commands.compile import compile_for_run
from mfile.commands.report import EXIT_ERRORS, ReportEmitter
from mfile.local.executor import run_local


def run_command(
    file: Path, roots: list[Path], pipeline: str | None, out: Path, resume: bool, jobs: int | None, emit: ReportEmitter,
    stage: str | None = None,
    trust_shared: bool = False,
) -> int:
    run_dir = compile_for_run(file, roots, pipeline, out, emit, trust_shared=trust_shared)
    if run_dir is None:
        return EXIT_ERRORS
    return run_local(run_dir, resume=resume, jobs=jobs, stage=stage)
