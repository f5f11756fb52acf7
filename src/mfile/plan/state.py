"""What a run directory says about itself, read and written in one place: completion records
(is a task done?) and ``state/jobs.json`` (the job ids of the last submission).

The runtime writes the records (``runtime/records.py``); ``submit``, ``status``, ``run`` and a
recompile read them through ``is_done`` / ``done_tasks``, so "done" means the same everywhere.

Input fingerprints: a record lists the data files its task read, as each glob expanded then
(``reads``: the pattern as the user wrote it, the absolute globs tried in order, and
``[path, size, mtime_ns]`` per file). ``read_changes`` expands the same globs again and says
what differs; any difference makes the task stale. Size and mtime_ns, not a content hash:
every ordinary write changes mtime_ns, and stat costs microseconds per file where hashing
terabytes of ERA5 would cost more than the task (docs/architecture.md, "The run directory").
"""

from __future__ import annotations

import datetime as _dt
import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mfile.errors import UsageError
from mfile.plan.manifest import Plan, jobs_path, state_path
from mfile.plan.trust import write_atomic

JOBS_FORMAT = 1
REASONS_PER_KIND = 3  # changed or vanished files named one by one before "N more"


def read_record(path: Path) -> dict[str, Any] | None:
    """A completion record that says "done", or None (missing, unreadable, or not done)."""
    if path.is_symlink():  # a record is a file the runtime wrote, never a link to one
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") == "done" else None


def expand_globs(globs: list[str]) -> list[str]:
    """The files of the first glob that matches any, sorted; [] when none does."""
    for pattern in globs:
        found = sorted(glob.glob(pattern))
        if found:
            return found
    return []


def fingerprint(files: list[str]) -> list[list[Any]]:
    """``[path, size, mtime_ns]`` per file (a file gone meanwhile is left out)."""
    out: list[list[Any]] = []
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.append([path, st.st_size, st.st_mtime_ns])
    return out


def _listed(paths: list[str], what: str, pattern: str) -> list[str]:
    shown = [f"input {p} {what}" for p in paths[:REASONS_PER_KIND]]
    if len(paths) > REASONS_PER_KIND:
        shown.append(f"{len(paths) - REASONS_PER_KIND} more inputs matching {pattern} {what}")
    return shown


def read_changes(reads: Any) -> list[str]:
    """Why the data files a record lists differ from the disk now ([] when none does)."""
    if reads is None:
        return []
    if not isinstance(reads, list):
        return ["the completion record's list of input files is unreadable"]
    reasons: list[str] = []
    for entry in reads:
        try:
            pattern, globs = str(entry["pattern"]), [str(g) for g in entry["globs"]]
            then = {str(f[0]): (int(f[1]), int(f[2])) for f in entry["files"]}
        except (KeyError, TypeError, ValueError, IndexError):
            return ["the completion record's list of input files is unreadable"]
        now = {path: (size, mtime) for path, size, mtime in fingerprint(expand_globs(globs))}
        if not now:
            reasons.append(f"{pattern} matches no file any more")
            continue
        if now == then:
            continue
        reasons += _listed([p for p in now if p in then and now[p] != then[p]], "changed", pattern)
        new = [p for p in now if p not in then]
        if new:
            reasons.append(f"{len(new)} new file{'s match' if len(new) > 1 else ' matches'} {pattern}")
        reasons += _listed([p for p in then if p not in now], "is gone", pattern)
    return reasons


def stale_inputs(run_dir: Path, task_id: str) -> list[str]:
    """Why a task whose record says done no longer matches the data files it read."""
    record = read_record(state_path(run_dir, task_id))
    return read_changes(record.get("reads")) if record is not None else []


def is_done(run_dir: Path, task_id: str) -> bool:
    """A task is done when its completion record exists, says so, and every data file it read
    is as it was. Whether the upstream outputs, params and item still match is the runtime's
    check when the job runs (a stale one is redone)."""
    record = read_record(state_path(run_dir, task_id))
    return record is not None and not read_changes(record.get("reads"))


