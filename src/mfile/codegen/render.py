"""Render a plan into its run directory: ``plan.json``, ``jobs/*.sbatch``, ``submit.sh``.

:func:`render_scripts` is pure (same plan and profile, byte-identical text); scripts are
location-independent (jobs run with ``--chdir`` = the run directory), so the run directory can
move. :func:`write_run_dir` writes atomically: everything goes into a temporary directory next
to the target, which replaces it at the end; completed outputs and records survive a
recompile unless ``force``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import jinja2

from mfile.codegen.jobs import Job, plan_jobs
from mfile.codegen.profile import Profile
from mfile.codegen.slurm import comment, launch, render_flags, sbatch_options, word
from mfile.errors import UsageError
from mfile.plan import manifest, trust
from mfile.plan.manifest import Plan
from mfile.plan.state import done_tasks, read_jobs
from mfile.slurm.query import parse_squeue, run_command, squeue_argv

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
RANK_ENV = "jobs/rank-env.sh"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # shell, not HTML: quoting is done by slurm.word before rendering
    )


def _task_summary(task) -> str:
    if task.item is None:
        return task.kind
    mode = " predict" if task.mode == "predict" else ""
    return f"{task.item.kind}{mode} {task.item.ref}"


def _job_script(plan: Plan, profile: Profile, job: Job, task) -> str:
    res = task.resources
    options = sbatch_options(plan, profile, job, res, task)
    run = launch(plan, profile, job, res, task)
    template = {"task": "job.sbatch.j2", "array": "array.sbatch.j2", "select": "select.sbatch.j2"}[job.kind]
    search = task.search
    context = dict(
        version=plan.mfile_version,
        task_id=comment(task.id),
        pipeline=comment(plan.pipeline.name),
        what=comment(_task_summary(task)),
        source_name=comment(Path(plan.source.path).name),
        sbatch=render_flags(options),
        extra=list(res.sbatch_extra) if job.kind != "select" else [],
        run=run,
        suffix=profile.interconnect_suffix,
        signal="signal" in options,
        signal_seconds=profile.signal_seconds,
        requeue=bool(options.get("requeue")),
        offset=job.offset,
        first=job.offset,
        last=job.offset + job.count - 1,
        points=len(search.points) if search else 0,
        metric=comment(f"{search.metric_step}.{search.metric_port}.{search.metric_column}") if search else "",
        mode=comment(search.mode) if search else "",
    )
    return _env().get_template(template).render(**context)


def _submit_script(plan: Plan, jobs: list[Job]) -> str:
    rows = []
    by_id = {t.id: t for t in plan.pipeline.tasks}
    for job in jobs:
        task = by_id[job.task]
        after = ":".join(f"${{job[{word(a)}]}}" for a in job.after)
        kind = {"task": "task", "array": "array of grid points", "select": "pick the best point"}[job.kind]
        waits = f", after {', '.join(job.after)}" if job.after else ""
        rows.append(
            dict(
                key=word(job.name), name=job.name, name_q=word(job.name), task_q=word(job.task),
                kind=job.kind, script=word(job.script), after=after, dependency=job.dependency,
                comment=comment(f"{job.name}: {kind} (stage {task.stage}){waits}"),
            )
        )
    return _env().get_template("submit.sh.j2").render(version=plan.mfile_version, pipeline=comment(plan.pipeline.name), jobs=rows)


def render_scripts(plan: Plan, profile: Profile) -> dict[str, str]:
    """Relative path -> text of every generated script (pure and deterministic)."""
    jobs = plan_jobs(plan, profile)
    by_id = {t.id: t for t in plan.pipeline.tasks}
    out = {job.script: _job_script(plan, profile, job, by_id[job.task]) for job in jobs}
    out[RANK_ENV] = _env().get_template("rank-env.sh.j2").render(version=plan.mfile_version)
    out["submit.sh"] = _submit_script(plan, jobs)
    return dict(sorted(out.items()))


class RunDirError(UsageError):
    """The target cannot be (re)written: not a run directory, or a submit is running on it."""


def _check_replaceable(target: Path) -> None:
    """Refuse to replace what is not ours: a file, a non-empty directory without plan.json,
    or a run directory that `mfile submit` is queueing right now (it holds state/submit.lock)."""
    if target.is_symlink() or not target.is_dir():
        raise RunDirError(f"{target} exists and is not a directory; choose another -o")
    if not manifest.plan_path(target).is_file() and any(target.iterdir()):
        raise RunDirError(f"{target} is not an mfile run directory (no plan.json); refusing to replace it: "
                     "choose another -o or remove it yourself")
    lock = target / "state" / "submit.lock"
    if trust.inside(target, "state/submit.lock") and lock.is_file():
        fd = trust.open_lock(lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(f"`mfile submit` is queueing {target} right now; compile again when it is done") from None
        finally:
            os.close(fd)


def _check_no_live_jobs(target: Path, query: Callable[[list[str]], Any] | None = None) -> None:
    """Refuse to replace a run directory whose last submission still has jobs queued or
    running: they would write into the new directory's place, or lose their outputs.

    One squeue call for all recorded job ids; where Slurm cannot be asked (no squeue here,
    a login node without the cluster), there is nothing to protect and nothing is refused."""
    try:
        rows, _ = read_jobs(target)
    except (OSError, ValueError):
        return
    ids = sorted({row.job_id for row in rows if row.job_id})
    if not ids:
        return
    result = (query or run_command)(squeue_argv(ids))
    if result.returncode != 0:
        return
    live = sorted({job.job_id for job in parse_squeue(result.stdout) if not job.final})
    if live:
        raise RunDirError(
            f"jobs {', '.join(live)} of the last submission of {target} are still queued or running; "
            "wait for them (mfile status --watch), scancel them, or compile to another -o "
            "(--force replaces the run directory anyway)"
        )


def _new_dir(parent: Path, prefix: str) -> Path:
    """A new, uniquely named directory whose mode follows the umask (``tempfile.mkdtemp`` makes
    0700, which would keep a shared run's logs and results from the rest of the project)."""
    for _ in range(100):
        path = parent / f"{prefix}{uuid.uuid4().hex[:8]}"
        try:
            path.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"cannot find an unused name {prefix}* in {parent}")


