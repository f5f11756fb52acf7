"""The typed intermediate representation: what an M-File means, free of syntax.

``lower.py`` builds it from the AST and the item headers; ``typecheck.py`` checks it;
``mfile compile --emit ir`` prints it; ``codegen`` turns one pipeline of it into a run
directory whose ``plan.json`` (``runtime/manifest.py``) embeds the same ``Task`` models.

Everything is frozen and strict, and serialises deterministically (tuples, sorted dicts).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from mfile.diagnostics import Span
from mfile.plan.frozen import Frozen
from mfile.plan.types import DataType

ItemKind = Literal["dataset", "algorithm", "trainable", "deployment"]
TaskKind = Literal["item", "search"]


class Loc(Frozen):
    """Where in the M-File (or header) a thing was written, for diagnostics after lowering."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def of(cls, span: Span) -> "Loc":
        return cls(file=span.file, line=span.line, column=span.column, end_line=span.end_line, end_column=span.end_column)

    def span(self) -> Span:
        return Span(self.file, self.line, self.column, self.end_line, self.end_column)


class ItemRef(Frozen):
    """A resolved item: ``name`` is ``namespace/name``; ``directory`` holds header and payload."""

    name: str
    version: str
    kind: ItemKind
    directory: str
    header_sha256: str
    bridge: str | None = None
    payload: str = "payload.py"
    # sha256 of the payload file at compile time; the runtime refuses to import a payload (or
    # use a header) whose bytes changed since (None: no payload file, or a plan made by hand).
    payload_sha256: str | None = None
    # The MantikHeader as loaded (after nothing: substitution happens per task) so the
    # runtime hands pass-through fields (files, options, ...) to the payload unchanged.
    header: dict[str, Any] = Field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


class Resources(Frozen):
    """A task's execution request (header ``execution:``, then ``configure(resources=...)``).

    None means "not requested": codegen fills it from the site profile.
    """

    parallel: Literal["none", "data"] = "none"
    nodes: int | None = None
    tasks: int | None = None
    cpus_per_task: int | None = None
    gpus: int | None = None
    memory: str | None = None
    time: str | None = None
    partition: str | None = None
    container: str | None = None
    # How the runtime's software is provided: the profile's Apptainer image or its module stack
    # plus venv (None: the profile's choice).
    environment: Literal["apptainer", "modules"] | None = None
    # "cpu": run on CPU although the item asks for GPUs (on purpose); None: a task with gpus
    # uses them or fails.
    device: Literal["cpu"] | None = None
    env: dict[str, str] = Field(default_factory=dict)  # variables every rank gets, over the profile's [env]
    requeue: bool | None = None
    sbatch_extra: tuple[str, ...] = ()
    # Where each field was asked for, so resource diagnostics point at the right line.
    origin: dict[str, Loc] = Field(default_factory=dict)


class Port(Frozen):
    name: str
    type: DataType


class Binding(Frozen):
    """Input ``port`` reads ``source_port`` of task ``source_task`` (optionally some columns).

    ``source_pipeline`` is set when the data comes from another pipeline's run directory
    (for instance an inference pipeline that uses a model trained by the batch pipeline).
    """

    port: str
    source_task: str
    source_port: str
    columns: tuple[str, ...] | None = None
    source_pipeline: str | None = None
    type: DataType
    loc: Loc | None = None


class Task(Frozen):
    """One step. ``kind == "item"``: run ``item``'s payload. ``"search"``: see ``search``.

    ``mode == "predict"``: the item is a trainable used for inference; its input ``model``
    is bound to a trained model directory and the runtime calls the payload's ``predict``.
    Ids match ``[A-Za-z0-9_.-]+`` (M-File variable names or ``reference=`` names).
    """

    id: str
    kind: TaskKind = "item"
    mode: Literal["run", "predict"] = "run"
    stage: str
    item: ItemRef | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    inputs: tuple[Binding, ...] = ()
    outputs: tuple[Port, ...] = ()
    search: "SearchSpec | None" = None
    loc: Loc | None = None


class SearchSpec(Frozen):
    """A hyperparameter search: ``steps`` (a pipeline component) run once per grid point.

    Inside the search, a step's binding to another step uses ``source_task`` = that step's id;
    a binding to one of the search's own inputs uses ``source_task`` = the search's id and
    ``source_port`` = that input port's name (the search's ``inputs`` say where it comes from).
    ``points[i]`` maps step id -> param overrides for grid point i (cartesian product, in the
    order the hyperparameters were written). The select step picks the point whose
    ``metric`` (``step``/``port``/``column``) is best by ``mode`` and exposes its outputs.
    """

    steps: tuple[Task, ...]
    hyperparameters: tuple[str, ...]
    grid: dict[str, tuple[Any, ...]]
    points: tuple[dict[str, dict[str, Any]], ...]
    metric_step: str
    metric_port: str
    metric_column: str
    mode: Literal["min", "max"]
    throttle: int | None = None
    # Grid points that must succeed: the select step runs after all points have ended (failed
    # ones included: afterany on Slurm) and picks the best of those that succeeded, if at
    # least this many did (None: half the grid, rounded up).
    min_points: int | None = None

    @property
    def required_points(self) -> int:
        return self.min_points or math.ceil(len(self.points) / 2)


class Edge(Frozen):
    source: str
    target: str
    port: str
    type: str


class Stage(Frozen):
    name: str
    tasks: tuple[str, ...]


class Pipeline(Frozen):
    name: str
    stages: tuple[Stage, ...]
    tasks: tuple[Task, ...]  # in a topological order
    edges: tuple[Edge, ...]
    loc: Loc | None = None

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(task_id)

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """Task id -> the tasks of this pipeline whose outputs it (or a step of its search)
        reads, sorted; a search's steps reading each other or the search's own inputs are not
        dependencies, and neither are other pipelines (they are waited for another way)."""
        ids = {t.id for t in self.tasks}
        deps: dict[str, tuple[str, ...]] = {}
        for task in self.tasks:
            bindings = list(task.inputs)
            if task.search is not None:
                inner = {s.id for s in task.search.steps} | {task.id}
                bindings += [b for s in task.search.steps for b in s.inputs if b.source_task not in inner]
            deps[task.id] = tuple(sorted({
                b.source_task for b in bindings if b.source_pipeline is None and b.source_task in ids and b.source_task != task.id
            }))  # fmt: skip
        return deps

    def stage_tasks(self, stage: str) -> tuple[str, ...]:
        """The ids of a stage's own tasks; KeyError naming the stages there are."""
        for s in self.stages:
            if s.name == stage:
                return s.tasks
        names = ", ".join(s.name for s in self.stages) or "none"
        raise KeyError(f"no stage {stage!r} in pipeline {self.name!r} (stages: {names})")


class Program(Frozen):
    source: str
    source_sha256: str
    pipelines: tuple[Pipeline, ...]


Task.model_rebuild()
