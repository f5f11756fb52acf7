"""The values an M-File computes while lowering: tasks, references, searches, pipelines.

An M-File is evaluated symbolically: ``MantikItem(...)`` makes a :class:`TaskDef`,
``.configure(...)`` a configured copy, ``.set_input(...)`` a :class:`TaskUse` (a task with
its inputs, as listed in a pipeline stage), ``x.output`` an :class:`OutputRef`.
A task's id is the name it is first bound to (assignment or ``reference=``); tasks used
without a name get one derived from their item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mfile.compiler.folding import DictLit, ListLit
from mfile.compiler.headers.catalog import ResolvedItem
from mfile.diagnostics import Span


class Named:
    """Values that take the first name they are bound to (assignment or ``reference=``) as id."""

    id: str | None
    id_span: Span | None

    def name(self, name: str, span: Span) -> None:
        if self.id is None:
            self.id, self.id_span = name, span


@dataclass(eq=False)
class TaskDef(Named):
    """An item (or builtin) used as a task, with its configuration."""

    span: Span
    item_name: str
    item: ResolvedItem | None
    builtin: str | None = None  # "join", "evaluate", ... for builtins
    params: dict[str, tuple[Any, Span]] = field(default_factory=dict)
    resources: dict[str, tuple[Any, Span]] = field(default_factory=dict)
    # Inputs fixed at construction (builtins such as join(inputs=[...])).
    bound_inputs: dict[str, "OutputRef"] = field(default_factory=dict)
    bound_spans: dict[str, Span] = field(default_factory=dict)
    mode: str = "run"  # "predict" for makeMantikItem(...)
    model_ref: "OutputRef | None" = None
    incomplete: bool = False  # a bound input failed to evaluate (already reported)
    input_name: str | None = None  # set_input_name inside a component
    input_name_span: Span | None = None
    id: str | None = None
    id_span: Span | None = None

    @property
    def kind(self) -> str | None:
        if self.mode == "predict":
            return "predicted"
        return self.item.ref.kind if self.item else None

    def describe(self) -> str:
        return f"task {self.id!r}" if self.id else f"item {self.item_name!r}"


@dataclass(eq=False)
class TaskUse:
    """A task listed in a stage with its inputs: ``task.set_input(...)``."""

    span: Span
    task: "TaskDef | SearchDef"
    positional: tuple["OutputRef", ...] = ()
    named: dict[str, "OutputRef"] = field(default_factory=dict)
    arg_spans: dict[str, Span] = field(default_factory=dict)
    incomplete: bool = False  # an argument failed (reported): don't report its port as unconnected


@dataclass(frozen=True, eq=False)
class OutputRef:
    """Output ``port`` of ``task`` (optionally some columns of it), where it was written."""

    span: Span
    task: "TaskDef | SearchDef"
    port: str
    columns: tuple[str, ...] | None = None
    pipeline: "PipelineDef | None" = None  # set when reached through pipeline.stage.task


@dataclass(eq=False)
class PortGroup:
    """``split.output``: a task with several outputs; ``.train``/``.test`` pick one."""

    span: Span
    task: TaskDef
    ports: tuple[str, ...]


@dataclass(eq=False)
class HyperParameterDef(Named):
    span: Span
    id: str | None = None
    id_span: Span | None = None


@dataclass(eq=False)
class ComponentDef(Named):
    """``pipeline_component(train, evaluate)``: steps run together per search point."""

    span: Span
    steps: tuple[TaskDef, ...]
    id: str | None = None
    id_span: Span | None = None


@dataclass(eq=False)
class SearchDef(Named):
    span: Span
    component: ComponentDef
    # name -> (hyperparameter, values, span of the list, span of each value)
    grid: dict[str, tuple[HyperParameterDef, tuple[Any, ...], Span, tuple[Span, ...]]]
    metric: OutputRef | None
    metric_span: Span
    mode: str | None
    max_parallel: int | None
    min_points: int | None = None  # grid points that must succeed (None: half the grid)
    min_points_span: Span | None = None
    id: str | None = None
    id_span: Span | None = None

    def describe(self) -> str:
        return f"search {self.id!r}" if self.id else "hyperparameter search"

    @property
    def kind(self) -> str:
        return "search"


@dataclass(eq=False)
class PipelineDef(Named):
    span: Span
    stages: tuple[tuple[str, Span, tuple[tuple[Any, Span], ...]], ...]
    id: str | None = None
    id_span: Span | None = None
    had_errors: bool = False  # some stage entry failed to evaluate (already reported)


@dataclass(eq=False)
class StageView:
    """``pipeline.stage3``: lets ``pipeline.stage3.deploy`` reach a task of that stage."""

    span: Span
    pipeline: PipelineDef
    stage: str


@dataclass(frozen=True)
class Namespace:
    """``dsl`` and ``dsl.builtins``."""

    path: str


@dataclass(frozen=True)
class Builtin:
    name: str


@dataclass(frozen=True)
class BoundMethod:
    target: Any
    name: str


class Unknown:
    """The value of something already reported as an error: silences follow-on errors."""

    _instance: "Unknown | None" = None

    def __new__(cls) -> "Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance


UNKNOWN = Unknown()

_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def auto_id(task: Any) -> str:
    if isinstance(task, SearchDef):
        return "search"
    if isinstance(task, TaskDef):
        if task.builtin:
            return task.builtin
        if task.mode == "predict":
            return "predict"
        base = task.item_name.split("/")[-1].split(":")[0]
        return _ID_CHARS.sub("_", base) or "task"
    return "task"


def describe(value: Any) -> str:
    if isinstance(value, (TaskDef, SearchDef)):
        return value.describe()
    if isinstance(value, TaskUse):
        return f"{value.task.describe()} with inputs"
    if isinstance(value, OutputRef):
        return f"output {value.port!r} of {value.task.describe()}"
    if isinstance(value, PortGroup):
        return f"the outputs of {value.task.describe()}"
    if isinstance(value, HyperParameterDef):
        return f"hyperparameter {value.id!r}" if value.id else "a HyperParameter"
    if isinstance(value, ComponentDef):
        return f"pipeline component {value.id!r}" if value.id else "a pipeline component"
    if isinstance(value, PipelineDef):
        return f"pipeline {value.id!r}" if value.id else "a pipeline"
    if isinstance(value, StageView):
        return f"stage {value.stage!r} of pipeline {value.pipeline.id!r}"
    if isinstance(value, Namespace):
        return f"namespace {value.path!r}"
    if isinstance(value, Builtin):
        return f"builtin {value.name!r}"
    if isinstance(value, BoundMethod):
        return f"method {value.name!r}"
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, ListLit):
        refs = [v for v, _ in value.items if isinstance(v, OutputRef)]
        if refs and len(refs) == len(value.items):  # get_output_reference(): one reference per column
            names = ", ".join(c for r in refs for c in (r.columns or (r.port,)))
            source = refs[0].task.id or "task"
            return (f"a list of {len(refs)} output references (unpack it: "
                    f"`{names} = {source}.get_output_reference()`)")  # fmt: skip
        return "a tuple" if value.is_tuple else "a list"
    if isinstance(value, DictLit):
        return "a dict"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a dict"
    return type(value).__name__


@dataclass(eq=False)
class Member:
    """A task or search as it stands in one pipeline: its stage, id and bound inputs."""

    obj: Any  # TaskDef | SearchDef
    use: TaskUse | None
    stage: str
    stage_index: int
    span: Span
    id: str = ""
    inputs: dict[str, tuple[OutputRef, Span]] = field(default_factory=dict)
