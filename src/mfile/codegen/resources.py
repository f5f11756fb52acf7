"""Resolve each task's resources against the site profile and check them (E4xx).

Order of precedence: the header's ``execution:`` and then ``configure(resources=...)`` (both
already merged into ``Task.resources`` by the front end, with ``origin`` saying where each field
was written), then the profile's defaults. Every check reports at the line that asked for the
value (``Resources.origin[field]``), else at the task, and goes on; the resolved ``Resources``
that comes back has every field the scripts need filled in.
"""

from __future__ import annotations

import math
import posixpath

from mfile.codegen.profile import Partition, Profile
from mfile.diagnostics import Diagnostic, Reporter, Severity, Span
from mfile.plan import sbatch
from mfile.plan.ir import Resources, Task
from mfile.plan.units import format_time, parse_memory, parse_time

# --------------------------------------------------------------------------- diagnostics


class UnknownPartition(Diagnostic):
    code = "E401"
    message = "partition {partition!r} is not in profile {profile!r}"
    hint = "use one of: {known}"


class GpusWithoutGpuPartition(Diagnostic):
    code = "E402"
    message = "task {task!r} asks for {gpus} GPU(s) on partition {partition!r}, which has no GPUs"
    hint = "leave `partition` out so the profile's GPU partition is used, or pick one of: {gpu_partitions}"


class TooManyGpus(Diagnostic):
    code = "E403"
    message = "task {task!r} asks for {gpus} GPUs per node; a node of {partition!r} has {have}"
    hint = "ask for at most {have} GPUs per node and more `nodes`"


class TooManyCpus(Diagnostic):
    code = "E404"
    message = (
        "task {task!r} needs {need} CPUs per node ({per_node} tasks x {cpus} cpus_per_task); "
        "a node of {partition!r} has {have}"
    )
    hint = "lower `cpus_per_task` or spread the tasks over more `nodes`"


class TooMuchMemory(Diagnostic):
    code = "E405"
    message = "task {task!r} asks for {want} MB per node; a node of {partition!r} has {have} MB"
    hint = "ask for less `memory`, or use a partition with bigger nodes ({bigger})"


class WalltimeOverLimit(Diagnostic):
    code = "E406"
    message = "task {task!r} asks for {want} on {partition!r}, over the partition's limit of {limit}"
    hint = "checkpoint and ask for at most {limit}; trainables are requeued after a checkpoint"


class TooManyNodes(Diagnostic):
    code = "E407"
    message = "task {task!r} asks for {nodes} nodes; partition {partition!r} allows {limit}"
    hint = "{bigger}"


class RanksNotDivisible(Diagnostic):
    code = "E408"
    message = "task {task!r}: {tasks} tasks do not divide evenly into {nodes} nodes"
    hint = "make `tasks` a multiple of `nodes` (for example {suggest})"


class OverSubmitLimit(Diagnostic):
    code = "E409"
    message = "pipeline {pipeline!r} would queue {jobs} jobs (array elements count), over the site's limit of {limit}"
    hint = "shrink the hyperparameter grid or split the pipeline into stages submitted one at a time"


class ReservedSbatchOption(Diagnostic):
    code = "E410"
    message = "sbatch option {option!r} of task {task!r}{reads}: {reason}"
    hint = "{hint}"


class MissingAccount(Diagnostic):
    code = "E411"
    message = "no compute account for profile {profile!r}: ${env} is not set and the profile names none"
    hint = "run `jutil env activate -p <project>` (it sets ${env}), set ${env}, or add `account = ...` to a profile"


class InvalidResourceValue(Diagnostic):
    code = "E412"
    message = "task {task!r}: {field} = {value!r} is not valid: {reason}"


class MalformedSbatchOption(Diagnostic):
    code = "E413"
    message = "sbatch option {option!r} of task {task!r} is not of the form --name or --name=value"
    hint = "write one long option per entry; values may use letters, digits and _ . , : = @ % / + -"


class ArraySplit(Diagnostic):
    code = "E414"
    severity = Severity.WARNING
    message = "search {task!r} has {points} points, more than MaxArraySize ({limit}): queued as {parts} arrays"


class NoContainerImage(Diagnostic):
    code = "E415"
    message = "task {task!r} has no container image and profile {profile!r} runs every task in Apptainer"
    hint = "set `container:` in the item's `execution:` section or `image` in the profile's [container]"


class ImageOutsideRoots(Diagnostic):
    code = "E417"
    message = "task {task!r}: container image {image!r} is outside the profile's image roots"
    hint = "use an image in the item's directory or under {roots} (profile {profile!r}, [container] image_roots)"


