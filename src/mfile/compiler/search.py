"""Hyperparameter searches: how a component's steps are wired, the grid, and the IR task.

Inside ``pipeline_component(a, b, ...)`` a step's input is, in this order of preference:
fixed by ``set_input_name("x")`` (then it is the search's input ``x``); evaluate's ``model``
from the nearest trainable step before it; ``input`` chained from the previous step's
``output``; otherwise a search input named ``input`` or ``<step>_<port>``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from mfile.compiler.builtins import METRIC_MODES
from mfile.compiler.headers.loader import check_value
from mfile.compiler.messages import (
    GridsTooLarge,
    GridTooLarge,
    GridValueType,
    HyperParameterNotInGrid,
    MetricNotInComponent,
    MinPointsOverGrid,
    UnusedHyperParameter,
)
from mfile.compiler.ports import input_ports
from mfile.compiler.typecheck import check_binding, concrete
from mfile.compiler.typer import Typer
from mfile.compiler.values import HyperParameterDef, Member, SearchDef, TaskDef, auto_id
from mfile.diagnostics import Reporter, Span
from mfile.plan import ir
from mfile.plan.types import FLOAT64, VOID, Column, DataType, Model, Tabular

MAX_GRID_POINTS = 100_000  # docs/security.md: a grid is expanded into plan.json
# All searches of one M-File together (each pipeline that uses a search expands it again):
# forty searches just under MAX_GRID_POINTS ran out of memory before this limit existed.
MAX_TOTAL_GRID_POINTS = 200_000


@dataclass
class GridBudget:
    """Grid points one M-File may still expand (MAX_TOTAL_GRID_POINTS in all)."""

    left: int = MAX_TOTAL_GRID_POINTS


def step_ids(search: SearchDef) -> list[str]:
    ids: list[str] = []
    for step in search.component.steps:
        base = step.id or auto_id(step)
        name, n = base, 1
        while name.casefold() in {i.casefold() for i in ids}:  # step directories, any file system
            n += 1
            name = f"{base}_{n}"
        ids.append(name)
    return ids


def wiring(search: SearchDef) -> dict[tuple[int, str], tuple[str, Any]]:
    """(step index, port) -> ("search", input name) or ("step", (step index, port))."""
    steps = search.component.steps
    ids = step_ids(search)
    wires: dict[tuple[int, str], tuple[str, Any]] = {}
    taken: set[str] = set()
    for i, step in enumerate(steps):
        ports = input_ports(step, max(len(step.bound_inputs), 1)) or ()
        data_port = "data" if "data" in ports else (ports[0] if ports else None)
        for port in ports:
            if port == "model" and step.mode != "predict":
                trainer = next((j for j in range(i - 1, -1, -1) if steps[j].kind == "trainable"), None)
                if trainer is not None:
                    wires[(i, port)] = ("step", (trainer, "model"))
                    continue
            if step.input_name and port == data_port:
                wires[(i, port)] = ("search", step.input_name)
                taken.add(step.input_name)
                continue
            prev = steps[i - 1] if i else None
            if port == "input" and prev is not None and prev.kind in ("dataset", "algorithm", "predicted"):
                wires[(i, port)] = ("step", (i - 1, "output"))
                continue
            name = "input" if "input" not in taken and port == "input" else f"{ids[i]}_{port}"
            taken.add(name)
            wires[(i, port)] = ("search", name)
    return wires


def component_inputs(search: SearchDef) -> list[str]:
    names: list[str] = []
    for kind, target in wiring(search).values():
        if kind == "search" and target not in names:
            names.append(target)
    return names


def build_search(
    typer: Typer,
    reporter: Reporter,
    member: Member,
    produced: dict[str, tuple[DataType, Span]],
    sources: dict[str, tuple[str, str | None]],
    budget: GridBudget | None = None,
) -> tuple[ir.Task, dict[str, DataType]]:
    search: SearchDef = member.obj
    steps = search.component.steps
    ids = step_ids(search)
    wires = wiring(search)
    step_outputs: list[dict[str, DataType]] = []
    step_tasks: list[ir.Task] = []
    search_wanted: dict[str, DataType] = {}
    for i, (step, sid) in enumerate(zip(steps, ids)):
        step_produced: dict[str, tuple[DataType, Span]] = {}
        bindings_src: dict[str, tuple[str, str]] = {}
        for (index, port), (kind, target) in wires.items():
            if index != i:
                continue
            if kind == "search":
                step_produced[port] = produced.get(target, (VOID, member.span))
                bindings_src[port] = (member.id, target)
            else:
                j, out_port = target
                step_produced[port] = (step_outputs[j].get(out_port, VOID), step.span)
                bindings_src[port] = (ids[j], out_port)
        wanted, outs = typer.types(step, sid, step_produced)
        step_outputs.append(outs)
        bindings = []
        for port, (datatype, span) in sorted(step_produced.items()):
            want = wanted.get(port, VOID)
            check_binding(reporter, f"{member.id}.{sid}", port, datatype, want, span)
            if bindings_src[port][0] == member.id:
                search_wanted.setdefault(bindings_src[port][1], want)
            bindings.append(
                ir.Binding(port=port, source_task=bindings_src[port][0], source_port=bindings_src[port][1],
                           type=concrete(want, datatype))  # fmt: skip
            )
        step_tasks.append(
            ir.Task(
                id=sid, stage=member.stage, item=step.item.ref if step.item else None,
                params=typer.params(step) if step.item else {}, resources=typer.resources(step) if step.item else ir.Resources(),
                inputs=tuple(bindings), outputs=tuple(ir.Port(name=n, type=t) for n, t in outs.items()),
                loc=ir.Loc.of(step.span),
            )  # fmt: skip
        )
    grid, points = _grid(reporter, search, ids, budget if budget is not None else GridBudget())
    if points and search.min_points is not None and search.min_points > len(points):
        reporter.report(MinPointsOverGrid, search.min_points_span or search.span, minimum=search.min_points, points=len(points))
    metric_step, metric_port, metric_column = _metric(reporter, search, ids)
    mode = search.mode or METRIC_MODES.get(metric_column, "min")
    trainer = next((i for i, s in enumerate(steps) if s.kind == "trainable"), None)
    # A trainable whose params had errors has no typed outputs: the search still gets a model port.
    best_model: DataType = (step_outputs[trainer].get("model") if trainer is not None else None) or Model(input=VOID, output=VOID)
    outs = {"best_model": best_model, "metrics": Tabular(columns=(Column(name=metric_column, type=FLOAT64),))}
    bindings = []
    for port, (datatype, span) in sorted(produced.items()):
        want = search_wanted.get(port, VOID)
        ref = member.inputs[port][0]
        bindings.append(
            ir.Binding(port=port, source_task=sources[port][0], source_port=ref.port, columns=ref.columns,
                       source_pipeline=sources[port][1], type=concrete(want, datatype), loc=ir.Loc.of(span))  # fmt: skip
        )
    resources = step_tasks[trainer if trainer is not None else 0].resources if step_tasks else ir.Resources()
    spec = ir.SearchSpec(
        steps=tuple(step_tasks), hyperparameters=tuple(grid), grid=grid, points=points,
        metric_step=metric_step, metric_port=metric_port, metric_column=metric_column,
        mode=mode, throttle=search.max_parallel, min_points=search.min_points,
    )  # fmt: skip
    task = ir.Task(
        id=member.id, kind="search", stage=member.stage, resources=resources, inputs=tuple(bindings),
        outputs=tuple(ir.Port(name=n, type=t) for n, t in outs.items()), search=spec, loc=ir.Loc.of(member.span),
    )  # fmt: skip
    return task, outs


def _grid(
    reporter: Reporter, search: SearchDef, ids: list[str], budget: GridBudget
) -> tuple[dict[str, tuple[Any, ...]], tuple[dict[str, dict[str, Any]], ...]]:
    targets: dict[int, list[tuple[int, str, Span]]] = {}
    for i, step in enumerate(search.component.steps):
        for param, (value, span) in step.params.items():
            if isinstance(value, HyperParameterDef):
                targets.setdefault(id(value), []).append((i, param, span))
    in_grid = {id(entry[0]) for entry in search.grid.values()}
    for i, step in enumerate(search.component.steps):
        for param, (value, span) in step.params.items():
            if isinstance(value, HyperParameterDef) and id(value) not in in_grid:
                reporter.report(HyperParameterNotInGrid, span, hp=value.id or "?", param=param, task=f"step {ids[i]!r}",
                                search=search.id or "search", grid=", ".join(sorted(search.grid)) or "nothing")
    grid: dict[str, tuple[Any, ...]] = {}
    ok = True
    for name, (hp, values, span, value_spans) in search.grid.items():
        if id(hp) not in targets:
            reporter.report(UnusedHyperParameter, span, hp=name)
            ok = False
            continue
        for i, param, _ in targets[id(hp)]:
            step = search.component.steps[i]
            metas = {m.name: m for m in step.item.header.meta_variables} if step.item else {}
            meta = metas.get(param)
            for value, value_span in zip(values, value_spans):
                reason = check_value(value, meta.type) if meta is not None else None
                if reason is not None:
                    reporter.report(GridValueType, value_span, value=value, hp=name, param=param, step=ids[i], reason=reason)
                    ok = False
        grid[name] = values
    size = math.prod(len(v) for v in grid.values()) if grid else 0
    if size > MAX_GRID_POINTS:
        reporter.report(GridTooLarge, search.span, size=f"{size:,}", limit=f"{MAX_GRID_POINTS:,}")
        return grid, ()
    if budget.left < 0:  # over already, and reported once: nothing more is expanded
        return grid, ()
    if size > budget.left:
        reporter.report(GridsTooLarge, search.span, size=f"{size:,}", used=f"{MAX_TOTAL_GRID_POINTS - budget.left:,}",
                        limit=f"{MAX_TOTAL_GRID_POINTS:,}")
        budget.left = -1
        return grid, ()
    budget.left -= size
    if not ok:
        return grid, ()
    points = []
    names = list(grid)
    hp_of = {name: search.grid[name][0] for name in names}
    for combo in itertools.product(*(grid[n] for n in names)):
        point: dict[str, dict[str, Any]] = {}
        for name, value in zip(names, combo):
            for i, param, _ in targets[id(hp_of[name])]:
                point.setdefault(ids[i], {})[param] = value
        points.append(point)
    return grid, tuple(points)


def _metric(reporter: Reporter, search: SearchDef, ids: list[str]) -> tuple[str, str, str]:
    ref = search.metric
    steps = search.component.steps
    for i, step in enumerate(steps):
        if ref is not None and ref.task is step and isinstance(step, TaskDef):
            if ref.port == "metrics":
                column = ref.columns[0] if ref.columns else str(step.params.get("metric", ("rmse",))[0])
                return ids[i], "metrics", column
            if ref.port == "stats":
                return ids[i], "stats", ref.columns[0] if ref.columns else "loss"
    reporter.report(
        MetricNotInComponent, search.metric_span, got=ref.task.describe() if ref is not None else "nothing"
    )
    return (ids[-1] if ids else "?"), "metrics", "rmse"
