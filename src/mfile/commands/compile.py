"""``mfile compile`` (run directories, or the IR with ``--emit ir``) and ``mfile graph``;
``compile_for_run`` is the first half of ``mfile run``.

All pipelines asked for are planned (and checked against the site profile) before any run
directory is written, so an error in one leaves every run directory as it was.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from mfile.codegen.budget import budget_table
from mfile.codegen.graph import render_graph
from mfile.codegen.jobs import assemble_plan, headers_of
from mfile.codegen.profile import Profile, ProfileError, load_profile
from mfile.codegen.render import write_run_dir
from mfile.commands.report import ReportEmitter
from mfile.compiler.frontend import CheckResult, front_end, select_pipelines
from mfile.errors import UsageError
from mfile.plan.manifest import Plan, SourceInfo


def plan_pipelines(
    file: Path, roots: list[Path], profile_name: str, wanted: list[str], emit: ReportEmitter, fmt: str = "text"
) -> tuple[list[Plan], Profile, CheckResult] | None:
    """Front end + codegen planning; reports and returns None on errors."""
    try:  # a usage error (unknown profile) comes before anything the M-File says
        profile = load_profile(profile_name)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    result, program = front_end(file, roots)
    if program is None:
        emit(result.reporter, result.sources, fmt)
        return None
    plans = plan_checked(result, file, profile, wanted)
    if result.reporter.has_errors:
        emit(result.reporter, result.sources, fmt)
        return None
    return plans, profile, result


def plan_checked(result: CheckResult, file: Path, profile: Profile, wanted: list[str]) -> list[Plan]:
    """The pipelines ``wanted`` (all when empty) of a checked M-File, planned for ``profile``;
    problems (E4xx, unknown pipelines) go into ``result.reporter``. The Python API's compile
    shares it."""
    program = result.programs.get(str(file))
    if program is None or result.reporter.has_errors:
        return []
    text = result.sources[str(file)]
    source = SourceInfo(path=str(file.resolve()), sha256=hashlib.sha256(text.encode()).hexdigest())
    plans = []
    for pipeline in select_pipelines(program, wanted, result.reporter, file):
        plan = assemble_plan(program, pipeline.name, profile, source, headers_of(pipeline), result.reporter)
        if plan is not None:
            plans.append(plan)
    return plans


def compile_command(
    file: Path,
    roots: list[Path],
    profile_name: str,
    wanted: list[str],
    out: Path,
    emit_kind: str,
    force: bool,
    fmt: str,
    emit: ReportEmitter,
    trust_shared: bool = False,
) -> int:
    if emit_kind == "ir":
        result, program = front_end(file, roots)
        emit(result.reporter, result.sources, fmt, sys.stderr)
        if program is None:
            return 1
        sys.stdout.write(program.model_dump_json(indent=2) + "\n")
        return 0
    planned = plan_pipelines(file, roots, profile_name, wanted, emit, fmt)
    if planned is None:
        return 1
    plans, profile, result = planned
    emit(result.reporter, result.sources, fmt, sys.stderr)
    for plan in plans:
        run_dir = write_run_dir(plan, profile, out, force=force, trust_shared=trust_shared)
        print(f"wrote {run_dir}  ({len(plan.pipeline.tasks)} tasks, profile {profile.name})")
        print(budget_table(plan, profile))
    return 0


def compile_for_run(file: Path, roots: list[Path], pipeline: str | None, out: Path, emit: ReportEmitter,
                    trust_shared: bool = False) -> Path | None:
    """Compile one pipeline with the ``local`` profile for ``mfile run`` (the only one, if none is named)."""
    planned = plan_pipelines(file, roots, "local", [pipeline] if pipeline else [], emit)
    if planned is None:
        return None
    plans, profile, result = planned
    if len(plans) > 1:
        raise UsageError(_choose_one(file, [p.pipeline.name for p in plans]))
    emit(result.reporter, result.sources, "text", sys.stderr)
    return write_run_dir(plans[0], profile, out, force=False, trust_shared=trust_shared)


def _choose_one(file: Path, names: list[str]) -> str:
    return f"{file} defines {len(names)} pipelines ({', '.join(names)}): name one with --pipeline"


def graph_command(file: Path, roots: list[Path], pipeline: str | None, fmt: str, emit: ReportEmitter) -> int:
    result, program = front_end(file, roots)
    emit(result.reporter, result.sources, "text", sys.stderr)
    if program is None:
        return 1
    chosen = select_pipelines(program, [pipeline] if pipeline else [], result.reporter, file)
    if not chosen:
        emit(result.reporter, result.sources, "text", sys.stderr)
        return 1
    if len(chosen) > 1:
        raise UsageError(_choose_one(file, [p.name for p in chosen]))
    sys.stdout.write(render_graph(chosen[0], fmt))
    return 0


