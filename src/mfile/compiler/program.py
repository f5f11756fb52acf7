"""The typed program: every pipeline the M-File defines, built and typed (``pipelines.py``)."""

from __future__ import annotations

import hashlib

from mfile.compiler.lowering import Lowered
from mfile.compiler.messages import HyperParameterNotSearched
from mfile.compiler.pipelines import PipelineBuilder
from mfile.compiler.search import GridBudget
from mfile.compiler.typer import Typer
from mfile.compiler.values import HyperParameterDef
from mfile.diagnostics import Reporter
from mfile.plan import ir


def build_program(lowered: Lowered, source: str, text: str, reporter: Reporter, typer: Typer | None = None) -> ir.Program:
    typer = typer or Typer(reporter)
    built: list[ir.Pipeline] = []
    members_of: dict[str, set[int]] = {}
    names_taken: set[str] = set()
    budget = GridBudget()
    for index, pdef in enumerate(lowered.pipelines):
        name = pdef.id or f"pipeline_{index + 1}"
        if name in names_taken:
            name = f"{name}_{index + 1}"
        names_taken.add(name)
        pipeline = PipelineBuilder(name, pdef, typer, reporter, members_of, budget).build()
        if pipeline is not None:
            built.append(pipeline)
    _report_unsearched(lowered, reporter)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return ir.Program(source=source, source_sha256=sha, pipelines=tuple(built))


def _report_unsearched(lowered: Lowered, reporter: Reporter) -> None:
    searched = {id(step) for s in lowered.searches for step in s.component.steps}
    for task in lowered.tasks:
        if id(task) in searched:
            continue
        for name, (value, span) in task.params.items():
            if isinstance(value, HyperParameterDef):
                reporter.report(HyperParameterNotSearched, span, hp=value.id or "?", param=name, task=task.describe())