class UnbindablePath(Diagnostic):
    code = "E418"
    message = "task {task!r}: item directory {path!r} contains {char!r}, which Apptainer's --bind reads as a separator"
    hint = "move the item root to a path without ',' and ':' (Apptainer binds src[:dest[:opts]], comma-separated)"


class NoModuleStack(Diagnostic):
    code = "E419"
    message = "task {task!r} asks for the module stack, but profile {profile!r} has no [modules] venv"
    hint = "use `environment: apptainer`, or add [modules] load = [...] and venv = \"...\" to a profile of your own"


class UnboundInput(Diagnostic):
    code = "E420"
    message = "input {value!r} ({param} of task {task!r}) is not visible in the container: {reason}"
    hint = ("use an absolute path, a path relative to the M-File, or one under a directory the profile binds "
            "({bound}); on JUWELS data belongs in $PROJECT, $SCRATCH, $FASTDATA or $DATA")


class NotParallel(Diagnostic):
    code = "E416"
    message = "task {task!r} asks for {what}, but it runs as one process"
    hint = "set `parallel: data` for MPI ranks over the samples (trainables with several tasks or GPUs use DDP)"


# --------------------------------------------------------------------------- sbatch_extra

# The allowlist and getopt's prefix matching live in plan.sbatch (the header check reports
# E327/E328 at `mfile check`); codegen checks again for a plan built by other means.


# --------------------------------------------------------------------------- resolution


class FieldSpans:
    """Where a field's diagnostic goes: its origin, else the task, else the fallback."""

    def __init__(self, task: Task, fallback: Span) -> None:
        self.task, self.fallback = task, fallback

    def __call__(self, *fields: str) -> Span:
        for name in fields:
            origin = self.task.resources.origin.get(name)
            if origin is not None:
                return origin.span()
        return self.task.loc.span() if self.task.loc else self.fallback


def is_ddp(task: Task, res: Resources) -> bool:
    """A trainable that runs as several torch.distributed processes (one per GPU or task)."""
    if task.kind != "item" or task.item is None or task.item.kind != "trainable" or task.mode != "run":
        return False
    return (res.tasks or 1) > 1 or (res.gpus or 0) > 1


def _merged_request(task: Task) -> Resources:
    """A search runs its steps one after another in each array element: take the most any step
    asks for (times add up), then let the search's own request override."""
    if task.kind != "search" or task.search is None:
        return task.resources
    merged: dict[str, object] = {}
    seconds = 0
    for step in task.search.steps:
        r = step.resources
        for name in ("nodes", "tasks", "cpus_per_task", "gpus"):
            value = getattr(r, name)
            if value is not None:
                merged[name] = max(int(merged.get(name, 0)), value)  # type: ignore[arg-type]
        if r.memory is not None and parse_memory(r.memory) is not None:
            if "memory" not in merged or parse_memory(r.memory) > parse_memory(merged["memory"]):  # type: ignore[operator,arg-type]
                merged["memory"] = r.memory
        if r.time is not None and parse_time(r.time) is not None:
            seconds += parse_time(r.time) or 0
        if r.partition is not None and "partition" not in merged:
            merged["partition"] = r.partition
        if r.container is not None and "container" not in merged:
            relative = step.item is not None and not r.container.startswith(("/", "$"))
            merged["container"] = f"{step.item.directory.rstrip('/')}/{r.container}" if relative else r.container  # type: ignore[union-attr]
        if r.parallel == "data":
            merged["parallel"] = "data"
        for name in ("environment", "device"):
            if getattr(r, name) is not None and name not in merged:
                merged[name] = getattr(r, name)
        if r.env:
            merged["env"] = {**merged.get("env", {}), **r.env}  # type: ignore[dict-item]
    if seconds:
        merged["time"] = format_time(seconds)
    own = {k: v for k, v in task.resources.model_dump().items() if k != "origin" and v not in (None, (), "none", {})}
    if "env" in own:
        own["env"] = {**merged.get("env", {}), **own["env"]}  # type: ignore[dict-item]
    merged.update(own)
    return task.resources.model_copy(update=merged)


