"""The Python API: what the ``mfile`` command line does, for notebooks and scripts.

``import mfile`` stays light: these functions are loaded from here on first use
(``mfile/__init__.py``). Each returns objects instead of printing, and raises instead of
exiting:

* :func:`check` → :class:`Diagnostics` (a list of :class:`Diagnostic`); never raises for a bad
  M-File, only for a bad call (an unknown profile: :class:`mfile.errors.UsageError`).
* :func:`compile` → a list of :class:`CompiledPipeline` (plan, run directory, graph, budget);
  raises :class:`CompileError` (with ``.diagnostics``) when the M-File has errors.
* :func:`run` → :class:`RunResult`; :func:`submit` → :class:`Submission`;
  :func:`status` → :class:`Status`.

A compiled pipeline shows itself in Jupyter as its Mermaid graph and its budget table
(``_repr_markdown_``). docs/api.md is the guide, and is run as a doctest.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, Union

from mfile.codegen.budget import Cost, budget_table, job_costs
from mfile.codegen.graph import render_graph
from mfile.codegen.profile import Profile, ProfileError, load_profile
from mfile.codegen.render import write_run_dir
from mfile.commands.site import check_site
from mfile.commands.compile import plan_checked
from mfile.commands.config import ProjectConfig, find_config
from mfile.commands.status import Line, collect
from mfile.commands.submit import submit_command
from mfile.compiler.frontend import check_paths, front_end
from mfile.diagnostics import Report, render_text
from mfile.errors import UsageError
from mfile.local.executor import run_local
from mfile.plan import manifest, trust
from mfile.plan.manifest import Plan
from mfile.plan.state import JobRow, is_done, read_jobs
from mfile.slurm.query import SlurmQuery, format_elapsed
from mfile.slurm.scheduler import Scheduler

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "CompileError", "CompiledPipeline", "Diagnostic", "Diagnostics", "RunResult", "Status",
    "SubmitFailed", "Submission", "UsageError", "check", "compile", "run", "status", "submit",
]  # fmt: skip


# --------------------------------------------------------------------------- diagnostics


@dataclass(frozen=True)
class Diagnostic:
    """One finding, as ``mfile check --format json`` writes it (lines and columns 1-based,
    ``end_column`` exclusive)."""

    code: str
    severity: str  # "error" | "warning" | "info"
    message: str
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    hint: str | None = None

    @classmethod
    def of(cls, report: Report) -> "Diagnostic":
        s = report.span
        return cls(report.code, report.severity.value, report.message, s.file, s.line, s.column,
                   s.end_line, s.end_column, report.hint)  # fmt: skip

    def __str__(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}] {self.message}{hint}"


class Diagnostics(list[Diagnostic]):
    """The findings of one check, sorted by place; ``text()`` renders them as the CLI does."""

    def __init__(self, items: Iterable[Diagnostic] = (), sources: dict[str, str] | None = None) -> None:
        super().__init__(items)
        self._sources = dict(sources or {})
        self._reports: list[Report] = []

    @classmethod
    def of(cls, reports: Iterable[Report], sources: dict[str, str]) -> "Diagnostics":
        ordered = sorted(reports, key=lambda r: (r.span, r.code))
        found = cls((Diagnostic.of(r) for r in ordered), sources)
        found._reports = ordered
        return found

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when nothing is an error (warnings allowed), as ``mfile check`` exits 0."""
        return not self.errors

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self]

    def text(self) -> str:
        """The CLI's text format: location, message, the source line with a caret, the hint."""
        if len(self._reports) != len(self):  # built by hand or edited as a list: one line each
            return "".join(f"{d}\n" for d in self)
        return render_text(self._reports, self._sources)

    def _repr_markdown_(self) -> str:
        if not self:
            return "no problems found"
        rows = ["| | code | where | message | hint |", "|---|---|---|---|---|"]
        rows += [f"| {d.severity} | {d.code} | {_md(d.file)}:{d.line}:{d.column} | {_md(d.message)} | {_md(d.hint or '')} |" for d in self]
        return "\n".join(rows) + "\n"


