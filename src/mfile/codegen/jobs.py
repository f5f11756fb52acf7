"""From one pipeline of the IR to a ``Plan`` (resolved and checked) and from a plan to jobs.

``assemble_plan`` is the compiler's last checking step: every task's resources are resolved
against the profile (``resources.py``) and the whole pipeline against the site's limits.
``plan_jobs`` is pure: the Slurm jobs of a plan and the ``afterok`` edges between them, in
the order ``submit.sh`` and ``mfile submit`` queue them. A task is one job; a search is one
array job per ``MaxArraySize`` chunk of its grid plus one ``select`` job after them.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mfile import __version__
from mfile.codegen.binds import pipeline_binds
from mfile.codegen.profile import Profile
from mfile.codegen.resources import (
    ArraySplit,
    MissingAccount,
    OverSubmitLimit,
    resolve,
)
from mfile.diagnostics import Reporter, Span
from mfile.plan import ir
from mfile.plan.manifest import HeaderInfo, Plan, SourceInfo

JobKind = Literal["task", "array", "select"]


@dataclass(frozen=True)
class Job:
    """One ``sbatch`` call: ``jobs/<name>.sbatch`` waiting for the jobs in ``after``."""

    name: str
    task: str
    kind: JobKind
    after: tuple[str, ...] = ()
    offset: int = 0  # first grid point of this array chunk
    count: int = 0  # array elements (0 for plain jobs)

    @property
    def dependency(self) -> str:
        """afterok, but a search's select waits for its points to end however they ended: it
        picks the best of those that succeeded (the search's min_points decides if enough did)."""
        return "afterany" if self.kind == "select" else "afterok"

    @property
    def script(self) -> str:
        return f"jobs/{self.name}.sbatch"

    @property
    def elements(self) -> int:
        return self.count or 1


def job_name(pipeline: str, name: str) -> str:
    """``--job-name``: ``<pipeline>.<job>`` with anything outside ``[A-Za-z0-9_.-]`` replaced."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{pipeline}.{name}")[:200]


def last_job(task: ir.Task) -> str:
    """The job whose success means the task is done (what dependents wait for)."""
    return f"{task.id}.select" if task.kind == "search" else task.id


def array_chunks(points: int, max_array_size: int) -> list[tuple[int, int]]:
    """(offset, count) chunks of a grid so that every array index is below MaxArraySize."""
    return [(start, min(max_array_size, points - start)) for start in range(0, points, max_array_size)]


def plan_jobs(plan: Plan, profile: Profile) -> list[Job]:
    """Every job of the plan in a topological order (the pipeline's task order)."""
    deps = plan.pipeline.dependencies()
    by_id = {t.id: t for t in plan.pipeline.tasks}
    jobs: list[Job] = []
    for task in plan.pipeline.tasks:
        after = tuple(last_job(by_id[d]) for d in deps[task.id])
        if task.kind == "search" and task.search is not None:
            chunks = array_chunks(len(task.search.points), profile.max_array_size)
            names = []
            for i, (offset, count) in enumerate(chunks):
                name = task.id if i == 0 else f"{task.id}.part{i}"
                names.append(name)
                jobs.append(Job(name, task.id, "array", after, offset, count))
            jobs.append(Job(f"{task.id}.select", task.id, "select", tuple(names)))
        else:
            jobs.append(Job(task.id, task.id, "task", after))
    return jobs


def resolve_account(profile: Profile, environ: dict[str, str] | None = None) -> str | None:
    environ = dict(os.environ) if environ is None else environ
    if profile.account_env and environ.get(profile.account_env, "").strip():
        # $BUDGET_ACCOUNTS may list several budgets; jutil puts the active one first.
        return re.split(r"[\s,]+", environ[profile.account_env].strip())[0]
    return profile.account


def assemble_plan(
    program: ir.Program,
    pipeline: str,
    profile: Profile,
    source: SourceInfo,
    headers: tuple[HeaderInfo, ...],
    reporter: Reporter,
) -> Plan | None:
    """Resolve and check one pipeline for a site; None when an error was reported."""
    pipe = next((p for p in program.pipelines if p.name == pipeline), None)
    if pipe is None:
        raise KeyError(f"no pipeline {pipeline!r} in the program")
    fallback = pipe.loc.span() if pipe.loc else Span.whole_file(source.path)
    first = len(reporter.reports)

    account = resolve_account(profile)
    no_account = account is None and profile.account_required
    if account is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", account):
        reporter.report(MissingAccount, fallback, profile=profile.name, env=profile.account_env or "BUDGET_ACCOUNTS",
                        hint=f"the account {account!r} is not a plain Slurm account name")
        account, no_account = None, True
    elif no_account and not any(r.code == MissingAccount.code for r in reporter.reports):  # once per compile
        reporter.report(MissingAccount, fallback, profile=profile.name, env=profile.account_env or "BUDGET_ACCOUNTS")

    tasks = check_resources(pipe, profile, reporter, fallback)
    binds = pipeline_binds(tasks, source.path, profile, reporter, fallback)
    failed = no_account or any(r.severity.value == "error" for r in reporter.reports[first:])
    _drop_repeats(reporter, first)
    if failed:
        return None
    items = sorted({(t.item.name, t.item.version) for t in _all_tasks(tasks) if t.item is not None})
    slurm = {
        "account": account,
        "python": profile.python or sys.executable,  # environment "none"; the others name their own
        "binds": list(binds),  # the input directories every container binds (codegen/binds.py)
        "profile_sha256": profile.sha256,
        "profile": profile.model_dump(mode="json", exclude={"sha256"}),
    }
    needs = sorted({b.source_pipeline for t in _all_tasks(tasks) for b in t.inputs if b.source_pipeline})
    return Plan(
        mfile_version=__version__,
        source=source,
        headers=tuple(sorted(headers, key=lambda h: (h.ref, h.path))),
        profile=profile.info(),
        pipeline=pipe.model_copy(update={"tasks": tuple(tasks)}),
        needs_pipelines=tuple(needs),
        extra={"items": [f"{name}:{version}" for name, version in items], "slurm": slurm},
    )


def check_resources(pipe: ir.Pipeline, profile: Profile, reporter: Reporter, fallback: Span) -> list[ir.Task]:
    """Every task's resources resolved against the site (E4xx reported); the tasks with them."""
    tasks: list[ir.Task] = []
    for task in pipe.tasks:
        resolved = resolve(task, profile, reporter, fallback)
        tasks.append(task if resolved is None else task.model_copy(update={"resources": resolved}))
        if task.search is not None and len(task.search.points) > profile.max_array_size:
            span = task.loc.span() if task.loc else fallback
            points = len(task.search.points)
            reporter.report(ArraySplit, span, task=task.id, points=points, limit=profile.max_array_size,
                            parts=math.ceil(points / profile.max_array_size))
    elements = sum(len(t.search.points) + 1 if t.search is not None else 1 for t in pipe.tasks)
    if elements > profile.submit_limit:
        reporter.report(OverSubmitLimit, fallback, pipeline=pipe.name, jobs=elements, limit=profile.submit_limit)
    return tasks


def headers_of(pipeline: ir.Pipeline) -> tuple[HeaderInfo, ...]:
    """Every item header the pipeline uses (search steps included), once each, sorted."""
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


def _drop_repeats(reporter: Reporter, first: int) -> None:
    """A task shared by several pipelines is checked once per pipeline: report each problem once."""
    seen = set(reporter.reports[:first])
    fresh = []
    for report in reporter.reports[first:]:
        if report not in seen:
            seen.add(report)
            fresh.append(report)
    del reporter.reports[first:]
    reporter.reports.extend(fresh)


def _all_tasks(tasks: list[ir.Task]) -> list[ir.Task]:
    out = []
    for t in tasks:
        out.append(t)
        if t.search is not None:
            out.extend(t.search.steps)
    return out
