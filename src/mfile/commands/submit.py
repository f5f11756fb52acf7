"""``mfile submit OUT/P``: queue a compiled run directory on Slurm from Python.

Same chain as ``submit.sh`` (every job at once, ``afterok`` edges, ``--kill-on-invalid-dep``),
plus: retries of transient sbatch failures with backoff, ``--dry-run``, ``--resume`` (skip
tasks whose completion record says done), ``--stage S`` (that stage and whatever it needs that
is not done), a warning when the M-File or a header changed since compile, a lock so two
submits of one run directory cannot interleave, and ``state/jobs.json`` with the job ids.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

from mfile.codegen.jobs import Job, plan_jobs
from mfile.codegen.profile import Profile
from mfile.errors import UsageError
from mfile.plan import manifest, trust
from mfile.plan.manifest import Plan
from mfile.plan.state import is_done, read_jobs, stale_inputs, tasks_to_run, write_jobs
from mfile.slurm.scheduler import Scheduler, SchedulerError, SlurmScheduler

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)  # seconds between attempts after a transient failure
LOCK_NAME = "submit.lock"


class SubmitError(UsageError):
    """A problem with how submit was called or with the run directory (exit 2)."""


def stale_notes(plan: Plan, run_dir: Path) -> list[str]:
    """``stale: <task>: <why>`` for each task whose record says done but whose data files changed."""
    return [f"stale: {t.id}: {why}" for t in plan.pipeline.tasks for why in stale_inputs(run_dir, t.id)]


def changed_inputs(plan: Plan) -> list[str]:
    """Files the plan was compiled from that are missing or differ on disk now."""
    problems = []
    files = [("M-File", plan.source.path, plan.source.sha256)]
    files += [(f"header of {h.ref}", h.path, h.sha256) for h in plan.headers]
    for what, path, digest in files:
        try:
            now = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            problems.append(f"the {what} ({path}) is gone since compile")
            continue
        if now != digest:
            problems.append(f"the {what} ({path}) changed since compile: recompile to use the new version")
    return problems


def _sibling_jobs(sibling: Path) -> dict[str, str]:
    """Task id -> id of the job that completes it, from another run directory's jobs.json."""
    try:
        rows = json.loads(manifest.jobs_path(sibling).read_text(encoding="utf-8")).get("jobs", [])
    except (OSError, ValueError, AttributeError):
        return {}
    return {r["task"]: str(r["job_id"]) for r in rows
            if isinstance(r, dict) and r.get("kind") in ("task", "select") and "task" in r and "job_id" in r}


def sibling_dependencies(plan: Plan, run_dir: Path, err: TextIO) -> dict[str, list[str]]:
    """Tasks that read another pipeline's outputs that are not done yet: wait (afterok) for the
    job that makes them, when that pipeline was submitted; else warn that they will fail."""
    waits: dict[str, list[str]] = {}
    for other in plan.needs_pipelines:
        sibling = manifest.source_run_dir(run_dir, other)
        queued = _sibling_jobs(sibling)
        for task in plan.pipeline.tasks:
            bindings = list(task.inputs) + [b for s in (task.search.steps if task.search else ()) for b in s.inputs]
            for source in sorted({b.source_task for b in bindings if b.source_pipeline == other}):
                if is_done(sibling, source):
                    continue
                if source in queued:
                    waits.setdefault(task.id, []).append(queued[source])
                    err.write(f"mfile: note: {task.id} waits for job {queued[source]} ({other}.{source}), "
                              "which has not finished yet\n")
                else:
                    err.write(f"mfile: warning: pipeline {other!r} has not finished {source} and it is not "
                              f"queued: {task.id} will fail (submit {sibling} first)\n")
    return waits


def _submit_with_retry(scheduler: Scheduler, job: Job, options: list[str], run_dir: Path,
                       sleep: Callable[[float], None], err: TextIO) -> str:
    for attempt, delay in enumerate((*RETRY_DELAYS, None)):
        try:
            return scheduler.submit(Path(job.script), options, run_dir)
        except SchedulerError as exc:
            if not exc.transient or delay is None:
                raise
            err.write(f"mfile: sbatch for {job.name} failed ({exc}); retrying in {delay:g} s\n")
            sleep(delay)
    raise AssertionError("unreachable")