def done_tasks(run_dir: Path) -> list[str]:
    """Ids of the tasks whose records say done, sorted."""
    state = run_dir / "state"
    records = sorted(state.glob("*.json")) if state.is_dir() else []
    return [r.stem for r in records if r.name != jobs_path(run_dir).name and read_record(r) is not None]


@dataclass(frozen=True)
class JobRow:
    """A job as ``mfile submit`` recorded it."""

    name: str  # job name within the run: the task id, <search>.partN or <search>.select
    task: str
    kind: str  # task | array | select
    job_id: str


def read_jobs(run_dir: Path) -> tuple[list[JobRow], str | None]:
    """Rows of ``state/jobs.json`` (and when they were submitted); [] before any submit.

    Accepts submit's format (``{"jobs": [{"name", "task", "kind", "job_id"}, ...]}``) and a plain
    mapping ``{"jobs": {name: job_id}}`` or ``{name: job_id}``.
    """
    try:
        data: Any = json.loads(jobs_path(run_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{jobs_path(run_dir)} is unreadable ({exc})") from None
    when = data.get("submitted_at") if isinstance(data, dict) else None
    jobs = data.get("jobs", data) if isinstance(data, dict) else data
    rows: list[JobRow] = []
    if isinstance(jobs, dict):
        for name, job_id in jobs.items():
            if name in ("format", "submitted_by", "submitted_at"):
                continue
            task, _, suffix = str(name).partition(".")
            kind = "select" if suffix == "select" else "task"
            rows.append(JobRow(str(name), task, kind, str(job_id).split(";")[0]))
    elif isinstance(jobs, list):
        for entry in jobs:
            if isinstance(entry, dict) and entry.get("job_id") is not None:
                name = str(entry.get("name") or entry.get("task"))
                rows.append(
                    JobRow(name, str(entry.get("task") or name.split(".")[0]), str(entry.get("kind", "task")),
                           str(entry["job_id"]).split(";")[0])
                )
    return rows, when if isinstance(when, str) else None


def write_jobs(run_dir: Path, rows: list[dict], keep_from_before: set[str]) -> None:
    """Record a submission's jobs atomically, keeping the rows of tasks it did not resubmit."""
    path = jobs_path(run_dir)
    previous: list[dict] = []
    try:
        previous = json.loads(path.read_text(encoding="utf-8")).get("jobs", [])
    except (OSError, ValueError, AttributeError):
        previous = []
    kept = [r for r in previous if isinstance(r, dict) and r.get("task") in keep_from_before]
    data = {
        "format": JOBS_FORMAT,
        "submitted_by": "mfile submit",
        "submitted_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "jobs": kept + rows,
    }
    write_atomic(path, json.dumps(data, indent=2) + "\n")  # a fresh name, never a planted symlink


def tasks_to_run(plan: Plan, run_dir: Path, resume: bool, stage: str | None) -> list[str]:
    """Task ids to run (``submit``, ``run``), in the pipeline's (topological) order: all, or a
    stage's own tasks and what they need that is not done; with ``resume`` only what is not
    done (or whose inputs are about to change)."""
    pipeline = plan.pipeline
    order = [t.id for t in pipeline.tasks]
    if stage is None:
        wanted = set(order)
    else:
        try:
            own = set(pipeline.stage_tasks(stage))
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
        deps = pipeline.dependencies()
        wanted, todo = set(own), list(own)
        while todo:  # what the stage needs, unless it is already done
            for dep in deps.get(todo.pop(), ()):
                if dep not in wanted and not is_done(run_dir, dep):
                    wanted.add(dep)
                    todo.append(dep)
    if resume:
        wanted = _to_redo(order, pipeline.dependencies(), run_dir, wanted)
    return [t for t in order if t in wanted]


def _to_redo(order: list[str], deps: dict[str, tuple[str, ...]], run_dir: Path, wanted: set[str]) -> set[str]:
    """Of ``wanted``: the tasks not done (no record, or a data file they read changed) and
    every task after one of them, whose inputs are about to change."""
    redo: set[str] = set()
    for task in order:  # topological: a task's dependencies were decided before it
        if task in wanted and (not is_done(run_dir, task) or any(d in redo for d in deps.get(task, ()))):
            redo.add(task)
    return redo