def resolve(task: Task, profile: Profile, reporter: Reporter, fallback: Span) -> Resources | None:
    """The task's complete request (every field the scripts need), or None after an error."""
    span_of = FieldSpans(task, fallback)
    req = _merged_request(task)
    ok = True
    for name in ("nodes", "tasks", "cpus_per_task"):
        value = getattr(req, name)
        if value is not None and value < 1:
            reporter.report(InvalidResourceValue, span_of(name), task=task.id, field=name, value=value, reason="must be at least 1")
            ok = False
    if req.gpus is not None and req.gpus < 0:
        reporter.report(InvalidResourceValue, span_of("gpus"), task=task.id, field="gpus", value=req.gpus, reason="must not be negative")
        ok = False
    if not ok:  # the counts below divide by these
        return None
    gpus = req.gpus or 0

    partition_name = req.partition or (profile.gpu_partition if gpus else profile.cpu_partition)
    part = profile.partitions.get(partition_name or "")
    if part is None:
        if req.partition is not None:
            reporter.report(UnknownPartition, span_of("partition"), partition=req.partition, profile=profile.name, known=", ".join(sorted(profile.partitions)))
        else:  # a GPU task on a profile without a GPU partition
            reporter.report(GpusWithoutGpuPartition, span_of("gpus"), task=task.id, gpus=gpus, partition=profile.cpu_partition, gpu_partitions="none in this profile")
        return None

    # The profile's default, not the partition's (JSC: 6 h): a task that says nothing should
    # not hold a whole node for hours of budget. Capped at the partition's limit.
    seconds = part_default = min(parse_time(profile.default_time) or 3600, parse_time(part.max_time) or 3600)
    if req.time is not None:
        seconds = parse_time(req.time)
        if seconds is None:
            reporter.report(InvalidResourceValue, span_of("time"), task=task.id, field="time", value=req.time, reason="use HH:MM:SS, MM, or D-HH:MM:SS")
            ok = False
    limit = parse_time(part.max_time) or 0
    if seconds is not None and seconds > limit:
        reporter.report(WalltimeOverLimit, span_of("time"), task=task.id, want=format_time(seconds), partition=partition_name, limit=format_time(limit))
        ok = False
    seconds = seconds or part_default

    memory_mb = None
    if req.memory is not None:
        memory_mb = parse_memory(req.memory)
        if memory_mb is None:
            reporter.report(InvalidResourceValue, span_of("memory"), task=task.id, field="memory", value=req.memory, reason="use a number with K, M, G or T (e.g. 64G)")
            ok = False
        elif memory_mb > part.memory_per_node_mb:
            bigger = [n for n, p in sorted(profile.partitions.items()) if p.memory_per_node_mb >= memory_mb]
            reporter.report(TooMuchMemory, span_of("memory"), task=task.id, want=memory_mb, partition=partition_name, have=part.memory_per_node_mb, bigger=", ".join(bigger) or "none in this profile")
            ok = False

    if gpus and part.gpus_per_node == 0:
        gpu_parts = [n for n, p in sorted(profile.partitions.items()) if p.gpus_per_node]
        reporter.report(GpusWithoutGpuPartition, span_of("gpus", "partition"), task=task.id, gpus=gpus, partition=partition_name, gpu_partitions=", ".join(gpu_parts) or "none in this profile")
        ok = False
    elif gpus > part.gpus_per_node:
        reporter.report(TooManyGpus, span_of("gpus"), task=task.id, gpus=gpus, partition=partition_name, have=part.gpus_per_node)
        ok = False

    # One rank per GPU for DDP / data-parallel GPU tasks; otherwise one rank per node.
    many = req.parallel == "data" or is_ddp(task, req) or (_trains(task) and task.kind == "search" and ((req.tasks or 1) > 1 or gpus > 1))
    nodes = req.nodes
    tasks = req.tasks
    if not many and ((tasks or 1) > 1 or (nodes or 1) > 1):
        what = f"{tasks} tasks" if (tasks or 1) > 1 else f"{nodes} nodes"
        reporter.report(NotParallel, span_of("tasks", "nodes"), task=task.id, what=what)
        return None
    if nodes is None:
        nodes = math.ceil(tasks / gpus) if (tasks and gpus and many) else 1
    if tasks is None:
        tasks = nodes * max(gpus, 1) if many else nodes
    if nodes > part.max_nodes:
        bigger = [n for n, p in sorted(profile.partitions.items()) if p.max_nodes >= nodes and p.gpus_per_node >= gpus]
        hint = f"use `partition: {bigger[0]}`" if bigger else "ask for fewer nodes"
        reporter.report(TooManyNodes, span_of("nodes"), task=task.id, nodes=nodes, partition=partition_name, limit=part.max_nodes, bigger=hint)
        ok = False
    if tasks % nodes:
        reporter.report(RanksNotDivisible, span_of("tasks", "nodes"), task=task.id, tasks=tasks, nodes=nodes, suggest=nodes * math.ceil(tasks / nodes))
        return None
    per_node = tasks // nodes
    if tasks > 1 and profile.mpi.launcher != "srun":
        reporter.report(InvalidResourceValue, span_of("tasks"), task=task.id, field="tasks", value=tasks,
                        reason=f"profile {profile.name!r} starts ranks only with srun (its launcher is {profile.mpi.launcher!r})")
        ok = False
    cpus = req.cpus_per_task
    if cpus is None:
        # Whole nodes are charged anyway (JSC): give the tasks every CPU of the node. Slurm counts
        # hardware threads (96 on a Booster node), so 4 tasks get 24 each = 12 cores with both threads.
        cpus = max(1, part.cpus_per_node // per_node) if profile.exclusive_nodes else profile.default_cpus_per_task
    if per_node * cpus > part.cpus_per_node:
        reporter.report(TooManyCpus, span_of("cpus_per_task", "tasks"), task=task.id, need=per_node * cpus, per_node=per_node, cpus=cpus, partition=partition_name, have=part.cpus_per_node)
        ok = False

    ok &= check_sbatch_extra(task, req.sbatch_extra, reporter, span_of("sbatch_extra"))

    # The local profile runs everything with the compiler's Python: image and modules do not apply.
    environment = None if profile.environment == "none" else (req.environment or profile.environment)
    container = None
    if environment == "apptainer":
        container = req.container
        if container is not None and task.item is not None and not container.startswith(("/", "$")):
            container = f"{task.item.directory.rstrip('/')}/{container}"
        container = container or profile.image_for(partition_name)
        if not container:
            reporter.report(NoContainerImage, span_of("container", "environment"), task=task.id, profile=profile.name)
            ok = False
        elif not image_allowed(container, task, profile):
            reporter.report(ImageOutsideRoots, span_of("container"), task=task.id, image=container,
                            roots=", ".join(profile.container.image_roots or ()) or "nothing", profile=profile.name)
            ok = False
        steps = task.search.steps if task.kind == "search" and task.search is not None else (task,)
        for directory in sorted({step.item.directory for step in steps if step.item is not None}):
            char = next((c for c in ",:" if c in directory), None)
            if char is not None:  # bound by its path: Apptainer would split it
                reporter.report(UnbindablePath, span_of("container"), task=task.id, path=directory, char=char)
                ok = False
    elif environment == "modules" and not profile.modules.venv:
        reporter.report(NoModuleStack, span_of("environment"), task=task.id, profile=profile.name)
        ok = False
    # Every rank's variables: one OpenMP thread per physical core, then the profile's [env]
    # (the interconnect), then the task's own.
    env = {"OMP_NUM_THREADS": str(physical_cores(part, cpus)), **profile.env, **req.env}
    requeue = req.requeue
    if requeue is None:
        requeue = profile.requeue_trainables and _trains(task)
    if not ok:
        return None
    return req.model_copy(
        update=dict(
            nodes=nodes, tasks=tasks, cpus_per_task=cpus, gpus=gpus, partition=partition_name,
            time=format_time(seconds or 3600), memory=f"{memory_mb}M" if memory_mb else None,
            container=container, environment=environment, env=dict(sorted(env.items())), requeue=requeue,
        )
    )


def image_allowed(image: str, task: Task, profile: Profile) -> bool:
    """An image chosen by an M-File (or a header) runs the task's code: it must be the profile's
    own image, or lie in one of the task's item directories or under the profile's image roots."""
    roots = profile.container.image_roots
    if roots is None or image == profile.container.image:
        return True
    if ".." in image.split("/"):
        return False
    steps = task.search.steps if task.kind == "search" and task.search is not None else (task,)
    places = [step.item.directory for step in steps if step.item is not None] + list(roots)
    clean = posixpath.normpath(image)
    return any(clean.startswith(posixpath.normpath(place).rstrip("/") + "/") for place in places)


def _trains(task: Task) -> bool:
    if task.kind == "search" and task.search is not None:
        return any(_trains(step) for step in task.search.steps)
    return task.item is not None and task.item.kind == "trainable" and task.mode == "run"


def check_sbatch_extra(task: Task, options: tuple[str, ...], reporter: Reporter, span: Span) -> bool:
    ok = True
    for option in options:
        verdict = sbatch.classify(option)
        if verdict.problem == "malformed":
            reporter.report(MalformedSbatchOption, span, option=option, task=task.id)
        elif verdict.problem is not None:
            reads = verdict.reads
            hint = (f"use the resource field instead ({sbatch.RESERVED[verdict.name]})" if verdict.problem == "reserved" and verdict.name
                    else f"sbatch_extra accepts only: {sbatch.allowed_list()}")
            reporter.report(ReservedSbatchOption, span, option=option, task=task.id, reads=reads, reason=verdict.reason, hint=hint)
        ok &= verdict.ok
    return ok


def partition_of(profile: Profile, res: Resources) -> Partition:
    return profile.partitions[res.partition or profile.cpu_partition]


def physical_cores(part: Partition, cpus_per_task: int) -> int:
    """Physical cores behind ``cpus_per_task`` Slurm CPUs (hardware threads): what
    ``OMP_NUM_THREADS`` gets, one thread per core (24 CPUs on a Booster node -> 12)."""
    return max(1, cpus_per_task // part.threads_per_core)
