"""Build the typed IR from the lowered M-File: pipelines, their tasks, bindings and types.

Per pipeline: collect the stage entries, give unnamed tasks ids, bind inputs to ports,
check that every source is in the pipeline (or, for a trained model, in an earlier
pipeline), that stages only read from the same or earlier stages, that nothing is cyclic
and nothing unconnected, then type every task in topological order (``typecheck.py``).
"""

from __future__ import annotations

import json
from typing import Any

from mfile.compiler.folding import NotData, to_data
from mfile.compiler.headers.execution import resources_from_mapping
from mfile.compiler.messages import MissingColumn, NotConstant
from mfile.compiler.ports import output_ports
from mfile.compiler.typecheck import as_model, check_metric, check_split, evaluate_types, join_output, timelag_output
from mfile.compiler.values import UNKNOWN, HyperParameterDef, OutputRef, SearchDef, TaskDef, describe
from mfile.diagnostics import Reporter, Span
from mfile.plan import ir
from mfile.plan.types import VOID, DataType, Model, Tabular, select_columns


class Typer:
    """Header resolution and port types of single tasks, cached per task object."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.resolved: dict[int, Any] = {}
        self.clean: dict[tuple[int, str], Any] = {}  # resolutions without diagnostics, shared
        # Per task object, across pipelines: output types and input bindings.
        self.outputs: dict[int, dict[str, DataType]] = {}
        self.inputs: dict[int, dict[str, tuple[OutputRef, Span]]] = {}

    def trained_item(self, task: TaskDef) -> ir.ItemRef | None:
        """The trainable behind a model reference (through searches and save_model)."""
        ref, seen = task.model_ref, set()
        while ref is not None and id(ref.task) not in seen:
            seen.add(id(ref.task))
            source = ref.task
            if isinstance(source, SearchDef):
                steps = [s for s in source.component.steps if s.kind == "trainable"]
                return steps[0].item.ref if steps and steps[0].item else None
            if source.item is None:
                return None
            if source.item.ref.kind == "trainable":
                return source.item.ref
            ref = self.inputs.get(id(source), {}).get("model", (None,))[0]
        return None

    def resolve(self, task: TaskDef) -> Any:
        """The item's header with this task's params substituted (None if it failed)."""
        key = id(task)
        if key in self.resolved:
            return self.resolved[key]
        self.resolved[key] = None
        if task.item is None:
            return None
        overrides: dict[str, tuple[Any, Span]] = {}
        ok = True
        for name, (value, span) in task.params.items():
            if isinstance(value, HyperParameterDef) or value is UNKNOWN:
                continue  # searched: the header's value types the plan, each point is checked
            try:
                overrides[name] = (to_data(value, span), span)
            except NotData as bad:
                self.reporter.report(NotConstant, bad.span, what=f"param {name!r}", got=describe(bad.value))
                ok = False
        # Many tasks share an item and its params (an ensemble, a fan-out): a resolution that
        # reported nothing is the same for all of them, whatever the spans.
        shared = (id(task.item.header), json.dumps({k: v for k, (v, _) in overrides.items()}, sort_keys=True, default=repr))
        resolved = self.clean.get(shared)
        if resolved is None:
            before = len(self.reporter.reports)
            resolved = task.item.header.resolve(overrides, self.reporter, task.span)
            if resolved is not None and len(self.reporter.reports) == before:
                self.clean[shared] = resolved
        self.resolved[key] = resolved if ok else None
        return self.resolved[key]

    def params(self, task: TaskDef) -> dict[str, Any]:
        resolved = self.resolve(task)
        params = dict(resolved.params) if resolved is not None else {}
        for name, (value, span) in task.params.items():
            if name not in params and not isinstance(value, HyperParameterDef) and value is not UNKNOWN:
                try:
                    params[name] = to_data(value, span)
                except NotData:
                    pass
        return dict(sorted(params.items()))

    def resources(self, task: TaskDef) -> ir.Resources:
        base = task.item.header.execution if task.item is not None else ir.Resources()
        if not task.resources:
            return base
        mapping: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        for key, (value, span) in task.resources.items():
            try:
                mapping[key] = to_data(value, span)
                spans[key] = span
            except NotData as bad:
                self.reporter.report(NotConstant, bad.span, what=f"resource {key!r}", got=describe(bad.value))
        merged = resources_from_mapping(mapping, spans, self.reporter, base=base, at=task.span)
        return merged if merged is not None else base

    def types(
        self, task: TaskDef, task_id: str, produced: dict[str, tuple[DataType, Span]]
    ) -> tuple[dict[str, DataType], dict[str, DataType]]:
        """(wanted input types, output types) of ``task`` given what its inputs produce."""
        if task.mode == "predict":
            model_type, span = produced.get("model", (VOID, task.span))
            model = as_model(self.reporter, task_id, "input 'model'", model_type, span)
            if model is None:
                return {"model": VOID, "input": VOID}, {"output": VOID}
            return {"model": model, "input": model.input}, {"output": model.output}
        resolved = self.resolve(task)
        if resolved is None or task.item is None:
            return {}, {}
        name, kind = task.item.ref.name, task.item.ref.kind
        params = self.params(task)
        spans = {k: s for k, (_, s) in task.params.items()}
        first = next(iter(produced.values()), (VOID, task.span))
        if name == "mfile/join":
            ports = sorted(produced, key=lambda p: int(p.split("_")[1]))
            joined = join_output(self.reporter, task_id, [(p, produced[p][0]) for p in ports], task.span)
            return {p: VOID for p in ports}, {"output": joined}
        if name == "mfile/train_test_split":
            check_split(self.reporter, task_id, params, spans, task.span)
            return {"input": VOID}, {"train": first[0], "test": first[0]}
        if name == "mfile/timelag":
            out = timelag_output(self.reporter, task_id, first[0], params, spans, task.span)
            return {"input": VOID}, {"output": out}
        if name == "mfile/normalize":
            data = produced.get("input", (VOID, task.span))[0]
            return {"input": VOID, "stats": VOID}, {"output": data, "stats": VOID}
        if name == "mfile/evaluate":
            metric = check_metric(self.reporter, task_id, params.get("metric", "rmse"), spans.get("metric", task.span))
            model_type, span = produced.get("model", (VOID, task.span))
            model = as_model(self.reporter, task_id, "input 'model'", model_type, span)
            data_type, data_span = produced.get("data", (VOID, task.span))
            labels = [c.strip() for c in str(params.get("label", "") or "").split(",") if c.strip()]
            data, metrics = evaluate_types(
                self.reporter, task_id, model or Model(input=VOID, output=VOID), metric, labels, data_type, data_span
            )
            return {"model": model or VOID, "data": data}, {"metrics": metrics}
        if kind == "deployment":
            model_type, span = produced.get("model", (VOID, task.span))
            model = as_model(self.reporter, task_id, "input 'model'", model_type, span)
            if model is None:  # reported; don't report the same binding again as E201
                return {"model": VOID}, {"model": Model(input=VOID, output=VOID)}
            return {"model": Model(input=VOID, output=VOID)}, {"model": model}
        if kind == "dataset":
            return {}, {"output": resolved.dataset_type or VOID}
        if kind == "algorithm":
            return {"input": resolved.input or VOID}, {"output": resolved.output or VOID}
        # trainable
        model = Model(input=resolved.input or VOID, output=resolved.output or VOID)
        return {"input": resolved.training or VOID}, {"model": model, "stats": resolved.stats or VOID}


def output_columns(typer: Typer, task: Any, span: Span) -> tuple[str, ...] | None:
    """Columns of a task's ``output`` port, for ``get_output_reference()`` while lowering."""
    if not isinstance(task, TaskDef) or task.item is None:
        return None
    if output_ports(task) != ("output",) or task.item.ref.kind != "dataset":
        wanted, outs = typer.types(task, task.id or "?", {})
        out = outs.get("output")
    else:
        resolved = typer.resolve(task)
        out = resolved.dataset_type if resolved is not None else None
    if out is None:
        return None
    if isinstance(out, Tabular):
        return out.names
    typer.reporter.report(
        MissingColumn, span, what=f"the output of {task.describe()} ({out})", column="*", available="no columns"
    )
    return None


def produced_type(
    reporter: Reporter, outputs: dict[str, DataType], ref: OutputRef, span: Span, source_id: str
) -> DataType:
    datatype = outputs.get(ref.port, VOID)
    if ref.columns and isinstance(datatype, Tabular):
        missing = [c for c in ref.columns if datatype.column(c) is None]
        for column in missing:
            reporter.report(
                MissingColumn, span, what=f"output {ref.port!r} of task {source_id!r}",
                column=column, available=", ".join(datatype.names),
            )  # fmt: skip
        return select_columns(datatype, ref.columns)
    return datatype
