"""The local executor behind ``mfile run``: the whole plan on this machine, no Slurm.

Every task runs as the same command a Slurm job runs (``python -m mfile.runtime PLAN TASK``,
under ``mpirun -n N`` when it has several ranks), so a local run exercises exactly the code
path of the cluster apart from ``srun`` and the container prefix.

Why plain ``subprocess`` and not submitit's LocalExecutor: submitit runs pickled Python
callables in its own folder layout and has no notion of dependencies between jobs, of MPI
launches or of our log files; what we need is "start this command line, with this log, when
its inputs are done", which is ``Popen`` plus a small ready-queue.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mfile.diagnostics import terminal_safe
from mfile.errors import UsageError
from mfile.plan import manifest
from mfile.plan.state import tasks_to_run

POLL_S = 0.1
HEARTBEAT_S = 15.0
TAIL_LINES = 15
SKIP_MARK = "skipped: up to date"
STALE_MARK = "] stale: "  # after the runtime's "[task 0.0s" prefix: why a task with a record re-ran
EXIT_REQUEUE = 75


@dataclass
class Unit:
    """One process launch: a task, one grid point of a search, or a search's select."""

    name: str  # shown in the progress display and used for the log file name
    task: str
    args: tuple[str, ...]
    ranks: int
    needs: set[str] = field(default_factory=set)  # names of units that must be done first
    state: str = "pending"  # pending | running | done | skipped | failed | blocked
    proc: subprocess.Popen | None = None
    log: Path | None = None
    started: float = 0.0
    elapsed: float = 0.0
    note: str = ""
    select: bool = False


def build_units(plan: manifest.Plan, force: bool, only: set[str] | None = None) -> dict[str, Unit]:
    """The processes to start; ``only``: these tasks (the others are done and not waited for)."""
    deps = plan.pipeline.dependencies()
    units: dict[str, Unit] = {}
    extra = ("--force",) if force else ()
    # A task that reads a search depends on the search's select unit.
    final = {t.id: (f"{t.id}.select" if t.kind == "search" else t.id) for t in plan.pipeline.tasks}
    for t in plan.pipeline.tasks:
        if only is not None and t.id not in only:
            continue
        needs = {final[d] for d in deps[t.id] if only is None or d in only}
        if t.kind == "search" and t.search is not None:
            ranks = max((s.resources.tasks or 1) for s in t.search.steps)
            points = []
            for i in range(len(t.search.points)):
                name = f"{t.id}.point-{i}"
                units[name] = Unit(name, t.id, ("--point", str(i), *extra), ranks, set(needs))
                points.append(name)
            units[f"{t.id}.select"] = Unit(f"{t.id}.select", t.id, ("--select", *extra), 1, set(points), select=True)
        else:
            units[t.id] = Unit(t.id, t.id, extra, t.resources.tasks or 1, needs)
    return units


def child_env() -> dict[str, str]:
    """Our environment minus any launcher's rank variables (``mfile run`` inside an salloc
    shell must not make every task think it is one rank of the allocation)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "PMI_", "PMIX_", "OMPI_COMM_WORLD"))}
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def command(plan_file: Path, unit: Unit, mpirun: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "mfile.runtime", str(plan_file), unit.task, *unit.args]
    if unit.ranks > 1 and mpirun:
        cmd = [mpirun, "-n", str(unit.ranks), "--oversubscribe", *cmd]
    return cmd


class Display:
    """Progress on stderr: one line per event, and which tasks run every HEARTBEAT_S."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.last = time.monotonic()

    def line(self, text: str) -> None:
        print(terminal_safe(text), file=self.stream, flush=True)  # task names and log tails are user text
        self.last = time.monotonic()

    def event(self, unit: Unit, what: str, detail: str = "") -> None:
        secs = f"{unit.elapsed:7.1f}s" if what not in ("start", "blocked") else " " * 8
        self.line(f"  {what:<8} {unit.name:<28} {secs}  {detail}".rstrip())

    def heartbeat(self, running: list[Unit], counts: dict[str, int], total: int) -> None:
        if time.monotonic() - self.last < HEARTBEAT_S or not running:
            return
        now = time.monotonic()
        busy = ", ".join(f"{u.name} {now - u.started:.0f}s" for u in running)
        finished = counts.get("done", 0) + counts.get("skipped", 0)
        self.line(f"  ...      {finished}/{total} finished; running: {busy}")


def _tail(path: Path | None, n: int = TAIL_LINES) -> list[str]:
    if path is None or not path.is_file():
        return []
    return path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]