class CompileError(Exception):
    """The M-File (or its plan for the site) has errors; ``diagnostics`` says which."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        first = diagnostics.errors[0] if diagnostics.errors else None
        more = len(diagnostics.errors) - 1
        text = str(first) if first else "compilation failed"
        super().__init__(text + (f" (and {more} more error{'s' * (more > 1)})" if more > 0 else ""))


def _roots(items: Sequence[PathLike] | PathLike | None, project: ProjectConfig) -> list[Path]:
    """``items`` when given (as ``--items``), else the project file's roots."""
    if items is None:
        return list(project.items)
    if isinstance(items, (str, os.PathLike)):  # one root given bare: items="items"
        return [Path(items)]
    return [Path(p) for p in items]


def _profile(profile: str | Path | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    try:
        return load_profile(str(profile))
    except ProfileError as exc:
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------- check


def check(
    path: PathLike | Sequence[PathLike],
    items: Sequence[PathLike] | PathLike | None = None,
    profile: str | Path | Profile | None = None,
) -> Diagnostics:
    """Lint M-Files (a file, a directory searched for ``*.mfile``, or a list of them).

    ``items``: item roots, searched before ``$MFILE_ITEMS_PATH`` and the built-in items (an
    ``items/`` directory beside an M-File is searched too). With ``profile`` (a shipped
    profile's name, a TOML path, or a loaded profile) every pipeline is also checked
    against the site: partitions, GPUs, memory, walltime (E4xx), as ``mfile check --profile``.
    Left out, both come from the project file (``mfile.toml`` or ``[tool.mfile]``) found
    upwards from the (first) path, as on the command line.
    """
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    project = find_config(paths[0]) if paths else ProjectConfig()
    chosen = profile if profile is not None else project.profile
    site = _profile(chosen) if chosen is not None else None  # a bad profile is a usage error, first
    result = check_paths(paths, _roots(items, project))
    if site is not None:
        check_site(result, site)
    return Diagnostics.of(result.reporter.reports, result.sources)


# --------------------------------------------------------------------------- compile


@dataclass(frozen=True)
class CompiledPipeline:
    """One pipeline planned for a site: its plan, and its run directory once written."""

    plan: Plan
    profile: Profile
    run_dir: Path | None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    @property
    def name(self) -> str:
        return self.plan.pipeline.name

    @property
    def tasks(self) -> list[str]:
        return [t.id for t in self.plan.pipeline.tasks]

    def graph(self, fmt: str = "mermaid") -> str:
        """The pipeline as Mermaid (``"mermaid"``) or Graphviz (``"dot"``) text."""
        if fmt not in ("mermaid", "dot"):
            raise UsageError(f"unknown graph format {fmt!r}; use 'mermaid' or 'dot'")
        return render_graph(self.plan.pipeline, fmt)

    @property
    def costs(self) -> list[Cost]:
        """Per job: partition, array elements, nodes, walltime, node-, core- and GPU-hours."""
        return job_costs(self.plan, self.profile)

    def budget(self) -> str:
        """The budget table ``mfile compile`` prints (at the requested walltimes)."""
        return budget_table(self.plan, self.profile)

    def _repr_markdown_(self) -> str:
        where = f" → `{self.run_dir}`" if self.run_dir else ""
        head = f"**{_md(self.name)}**: {len(self.tasks)} tasks, profile `{self.profile.name}`{where}"
        costs = self.costs
        rows = ["| job | partition | jobs | nodes | time | node-h | core-h | GPU-h |", "|---|---|--:|--:|---|--:|--:|--:|"]
        rows += [
            f"| {_md(c.job)} | {c.partition} | {c.elements} | {c.nodes} | {c.time} | {c.node_hours:.2f} "
            f"| {c.core_hours:.1f} | {c.gpu_hours:.1f} |"
            for c in costs
        ]
        rows.append(
            f"| **total** | | {sum(c.elements for c in costs)} | | | {sum(c.node_hours for c in costs):.2f} "
            f"| {sum(c.core_hours for c in costs):.1f} | {sum(c.gpu_hours for c in costs):.1f} |"
        )
        return f"{head}\n\n```mermaid\n{self.graph('mermaid')}```\n\nBudget estimate (requested walltimes):\n\n" + "\n".join(rows) + "\n"

    def __repr__(self) -> str:
        return f"<CompiledPipeline {self.name!r}: {len(self.tasks)} tasks, profile {self.profile.name!r}, run_dir={self.run_dir}>"


def _md(text: str) -> str:
    """User text (a task or pipeline name) inside a Markdown table cell or bold span."""
    return "".join("\\" + c if c in "\\|*_`[]<>#" else c for c in text.replace("\n", " "))


def compile(  # noqa: A001 - the verb's name, as in `mfile compile`
    path: PathLike,
    items: Sequence[PathLike] | PathLike | None = None,
    profile: str | Path | Profile | None = None,
    pipelines: Sequence[str] | str | None = None,
    out: PathLike | None = None,
    force: bool = False,
    write: bool = True,
    trust_shared_dir: bool = False,
) -> list[CompiledPipeline]:
    """Compile an M-File for a site; one :class:`CompiledPipeline` per pipeline asked for.

    ``pipelines``: names (default: every pipeline). ``out``: where the run directories
    ``OUT/<pipeline>`` are written (default: the project file's output, else ``runs``);
    ``write=False`` plans without writing anything. ``profile`` defaults to the project
    file's, else ``local``. All pipelines are planned before any run directory is written,
    as ``mfile compile`` does. ``trust_shared_dir``: as ``--trust-shared-dir`` (docs/security.md).
    """
    file = Path(path)
    project = find_config(file)
    site = _profile(profile if profile is not None else project.profile or "local")
    wanted = [pipelines] if isinstance(pipelines, str) else list(pipelines or [])
    result, _ = front_end(file, _roots(items, project))
    plans = plan_checked(result, file, site, wanted)
    found = Diagnostics.of(result.reporter.reports, result.sources)
    if not found.ok:
        raise CompileError(found)
    target = Path(out) if out is not None else project.output_or(None, Path("runs"))
    compiled = []
    for plan in plans:
        run_dir = write_run_dir(plan, site, target, force=force, trust_shared=trust_shared_dir) if write else None
        compiled.append(CompiledPipeline(plan, site, run_dir, found))
    return compiled


# --------------------------------------------------------------------------- run


@dataclass(frozen=True)
class RunResult:
    """``mfile run``'s outcome: ``ok`` when every task finished; ``log`` is what it printed."""

    run_dir: Path
    ok: bool
    done: tuple[str, ...]
    not_done: tuple[str, ...]
    log: str

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"not done: {', '.join(self.not_done)}"
        return f"<RunResult {self.run_dir}: {len(self.done)} done, {state}>"


def run(
    path: PathLike,
    pipeline: str | None = None,
    items: Sequence[PathLike] | PathLike | None = None,
    out: PathLike | None = None,
    resume: bool = True,
    jobs: int | None = None,
    stage: str | None = None,
    trust_shared_dir: bool = False,
) -> RunResult:
    """Compile one pipeline with the ``local`` profile and run it on this machine (no Slurm).

    ``pipeline`` may be left out when the M-File defines exactly one. ``out`` defaults to the
    project file's output, else ``runs``. ``resume`` skips tasks whose completion record
    matches; ``jobs``: tasks at a time (default: cores); ``stage``: only that stage and what it
    needs that is not done.
    """
    file = Path(path)
    if pipeline is None:
        result, program = front_end(file, _roots(items, find_config(file)))
        if program is None:
            raise CompileError(Diagnostics.of(result.reporter.reports, result.sources))
        names = [p.name for p in program.pipelines]
        if len(names) != 1:
            raise UsageError(f"{file} defines {len(names)} pipelines ({', '.join(names) or 'none'}); name one: pipeline=...")
        pipeline = names[0]
    compiled = compile(file, items, "local", [pipeline], out, trust_shared_dir=trust_shared_dir)[0]
    assert compiled.run_dir is not None
    log = io.StringIO()
    code = run_local(compiled.run_dir, resume=resume, jobs=jobs, stream=log, stage=stage)
    tasks = compiled.tasks
    done = tuple(t for t in tasks if is_done(compiled.run_dir, t))
    return RunResult(compiled.run_dir, code == 0, done, tuple(t for t in tasks if t not in done), log.getvalue())


# --------------------------------------------------------------------------- submit, status


class SubmitFailed(Exception):
    """sbatch refused a job; the jobs this submit had queued were cancelled (the message says
    which, and why)."""


@dataclass(frozen=True)
class Submission:
    """What ``submit`` queued (``jobs``, from ``state/jobs.json``) or, with ``dry_run``, the
    sbatch command lines it would run (``commands``). ``log``: its notes and warnings."""

    run_dir: Path
    jobs: tuple[JobRow, ...]
    commands: tuple[str, ...]
    log: str

    @property
    def job_ids(self) -> dict[str, str]:
        return {j.name: j.job_id for j in self.jobs}


def submit(
    run_dir: PathLike,
    dry_run: bool = False,
    resume: bool = False,
    stage: str | None = None,
    scheduler: Scheduler | None = None,
    trust_shared_dir: bool = False,
) -> Submission:
    """Queue a compiled run directory on Slurm (``mfile submit``); ``scheduler`` replaces
    sbatch (tests pass ``mfile.slurm.scheduler.FakeScheduler``)."""
    target = Path(run_dir).resolve()
    out, err = io.StringIO(), io.StringIO()
    code = submit_command(target, dry_run=dry_run, resume=resume, stage=stage, scheduler=scheduler, out=out, err=err,
                          trust_shared=trust_shared_dir)
    if code != 0:
        raise SubmitFailed(err.getvalue().strip() or f"mfile submit {target} failed")
    printed = out.getvalue().splitlines()
    if dry_run:
        commands = tuple(line for line in printed if line.startswith("sbatch "))
        return Submission(target, (), commands, err.getvalue() + "".join(f"{x}\n" for x in printed if not x.startswith("sbatch ")))
    rows, _ = read_jobs(target)
    return Submission(target, tuple(rows), (), err.getvalue() + out.getvalue())


@dataclass(frozen=True)
class Status:
    """Per task or job of a run directory: its state (pending, running, completed, failed,
    cancelled, skipped-as-done, not-submitted, unknown), job id, elapsed time, node, note."""

    run_dir: Path
    lines: tuple[Line, ...]
    submitted_at: str | None
    slurm_error: str | None

    @property
    def states(self) -> dict[str, str]:
        return {line.name: line.state for line in self.lines}

    @property
    def finished(self) -> bool:
        return all(line.final for line in self.lines)

    def _repr_markdown_(self) -> str:
        rows = ["| task | state | job | elapsed | node | note |", "|---|---|---|--:|---|---|"]
        rows += [
            f"| {_md(x.name)} | {x.state} | {x.job_id} | {format_elapsed(x.elapsed_s)} | {_md(x.nodes) or '-'} | {_md(x.note)} |"
            for x in self.lines
        ]
        when = f"submitted {self.submitted_at}" if self.submitted_at else "not submitted"
        note = f"\n\nwarning: cannot ask Slurm: {self.slurm_error}" if self.slurm_error else ""
        return f"`{self.run_dir}` ({when})\n\n" + "\n".join(rows) + note + "\n"


def status(run_dir: PathLike, query: SlurmQuery | None = None, trust_shared_dir: bool = False) -> Status:
    """Where each task of a run directory stands (``mfile status``), asking Slurm once."""
    target = Path(run_dir)
    trust.check_run_dir(target, trust_shared=trust_shared_dir)
    if not manifest.plan_path(target).is_file():
        raise UsageError(f"{target} is not a run directory (no plan.json); compile it first")
    query = query or SlurmQuery()
    try:
        lines, when = collect(target, query)
    except ValueError as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    return Status(target, tuple(lines), when, query.error)
