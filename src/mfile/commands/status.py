"""``mfile status OUT/P [--watch]``: where each task of a submitted run directory stands.

One line per job of the last ``mfile submit`` (``state/jobs.json``): state, job id, elapsed
time, node; a search's array job is one line with counts per state. Tasks without a job are
``skipped-as-done`` (their completion record says done) or ``not-submitted``. A failed job
shows the last lines of its log. Slurm is asked once per refresh for all jobs
(``mfile.slurm.query.SlurmQuery``); jobs that Slurm no longer knows fall back to the completion records.

Exit code: 1 when any job failed or was cancelled, or was lost (Slurm forgot it and no record
says done); else 0 (a run still in progress is not an error: ``--watch`` waits until every job is
final, then says 0 only when all completed).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from mfile.diagnostics import terminal_safe
from mfile.errors import UsageError
from mfile.plan import manifest, trust
from mfile.plan.state import JobRow, is_done, read_jobs, stale_inputs
from mfile.slurm.query import JobInfo, SlurmQuery, format_elapsed

TAIL_LINES = 10
MIN_INTERVAL = 0.5  # seconds: --watch never polls faster than this
STATES = ("pending", "running", "completed", "failed", "cancelled", "skipped-as-done", "not-submitted", "unknown")
FINAL = frozenset({"completed", "failed", "cancelled", "skipped-as-done", "not-submitted", "unknown"})
BAD = frozenset({"failed", "cancelled", "unknown"})


@dataclass
class Line:
    name: str
    state: str
    job_id: str = "-"
    elapsed_s: int | None = None
    nodes: str = ""
    note: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.state in FINAL


def tail(path: Path, n: int = TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()][-n:]


def find_logs(run_dir: Path, job: JobInfo) -> list[Path]:
    """The job's stderr then stdout: Slurm's paths when known, else codegen's names by job id
    (``logs/<pipeline>.<job>-<id>.err``, arrays ``-<array id>_<index>.err``)."""
    found = [Path(p) for p in (job.stderr, job.stdout) if p]
    found = [p if p.is_absolute() else run_dir / p for p in found]
    key = job.job_id if job.array_task is None else f"{job.job_id}_{job.array_task}"
    logs = manifest.log_dir(run_dir)
    for ext in ("err", "out"):
        found += sorted(logs.glob(f"*-{key}.{ext}"))
    unique: list[Path] = []
    for p in found:
        if p not in unique and p.is_file():
            unique.append(p)
    return unique


def log_tail(run_dir: Path, job: JobInfo) -> list[str]:
    for path in find_logs(run_dir, job):
        lines = tail(path)
        if lines:
            shown = path.relative_to(run_dir) if path.is_relative_to(run_dir) else path
            return [f"{shown} (last {len(lines)} lines):", *lines]
    return []


# A job Slurm ended for a resource: which sbatch option it was, and the task resource that sets it.
RESOURCE_LIMITS = {
    "OUT_OF_MEMORY": ("out of memory", "--mem", "memory"),
    "TIMEOUT": ("time limit reached", "--time", "time"),
}


def script_option(run_dir: Path, job_name: str, option: str) -> str | None:
    """The value of ``#SBATCH OPTION=VALUE`` in the job's script (what the job asked Slurm for)."""
    try:
        text = manifest.job_script(run_dir, job_name).read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"#SBATCH {option}="):
            return line.split("=", 1)[1].strip()
    return None


def resource_advice(run_dir: Path, row: JobRow, state: str) -> str | None:
    """``out of memory (--mem=2G): raise the task's memory ...`` for a job Slurm killed for a limit."""
    if state not in RESOURCE_LIMITS:
        return None
    what, option, resource = RESOURCE_LIMITS[state]
    asked = script_option(run_dir, row.name, option)
    asked_text = f" ({option}={asked})" if asked else ""
    return (f"{what}{asked_text}: raise {row.task}'s {resource} (configure(resources={{{resource!r}: ...}}) "
            f"in the M-File, or execution: {resource} in the item's MantikHeader), recompile, "
            f"mfile submit --resume")


def _summarise(jobs: list[JobInfo]) -> str:
    """The state of a job from its lines (several for an array job)."""
    cats = {j.category for j in jobs}
    if all(j.final for j in jobs):
        for state in ("failed", "cancelled"):
            if state in cats:
                return state
        if "pending" in cats:  # pending forever: a dependency failed (no kill_invalid_depend)
            return "cancelled"
        return "completed"
    return "running" if "running" in cats or "completed" in cats or "failed" in cats else "pending"


