"""Front halves of ``mfile compile``, ``mfile run`` and ``mfile graph``: M-File → IR → plans.

All pipelines asked for are planned (and checked against the site profile) before any run
directory is written, so an error in one leaves every run directory as it was.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any, Callable

from mfile.plan import ir
from mfile.compiler.frontend import CheckResult, Checker
from mfile.diagnostics import Diagnostic, Reporter, Span
from mfile.errors import UsageError
from mfile.mfile_grammar.source import read_source
from mfile.plan.manifest import HeaderInfo, Plan, SourceInfo

Emit = Callable[..., None]


class UnknownPipeline(Diagnostic):
    code = "E136"
    message = "the M-File defines no pipeline named {name!r}{suggestion}"
    hint = "pipelines defined: {available}"


class NoPipelines(Diagnostic):
    code = "E137"
    message = "the M-File defines no pipeline"
    hint = 'add one: batch = MantikPipeline(stages={{"stage1": [task]}})'


def front_end(file: Path, roots: list[Path]) -> tuple[CheckResult, ir.Program | None]:
    """Parse, resolve, lower, type: the IR, or None when the M-File has errors."""
    result = CheckResult()
    from mfile.compiler.frontend import check_file_guarded

    check_file_guarded(Checker(roots), file, result)
    program = result.programs.get(str(file))
    if result.reporter.has_errors:
        return result, None
    return result, program


def select_pipelines(
    program: ir.Program, wanted: list[str], reporter: Reporter, file: Path
) -> list[ir.Pipeline]:
    from mfile.compiler.builtins import did_you_mean

    names = [p.name for p in program.pipelines]
    if not names:
        reporter.report(NoPipelines, Span.whole_file(str(file)))
        return []
    chosen = []
    for name in wanted or names:
        if name not in names:
            reporter.report(
                UnknownPipeline, Span.whole_file(str(file)), name=name,
                suggestion=did_you_mean(name, names), available=", ".join(names),
            )  # fmt: skip
            continue
        chosen.append(next(p for p in program.pipelines if p.name == name))
    return chosen


def headers_of(pipeline: ir.Pipeline) -> tuple[HeaderInfo, ...]:
    found: dict[str, HeaderInfo] = {}
    tasks = list(pipeline.tasks)
    while tasks:
        task = tasks.pop()
        if task.search is not None:
            tasks.extend(task.search.steps)
        if task.item is not None:
            path = str(Path(task.item.directory) / "MantikHeader")
            found[task.item.ref] = HeaderInfo(ref=task.item.ref, path=path, sha256=task.item.header_sha256)
    return tuple(found[k] for k in sorted(found))


def plan_pipelines(
    file: Path, roots: list[Path], profile_name: str, wanted: list[str], emit: Emit, fmt: str = "text"
) -> tuple[list[Plan], Any, CheckResult] | None:
    """Front end + codegen planning; reports and returns None on errors."""
    from mfile.codegen.jobs import build_plan
    from mfile.codegen.profile import ProfileError, load_profile

    try:  # a usage error (unknown profile) comes before anything the M-File says
        profile = load_profile(profile_name)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    result, program = front_end(file, roots)
    if program is None:
        emit(result.reporter, result.sources, fmt)
        return None
    text = result.sources[str(file)]
    source = SourceInfo(path=str(file.resolve()), sha256=hashlib.sha256(text.encode()).hexdigest())
    plans = []
    for pipeline in select_pipelines(program, wanted, result.reporter, file):
        plan = build_plan(program, pipeline.name, profile, source, headers_of(pipeline), result.reporter)
        if plan is not None:
            plans.append(plan)
    if result.reporter.has_errors:
        emit(result.reporter, result.sources, fmt)
        return None
    return plans, profile, result


def compile_command(
    file: Path,
    roots: list[Path],
    profile_name: str,
    wanted: list[str],
    out: Path,
    emit_kind: str,
    force: bool,
    fmt: str,
    emit: Emit,
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
    from mfile.codegen.budget import budget_table
    from mfile.codegen.render import write_run_dir

    for plan in plans:
        run_dir = write_run_dir(plan, profile, out, force=force)
        print(f"wrote {run_dir}  ({len(plan.pipeline.tasks)} tasks, profile {profile.name})")
        print(budget_table(plan, profile))
    return 0


def compile_for_run(file: Path, roots: list[Path], pipeline: str, out: Path, emit: Emit) -> Path | None:
    """Compile one pipeline with the ``local`` profile for ``mfile run``."""
    planned = plan_pipelines(file, roots, "local", [pipeline], emit)
    if planned is None:
        return None
    plans, profile, result = planned
    emit(result.reporter, result.sources, "text", sys.stderr)
    from mfile.codegen.render import write_run_dir

    return write_run_dir(plans[0], profile, out, force=False)


def graph_command(file: Path, roots: list[Path], pipeline: str, fmt: str, emit: Emit) -> int:
    from mfile.codegen.graph import render_graph

    result, program = front_end(file, roots)
    emit(result.reporter, result.sources, "text", sys.stderr)
    if program is None:
        return 1
    chosen = select_pipelines(program, [pipeline], result.reporter, file)
    if not chosen:
        emit(result.reporter, result.sources, "text", sys.stderr)
        return 1
    sys.stdout.write(render_graph(chosen[0], fmt))
    return 0


__all__ = ["compile_command", "compile_for_run", "graph_command", "front_end", "read_source"]
