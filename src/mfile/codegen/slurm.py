"""Slurm words: ``#SBATCH`` flags, the container and launch argv of a job, all quoted here.

Every word that reaches a script passes through :func:`word` (``shlex.quote``) or is a
compiler constant; parameters never do (they travel in ``plan.json``). Flags are rendered by
one pure function, :func:`render_flags`, sorted so the same job gives the same bytes.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Mapping

from mfile.codegen.jobs import Job, job_name
from mfile.codegen.profile import Profile
from mfile.plan.ir import Resources, Task
from mfile.plan.manifest import Plan
from mfile.plan.units import format_time, parse_memory, parse_time

FlagValue = str | int | bool | None


def word(text: str | int) -> str:
    return shlex.quote(str(text))


def comment(text: object) -> str:
    """Text for a ``#`` comment line: printable ASCII only, so a newline in a name (or any
    control character) can never end the comment and start a command."""
    return re.sub(r"[^ -~]", "?", str(text))


def render_flags(options: Mapping[str, FlagValue]) -> list[str]:
    """``{"cpus_per_task": 4, "requeue": True, "mem": None}`` -> ``["--cpus-per-task=4", "--requeue"]``.

    Keys sorted, ``_`` -> ``-``, True as a bare flag, False/None left out, values quoted.
    """
    flags = []
    for key in sorted(options):
        value = options[key]
        if value is None or value is False:
            continue
        name = "--" + key.replace("_", "-")
        flags.append(name if value is True else f"{name}={word(value)}")
    return flags


_ENV_PREFIX = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?(/.*)?$")


def shell_path(path: str, what: str = "the container image") -> str:
    """A path for a script: ``$VAR/rest`` keeps the variable (it must be set when the job runs,
    with a clear message if not); everything else is quoted literally."""
    m = _ENV_PREFIX.fullmatch(path)
    if not m:
        return word(path)
    var, rest = m.group(1), m.group(2) or ""
    # The message after :? is expanded by the shell too, so it holds plain words only.
    return f'"${{{var}:?is not set: {what} is under it}}"' + (word(rest) if rest else "")


def sbatch_options(plan: Plan, profile: Profile, job: Job, res: Resources, task: Task) -> dict[str, FlagValue]:
    slurm = plan.extra.get("slurm", {})
    options: dict[str, FlagValue] = {
        "job_name": job_name(plan.pipeline.name, job.name),
        "account": slurm.get("account"),
        "partition": res.partition,
        "time": res.time,
        "nodes": res.nodes,
        "ntasks": res.tasks,
        # Without it Slurm may pack 7 ranks on one node and 1 on the other (DDP wants 4 + 4).
        "ntasks_per_node": (res.tasks or 1) // (res.nodes or 1) if (res.tasks or 1) > 1 else None,
        "cpus_per_task": res.cpus_per_task,
        "gres": f"gpu:{res.gpus}" if res.gpus else None,
        "mem": f"{parse_memory(res.memory)}M" if res.memory else None,
        "output": "logs/%x-%A_%a.out" if job.kind == "array" else "logs/%x-%j.out",
        "error": "logs/%x-%A_%a.err" if job.kind == "array" else "logs/%x-%j.err",
    }
    if job.kind == "select":
        options.update(partition=profile.cpu_partition, time=profile.select_time, nodes=1, ntasks=1,
                       ntasks_per_node=None, cpus_per_task=1, gres=None, mem=None)
        options["time"] = format_time(parse_time(profile.select_time) or 600)
        return options
    if job.kind == "array":
        throttle = (task.search.throttle if task.search else None) or profile.array_throttle
        options["array"] = f"0-{job.count - 1}%{min(throttle, job.count)}"
    if checkpoints(task, job):
        options["signal"] = f"B:USR1@{profile.signal_seconds}"
        options["requeue"] = bool(res.requeue)
        # A requeued job keeps its job id: append, so the log of the run that checkpointed stays.
        options["open_mode"] = "append" if res.requeue else None
    return options


def checkpoints(task: Task, job: Job) -> bool:
    """Trainables (also inside a search) get the warning signal so they can checkpoint."""
    if job.kind == "select":
        return False
    steps = task.search.steps if task.search is not None else (task,)
    return any(s.item is not None and s.item.kind == "trainable" and s.mode == "run" for s in steps)


@dataclass(frozen=True)
class Launch:
    """How the job starts its ranks: words already quoted for the script."""

    srun: str  # "srun --mpi=... ": every task step runs under srun, one rank or many
    ddp: bool
    environment: str  # "apptainer", "modules" or "none"
    container: str | None  # "apptainer exec --cleanenv [--nv]"
    binds: tuple[str, ...]  # quoted literal paths bound into the container
    bind_env: tuple[str, ...]  # variable names whose directories are bound when set
    image: str | None
    modules: str  # `module load` words (environment "modules"), else ""
    python: str
    runtime_args: str
    env: tuple[tuple[str, str], ...]  # (name, quoted value) for every rank


def launch(plan: Plan, profile: Profile, job: Job, res: Resources, task: Task) -> Launch:
    ranks = (res.tasks or 1) if job.kind != "select" else 1
    # One rank too: the step then gets its CPUs, GPUs and binding from Slurm like a multi-rank one.
    srun = " ".join(["srun", *profile.mpi.args]) if profile.mpi.launcher == "srun" else ""
    args = ["-m", "mfile.runtime", '"$RUN_DIR/plan.json"', word(task.id)]
    if job.kind == "array":
        args.append("--point-from-env")
        if job.offset:
            args += ["--point-offset", word(job.offset)]
    elif job.kind == "select":
        args.append("--select")
    env = dict(res.env)
    if job.kind == "select":  # one CPU: picks a file, trains nothing
        env["OMP_NUM_THREADS"] = "1"
    env_words = tuple((name, word(value)) for name, value in sorted(env.items()))
    # torch.distributed needs a rendezvous when a trainable runs as several ranks.
    ddp = ranks > 1 and bool(srun) and checkpoints(task, job)
    environment = res.environment or "none"
    slurm = plan.extra.get("slurm", {})
    if environment == "none":
        python = word(slurm.get("python") or "python")
        return Launch(srun, ddp, environment, None, (), (), None, "", python, " ".join(args), env_words)
    if environment == "modules":
        python = shell_path(f"{(profile.modules.venv or '').rstrip('/')}/bin/python", "the venv")
        return Launch(srun, ddp, environment, None, (), (), None, " ".join(profile.modules.load), python, " ".join(args), env_words)
    words = [*profile.container.command, *profile.container.flags]
    if res.gpus and job.kind != "select":
        words += list(profile.container.gpu_flags)
    steps = task.search.steps if task.search is not None else (task,)
    binds = sorted({s.item.directory for s in steps if s.item is not None} | set(slurm.get("binds", ())))
    image = profile.image_for(profile.cpu_partition) if job.kind == "select" else res.container
    return Launch(
        srun=srun,
        ddp=ddp,
        environment=environment,
        container=" ".join(words),
        binds=tuple(word(d) for d in binds),
        bind_env=profile.container.bind_env,
        image=shell_path(image or ""),
        modules="",
        python=word(profile.container.python),
        runtime_args=" ".join(args),
        env=env_words,
    )