def job_line(run_dir: Path, row: JobRow, jobs: list[JobInfo] | None, slurm_error: str | None) -> Line:
    line = Line(row.name, "unknown", row.job_id)
    if not jobs:
        # Forgotten by Slurm (finished before MinJobAge, no accounting): the task's record decides
        # (a search's record is written by its select job, after every array element).
        if is_done(run_dir, row.task):
            line.state, line.note = "completed", "Slurm no longer lists the job; the completion record says done"
            return line
        line.note = (f"cannot ask Slurm: {slurm_error}" if slurm_error
                     else "Slurm no longer knows this job and no completion record says done")
        return line
    line.state = _summarise(jobs)
    # A job without a node never started: no elapsed time (squeue says 0:00).
    line.elapsed_s = max((j.elapsed_s for j in jobs if j.elapsed_s is not None and j.nodes), default=None)
    line.nodes = ",".join(sorted({j.nodes for j in jobs if j.nodes}))
    notes = []
    if row.kind == "array" or any(j.array_task is not None for j in jobs):
        counts: dict[str, int] = {}
        for j in jobs:
            counts[j.category] = counts.get(j.category, 0) + j.count
        total = sum(counts.values())
        parts = [f"{counts[s]} {s}" for s in ("completed", "running", "pending", "failed", "cancelled") if counts.get(s)]
        notes.append(f"{total} elements: {', '.join(parts)}")
        line.job_id = f"{row.job_id}[{total}]"
    bad = [j for j in jobs if j.category in ("failed", "cancelled")]
    never = [j for j in jobs if j.reason == "DependencyNeverSatisfied"]
    if never:
        notes.append("a job it needs failed: it will never run")
    elif line.state == "pending":
        reasons = sorted({j.reason for j in jobs if j.reason and j.reason != "None"})
        if reasons:
            notes.append(f"({', '.join(reasons)})")
    for j in bad:
        if j.category == "failed":
            what = f"exit {j.exit_code}" if j.exit_code and j.exit_code != "0:0" else j.state.lower()
            if j.state not in ("FAILED",):
                what = j.state.lower() + (f", exit {j.exit_code}" if j.exit_code and j.exit_code != "0:0" else "")
            advice = resource_advice(run_dir, row, j.state)
            if advice:
                what = advice + (f", exit {j.exit_code}" if j.exit_code and j.exit_code != "0:0" else "")
            notes.append(what if j.array_task is None else f"element {j.array_task}: {what}")
            if not line.log:
                line.log = log_tail(run_dir, j)
    line.note = "; ".join(notes)
    return line


def collect(run_dir: Path, query: SlurmQuery) -> tuple[list[Line], str | None]:
    """One refresh: the lines of every task of the plan, in the pipeline's order."""
    plan = manifest.load_plan(manifest.plan_path(run_dir))
    rows, when = read_jobs(run_dir)
    states = query.refresh(r.job_id for r in rows) if rows else {}
    by_task: dict[str, list[JobRow]] = {}
    for row in rows:
        by_task.setdefault(row.task, []).append(row)
    lines: list[Line] = []
    known = set()
    deps = plan.pipeline.dependencies()
    stale_tasks: set[str] = set()
    for task in plan.pipeline.tasks:
        known.add(task.id)
        first = len(lines)
        if task.id not in by_task:
            state = "skipped-as-done" if is_done(run_dir, task.id) else "not-submitted"
            lines.append(Line(task.id, state))
        else:
            for row in by_task[task.id]:
                lines.append(job_line(run_dir, row, states.get(row.job_id), query.error))
        # Done once, but a data file it (or a task before it) read changed since: not current.
        stale = stale_inputs(run_dir, task.id)
        stale += [f"upstream {d} is stale" for d in deps.get(task.id, ()) if d in stale_tasks]
        if stale:
            stale_tasks.add(task.id)
            why = f"stale: {'; '.join(stale)} (mfile submit --resume reruns it)"
            for line in lines[first:]:
                line.note = "; ".join(filter(None, [line.note, why]))
    for task_id, extra in by_task.items():  # rows of tasks the plan no longer has (recompiled)
        if task_id not in known:
            for row in extra:
                line = job_line(run_dir, row, states.get(row.job_id), query.error)
                line.note = "; ".join(filter(None, [line.note, "not in the current plan.json"]))
                lines.append(line)
    return lines, when


def render(run_dir: Path, lines: list[Line], when: str | None) -> str:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.state] = counts.get(line.state, 0) + 1
    summary = ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s))
    head = f"{run_dir}: {summary}" + (f" (submitted {when})" if when else " (not submitted: mfile submit DIR)")
    name_w = max([4, *(len(line.name) for line in lines)])
    job_w = max([6, *(len(line.job_id) for line in lines)])
    out = [head, f"{'TASK':<{name_w}}  {'STATE':<15}  {'JOB':<{job_w}}  {'ELAPSED':>9}  {'NODE':<8}  NOTE"]
    for line in lines:
        out.append(
            f"{line.name:<{name_w}}  {line.state:<15}  {line.job_id:<{job_w}}  "
            f"{format_elapsed(line.elapsed_s):>9}  {line.nodes or '-':<8}  {line.note}".rstrip()
        )
        out.extend(f"    | {text}" if i else f"  {text}" for i, text in enumerate(line.log))
    # Task names, notes and log lines are user text (a payload prints what it likes).
    return "\n".join(terminal_safe(line) for line in out) + "\n"


def exit_code(lines: list[Line]) -> int:
    return 1 if any(line.state in BAD for line in lines) else 0


def status_command(
    run_dir: Path,
    watch: bool = False,
    interval: float = 5.0,
    *,
    query: SlurmQuery | None = None,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    trust_shared: bool = False,
) -> int:
    out = out or sys.stdout
    run_dir = Path(run_dir)
    trust.check_run_dir(run_dir, trust_shared=trust_shared)
    if not manifest.plan_path(run_dir).is_file():
        raise UsageError(f"{run_dir} is not a run directory (no plan.json); run `mfile compile` first")
    query = query or SlurmQuery()
    tty = watch and out.isatty()
    shown = None
    while True:
        try:
            lines, when = collect(run_dir, query)
        except ValueError as exc:
                raise UsageError(str(exc).splitlines()[0]) from None
        text = render(run_dir, lines, when)
        if query.error:
            text += f"warning: cannot ask Slurm: {query.error}\n"
        if text != shown:
            if tty:
                out.write("\x1b[H\x1b[J")
            elif shown is not None:
                out.write("\n")
            out.write(text)
            out.flush()
            shown = text
        if not watch or query.missing or (all(line.final for line in lines) and not query.error):
            return exit_code(lines)
        sleep(max(interval, MIN_INTERVAL))