def submit_command(
    run_dir: Path,
    dry_run: bool,
    resume: bool,
    stage: str | None,
    scheduler: Scheduler | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    trust_shared: bool = False,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if Path(run_dir).is_symlink():
        raise SubmitError(f"{run_dir} is a symbolic link; submit the run directory itself")
    run_dir = Path(run_dir).resolve()
    trust.check_run_dir(run_dir, trust_shared=trust_shared, out=err)
    for sub in ("state", "logs"):  # written below: never through a link, trusted or not
        if (run_dir / sub).is_symlink():
            raise SubmitError(f"{run_dir / sub} is a symbolic link; mfile never writes through one")
    try:
        plan = manifest.load_plan(manifest.plan_path(run_dir))
    except OSError:
        raise SubmitError(f"{run_dir} is not a run directory (no readable plan.json); run `mfile compile` first") from None
    except ValueError as exc:
        raise SubmitError(f"{manifest.plan_path(run_dir)} is not a valid plan ({str(exc).splitlines()[0]}); recompile") from None
    profile = Profile.model_validate(plan.extra["slurm"]["profile"])
    for problem in changed_inputs(plan):
        err.write(f"mfile: warning: {problem}\n")
    external = sibling_dependencies(plan, run_dir, err)

    if resume:
        for note in stale_notes(plan, run_dir):
            err.write(f"mfile: {note}\n")
    tasks = set(tasks_to_run(plan, run_dir, resume, stage))
    jobs = [j for j in plan_jobs(plan, profile) if j.task in tasks]
    if not jobs:
        out.write("nothing to submit: every selected task is done\n")
        return 0
    if dry_run:
        out.write("# dry run: @NAME stands for the job id sbatch prints for job NAME\n")
        for job in jobs:
            after = [f"@{a}" for a in job.after if any(j.name == a for j in jobs)]
            after += external.get(job.task, []) if job.kind != "select" else []
            options = _options(run_dir, after, job.dependency)
            out.write(shlex.join(["sbatch", "--parsable", *options, job.script]) + "\n")
        return 0

    scheduler = scheduler or SlurmScheduler()
    manifest.jobs_path(run_dir).parent.mkdir(parents=True, exist_ok=True)
    manifest.log_dir(run_dir).mkdir(parents=True, exist_ok=True)
    lock_path = run_dir / "state" / LOCK_NAME
    try:  # never through a planted symlink: O_NOFOLLOW, and truncated only once it is ours
        lock_fd = trust.open_lock(lock_path)
    except OSError as exc:
        raise SubmitError(f"cannot open {lock_path} ({exc.strerror or exc}); is it a symbolic link?") from None
    with open(lock_fd, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise SubmitError(f"another `mfile submit` is running on {run_dir} (pid {holder}); "
                         "wait for it to finish, then use --resume") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        _refuse_while_live(run_dir, scheduler, jobs, err)
        return _submit_jobs(run_dir, plan, jobs, tasks, external, scheduler, sleep, out, err)


def _refuse_while_live(run_dir: Path, scheduler: Scheduler, jobs: list[Job], err: TextIO) -> None:
    """A task of the last submission still queued or running is not done, so a second submit
    (a resume most of all) would queue it again beside the first: refuse instead. Asked under
    the lock, so of two submits at once the second sees the first's jobs."""
    rows, _when = read_jobs(run_dir)
    names = {j.name for j in jobs}
    mine = {r.job_id: r.name for r in rows if r.name in names}
    if not mine:
        return
    ask = getattr(scheduler, "live", None)  # a scheduler of the API's caller may not know how
    if ask is None:
        return
    try:
        live = ask(sorted(mine))
    except SchedulerError as exc:
        err.write(f"mfile: warning: cannot ask Slurm whether the last submission's jobs still run ({exc}); "
                  "submitting anyway\n")
        return
    if live:
        listed = ", ".join(f"{mine[j]} {j} {state.lower()}" for j, state in sorted(live.items()))
        raise SubmitError(f"jobs of the last submission to {run_dir} are still queued or running ({listed}); "
                          "wait for them (mfile status --watch) or scancel them, then submit again")


def _options(run_dir: Path, after_ids: list[str], dependency: str = "afterok") -> list[str]:
    options = [f"--chdir={run_dir}"]
    if after_ids:
        options += [f"--dependency={dependency}:{':'.join(after_ids)}", "--kill-on-invalid-dep=yes"]
    return options


def _submit_jobs(run_dir: Path, plan: Plan, jobs: list[Job], tasks: set[str], external: dict[str, list[str]],
                 scheduler: Scheduler,
                 sleep: Callable[[float], None], out: TextIO, err: TextIO) -> int:
    ids: dict[str, str] = {}
    rows: list[dict] = []
    for job in jobs:
        # Jobs of tasks not queued now are done: nothing to wait for.
        after = [ids[a] for a in job.after if a in ids]
        after += external.get(job.task, []) if job.kind != "select" else []
        try:
            job_id = _submit_with_retry(scheduler, job, _options(run_dir, after, job.dependency), run_dir, sleep, err)
        except SchedulerError as exc:
            err.write(f"mfile: error: sbatch refused {job.script}: {exc}\n")
            if external.get(job.task) and "dependency" in str(exc).lower():
                err.write(f"mfile: hint: it waits for job(s) {' '.join(external[job.task])} of another pipeline, which "
                          "Slurm no longer knows or which failed: submit that pipeline again first\n")
            if ids:
                scheduler.cancel(list(ids.values()))
                err.write(f"mfile: cancelled the {len(ids)} job(s) this submit had queued: {' '.join(ids.values())}\n")
            return 1
        ids[job.name] = job_id
        rows.append({"name": job.name, "task": job.task, "kind": job.kind, "job_id": job_id, "after": after})
        out.write(f"{job.name}: {job_id}\n")
        out.flush()
    keep = {t.id for t in plan.pipeline.tasks} - tasks
    write_jobs(run_dir, rows, keep)
    return 0