def run_local(
    run_dir: Path, resume: bool = True, jobs: int | None = None, stream: IO[str] | None = None, stage: str | None = None
) -> int:
    """Run every task of the plan in ``run_dir`` (or one stage's and what it needs that is not
    done); 0 when all are done, 1 when any failed."""
    run_dir = Path(run_dir).resolve()
    plan_file = manifest.plan_path(run_dir)
    plan = manifest.load_plan(plan_file)
    slots = max(1, jobs or os.cpu_count() or 1)
    mpirun = shutil.which("mpirun")
    only = set(tasks_to_run(plan, run_dir, resume=False, stage=stage)) if stage else None
    units = build_units(plan, force=not resume, only=only)
    logs = manifest.log_dir(run_dir)
    if logs.is_symlink():
        raise UsageError(f"{logs} is a symbolic link; mfile never writes through one")
    logs.mkdir(parents=True, exist_ok=True)
    show = Display(stream)
    env = child_env()
    t_start = time.monotonic()
    show.line(f"mfile run: pipeline {plan.pipeline.name!r}, {len(units)} runs, up to {slots} at a time (logs in {logs})")
    for u in units.values():
        if u.ranks > 1 and not mpirun:
            u.note = f"mpirun not found: running 1 rank instead of {u.ranks}"
            u.ranks = 1
    used = 0
    order = list(units)
    try:
        while True:
            running = [u for u in units.values() if u.state == "running"]
            for u in running:
                code = u.proc.poll() if u.proc else 0
                if code is None:
                    continue
                u.elapsed = time.monotonic() - u.started
                used -= min(u.ranks, slots)
                _finish(u, code, show)
            _block_dependents(units, show)
            pending = [units[n] for n in order if units[n].state == "pending"]
            for u in pending:
                if not _startable(u, units):
                    continue
                need = min(u.ranks, slots)
                if used + need > slots and used > 0:
                    continue
                _start(u, plan_file, mpirun, logs, env, show)
                used += need
            running = [u for u in units.values() if u.state == "running"]
            if not running and not any(u.state == "pending" and _startable(u, units) for u in units.values()):
                break
            counts: dict[str, int] = {}
            for u in units.values():
                counts[u.state] = counts.get(u.state, 0) + 1
            show.heartbeat(running, counts, len(units))
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        for u in units.values():
            if u.state == "running" and u.proc is not None:
                try:
                    os.killpg(u.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        raise
    for u in units.values():
        if u.state == "pending":  # waiting on something that can never finish
            u.state = "blocked"
    counts = {}
    for u in units.values():
        counts[u.state] = counts.get(u.state, 0) + 1
    failed = counts.get("failed", 0) + counts.get("blocked", 0)
    show.line(
        f"mfile run: {counts.get('done', 0)} done, {counts.get('skipped', 0)} up to date, "
        f"{counts.get('failed', 0)} failed, {counts.get('blocked', 0)} not run, in {time.monotonic() - t_start:.1f}s"
    )
    for line in metric_lines(run_dir, plan):
        show.line(line)
    return 1 if failed else 0


def metric_lines(run_dir: Path, plan: manifest.Plan) -> list[str]:
    """The results a user ran the pipeline for: every metrics port that exists, one line each."""
    lines = []
    for task in plan.pipeline.tasks:
        path = manifest.data_dir(run_dir, task.id, "metrics") / "metrics.json"
        if not path.is_file():
            continue
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if task.search is not None and isinstance(metrics.get("best"), dict):
            best = metrics["best"]
            points = metrics.get("points") or []
            failed = [p.get("point") for p in points if isinstance(p, dict) and p.get("status") != "done"]
            lines.append(
                f"  result   {task.id}: best {metrics.get('metric')} = {best.get('value'):.4g} "
                f"({metrics.get('mode')}, grid point {best.get('point')}: {json.dumps(best.get('params'))})"
                + (f"; {len(failed)} of {len(points)} grid points failed: {', '.join(map(str, failed))}" if failed else "")
            )
        else:
            shown = ", ".join(f"{k} = {v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
            lines.append(f"  result   {task.id}: {shown}")
    return lines


def _startable(u: Unit, units: dict[str, Unit]) -> bool:
    return all(units[d].state in ("done", "skipped") or (u.select and units[d].state == "failed") for d in u.needs)


def _start(u: Unit, plan_file: Path, mpirun: str | None, logs: Path, env: dict[str, str], show: Display) -> None:
    u.log = logs / f"{u.name}.log"
    cmd = command(plan_file, u, mpirun)
    if u.log.is_symlink():  # a planted link would make the log overwrite its target
        u.log.unlink()
    fd = os.open(u.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)  # the umask decides
    with open(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# {' '.join(cmd)}\n")
        fh.flush()
        u.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    u.state, u.started = "running", time.monotonic()
    show.event(u, "start", u.note or (f"{u.ranks} ranks" if u.ranks > 1 else ""))


def _finish(u: Unit, code: int, show: Display) -> None:
    text = "\n".join(_tail(u.log, 400))
    if code == 0:
        u.state = "skipped" if SKIP_MARK in text and "done in" not in text else "done"
        show.event(u, u.state, "up to date" if u.state == "skipped" else stale_note(text))
        return
    u.state = "failed"
    why = "stopped after checkpointing (SIGUSR1); run again to resume" if code == EXIT_REQUEUE else f"exit {code}"
    show.event(u, "FAILED", f"{why}; last lines of {u.log}:")
    for line in _tail(u.log):
        show.line(f"      | {line}")


def stale_note(log_text: str) -> str:
    """``stale: <why>; <why>`` from the runtime's log lines, "" when the task had never run."""
    reasons = [line.split(STALE_MARK, 1)[1].strip() for line in log_text.splitlines() if STALE_MARK in line]
    return f"stale: {'; '.join(reasons)}" if reasons else ""


def _block_dependents(units: dict[str, Unit], show: Display) -> None:
    changed = True
    while changed:
        changed = False
        for u in units.values():
            if u.state != "pending":
                continue
            bad = [d for d in u.needs if units[d].state in ("failed", "blocked") and not (u.select and units[d].state == "failed")]
            if bad:
                u.state = "blocked"
                show.event(u, "blocked", f"not run: {', '.join(sorted(bad))} did not finish")
                changed = True
