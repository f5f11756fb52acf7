"""What lowering produces (``Lowered``) and the view of the lowerer that the call and method
handlers (``calls.py``, ``methods.py``) work through, so that they need not import ``lower.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from mfile.compiler.typer import Typer
from mfile.compiler.values import PipelineDef, SearchDef, TaskDef
from mfile.diagnostics import Reporter, Span


@dataclass
class Lowered:
    env: dict[str, Any] = field(default_factory=dict)
    pipelines: list[PipelineDef] = field(default_factory=list)
    tasks: list[TaskDef] = field(default_factory=list)  # every TaskDef made, in order
    searches: list[SearchDef] = field(default_factory=list)


class Lowering(Protocol):
    """The lowerer's state and services as the builtin handlers see them."""

    reporter: Reporter
    typer: Typer  # get_output_reference() needs a header resolved with the task's params
    out: Lowered

    def new_task(self, task: TaskDef) -> TaskDef: ...

    def configured(self, task: TaskDef, **changes: Any) -> TaskDef: ...

    def resolve_item(self, name: str, span: Span) -> Any: ...