def _make_executable(path: Path) -> None:
    """``chmod +x`` as the umask allows it: execute for whoever may read the file."""
    mode = path.stat().st_mode & 0o777
    path.chmod(mode | (mode & 0o444) >> 2)


def write_run_dir(plan: Plan, profile: Profile, out_dir: Path, force: bool = False, trust_shared: bool = False) -> Path:
    """Write ``out_dir/<pipeline>`` and return it.

    The new run directory is complete before anything of the old one is touched; then the old
    one is moved aside, finished tasks' outputs move over (unless ``force``), the new one takes
    its name, and only then is the old one deleted. Any failure on the way puts everything back.
    An output root or an old run directory that someone else controls is refused unless
    ``trust_shared`` (plan.trust).
    """
    target = out_dir / plan.pipeline.name
    in_apptainer = any(t.resources.environment == "apptainer" for t in plan.pipeline.tasks)
    if in_apptainer and any(c in str(target.absolute()) for c in ",:"):
        raise RunDirError(f"{target.absolute()} contains ',' or ':', which Apptainer's --bind reads as separators; "
                          "choose an -o without them")
    trust.check_output_root(out_dir, trust_shared=trust_shared)
    if target.exists() or target.is_symlink():
        if not target.is_symlink() and target.is_dir():
            trust.check_run_dir(target, trust_shared=trust_shared)
        _check_replaceable(target)
        if not force:
            _check_no_live_jobs(target)
    if out_dir.exists() and not out_dir.is_dir():
        raise RunDirError(f"the output directory {out_dir} is a file; choose another -o")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = _new_dir(out_dir, f".{plan.pipeline.name}.")
    except OSError as exc:
        raise RunDirError(f"cannot write under {out_dir}: {exc.strerror or exc}") from None
    try:
        for sub in ("jobs", "logs", "state", "data"):
            (tmp / sub).mkdir()
        manifest.plan_path(tmp).write_text(manifest.dump_plan(plan), encoding="utf-8")
        for rel, text in render_scripts(plan, profile).items():
            path = tmp / rel
            path.write_text(text, encoding="utf-8")
            if rel.endswith((".sh", ".sbatch")):
                _make_executable(path)
        if not target.exists():
            os.replace(tmp, target)
            return target
        old = _new_dir(out_dir, f".{plan.pipeline.name}.old.")
        previous = old / "run"
        os.replace(target, previous)
        moved: list[Path] = []
        try:
            if not force:
                _carry_over(previous, tmp, moved, plan)
            os.replace(tmp, target)
        except BaseException:
            for rel in reversed(moved):  # outputs go back before the old directory does
                os.replace(tmp / rel, previous / rel)
            os.replace(previous, target)
            old.rmdir()
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _carry_over(previous: Path, fresh: Path, moved: list[Path], plan: Plan) -> None:
    """Keep what finished tasks produced (records, outputs, search points) and the old logs.

    Only the new plan's own task ids are carried over (a record under any other name is left
    behind), and nothing is reached through a symbolic link: a path whose any component in the
    old run directory is a link stays where it is. Every relative path moved is appended to
    ``moved`` so a failure can move it back."""
    ids = {t.id for t in plan.pipeline.tasks}
    searches = {t.id for t in plan.pipeline.tasks if t.kind == "search"}
    rels = []
    done = [task_id for task_id in done_tasks(previous) if task_id in ids] if trust.inside(previous, "state") else []
    for task_id in done:
        rels += [Path("state") / f"{task_id}.json", Path("state") / task_id, Path("data") / task_id]
    # A search that did not finish keeps its finished grid points: the runtime checks each
    # point's record against the new plan and only redoes what changed. (A finished search
    # moves whole, above: moving its points first would leave data/<search> half there.)
    for task_id in sorted(searches - set(done)):
        rels += [Path("state") / task_id, Path("data") / task_id / "points"]
    if trust.inside(previous, "logs"):
        rels += [Path("logs") / entry.name for entry in sorted((previous / "logs").iterdir())]
    for rel in rels:
        src, dst = previous / rel, fresh / rel
        if trust.inside(previous, rel) and not dst.exists() and not dst.is_symlink():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            moved.append(rel)
