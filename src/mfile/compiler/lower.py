"""Evaluate an M-File symbolically: statements in order, into tasks, searches and pipelines.

Every call of a builtin or method is checked here (arguments, keywords, attributes) and
reported as E1xx; a value that failed becomes ``UNKNOWN`` so one mistake does not cascade.
The result, :class:`Lowered`, is turned into the typed IR by ``build.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mfile.compiler import calls, methods
from mfile.compiler.builtins import BUILTIN_NAMES, DSL_BUILTINS, METHODS
from mfile.compiler.folding import DictLit, ListLit, fold_binary, fold_unary
from mfile.compiler.headers.catalog import ItemCatalog
from mfile.compiler.lowering import Lowered
from mfile.compiler.messages import (
    ConstantError,
    DuplicateKey,
    NotCallable,
    TooDeep,
    UnknownAttribute,
    UnpackMismatch,
    UselessStatement,
)
from mfile.compiler.ports import output_ports
from mfile.compiler.typer import Typer
from mfile.compiler.values import (
    UNKNOWN,
    BoundMethod,
    Builtin,
    ComponentDef,
    HyperParameterDef,
    Namespace,
    OutputRef,
    PipelineDef,
    PortGroup,
    SearchDef,
    StageView,
    TaskDef,
    TaskUse,
    describe,
)
from mfile.diagnostics import Reporter, Span, did_you_mean
from mfile.mfile_grammar import ast


def lower(module: ast.Module, catalog: ItemCatalog, reporter: Reporter, typer: Any = None) -> Lowered:
    return Lowerer(catalog, reporter, typer).run(module)


class Lowerer:
    def __init__(self, catalog: ItemCatalog, reporter: Reporter, typer: Any = None) -> None:
        self.catalog = catalog
        self.reporter = reporter
        # get_output_reference() needs a header resolved with the task's params while
        # lowering; building the IR later reuses the same cache.
        self.typer = typer or Typer(reporter)
        self.out = Lowered()

    # ------------------------------------------------------------------ statements

    def run(self, module: ast.Module) -> Lowered:
        for stmt in module.body:
            try:
                self.statement(stmt)
            except RecursionError:
                self.reporter.report(TooDeep, stmt.span)
        return self.out

    def statement(self, stmt: ast.Stmt) -> None:
        if isinstance(stmt, ast.Assign):
            value = self.expr(stmt.value)
            if stmt.unpack:
                self.unpack(stmt, value)
            else:
                self.bind(stmt.targets[0], value)
        elif isinstance(stmt, ast.ExprStmt):
            value = self.expr(stmt.value)
            if not isinstance(stmt.value, (ast.Call, ast.Rejected)) and value is not UNKNOWN:
                self.reporter.report(UselessStatement, stmt.span)

    def unpack(self, stmt: ast.Assign, value: Any) -> None:
        targets = stmt.targets
        if value is UNKNOWN:
            items: list[Any] = [UNKNOWN] * len(targets)
        elif isinstance(value, ListLit):
            items = [v for v, _ in value.items]
        elif isinstance(value, tuple):
            items = list(value)
        else:
            self.reporter.report(
                UnpackMismatch, stmt.value.span, got=1, expected=len(targets),
                detail=f"{describe(value)} is a single value",
            )  # fmt: skip
            items = [UNKNOWN] * len(targets)
        if len(items) != len(targets):
            names = ", ".join(
                ref.columns[0] for ref in items if isinstance(ref, OutputRef) and ref.columns
            )
            self.reporter.report(
                UnpackMismatch, stmt.value.span, got=len(items), expected=len(targets),
                detail=f"the columns are: {names}" if names else "match the number of names",
            )  # fmt: skip
            items = [UNKNOWN] * len(targets)
        for target, item in zip(targets, items):
            self.bind(target, item)

    def bind(self, target: ast.Name, value: Any) -> None:
        self.name_value(value, target.id, target.span)
        self.out.env[target.id] = value

    def name_value(self, value: Any, name: str, span: Span) -> None:
        if isinstance(value, TaskUse):
            value = value.task
        if isinstance(value, (TaskDef, SearchDef, HyperParameterDef, ComponentDef, PipelineDef)):
            value.name(name, span)

    # ------------------------------------------------------------------ expressions

    def expr(self, node: ast.Expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.out.env:
                return self.out.env[node.id]
            if node.id == "dsl":
                return Namespace("dsl")
            if node.id in BUILTIN_NAMES:
                return Builtin(node.id)
            return UNKNOWN  # scope.py reported it
        if isinstance(node, ast.Attribute):
            return self.attribute(self.expr(node.value), node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.ListExpr, ast.TupleExpr)):
            items = tuple((self.expr(e), e.span) for e in node.elts)
            return ListLit(node.span, items, is_tuple=isinstance(node, ast.TupleExpr))
        if isinstance(node, ast.DictExpr):
            return self.dict_literal(node)
        if isinstance(node, ast.BinOp):
            return self.fold(node, *fold_binary(node.op, self.expr(node.left), self.expr(node.right)))
        if isinstance(node, ast.UnaryOp):
            return self.fold(node, *fold_unary(node.op, self.expr(node.operand)))
        return UNKNOWN  # ast.Rejected: already reported by the parser

    def fold(self, node: ast.Expr, value: Any, reason: str | None) -> Any:
        if reason is None:
            return value
        if "UNKNOWN" not in reason and "Unknown" not in reason:
            self.reporter.report(ConstantError, node.span, reason=reason)
        return UNKNOWN

    def dict_literal(self, node: ast.DictExpr) -> DictLit:
        entries = []
        seen: dict[Any, Span] = {}
        for entry in node.entries:
            key = self.expr(entry.key)
            value = self.expr(entry.value)
            hashable = isinstance(key, (str, int, float, bool)) or key is None
            if hashable and key in seen:
                self.reporter.report(DuplicateKey, entry.key.span, key=key, line=seen[key].line)
                continue
            if hashable:
                seen[key] = entry.key.span
            entries.append((key, entry.key.span, value, entry.value.span))
        return DictLit(node.span, tuple(entries))

    # ------------------------------------------------------------------ attributes

    def attribute(self, value: Any, node: ast.Attribute) -> Any:
        attr, span = node.attr, node.attr_span
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(value, Namespace):
            if value.path == "dsl" and attr == "builtins":
                return Namespace("dsl.builtins")
            if value.path == "dsl.builtins" and attr in DSL_BUILTINS:
                return Builtin(attr)
            options = ["builtins"] if value.path == "dsl" else list(DSL_BUILTINS)
            return self.no_attribute(value, attr, span, options)
        if isinstance(value, TaskUse):
            if attr == "configure" and isinstance(value.task, TaskDef):  # keeps the inputs set before it
                return BoundMethod(value, attr)
            value = value.task
        if isinstance(value, TaskDef):
            return self.task_attribute(value, attr, node)
        if isinstance(value, SearchDef):
            if attr in ("set_input",):
                return BoundMethod(value, attr)
            if attr in ("best_model", "metrics"):
                return OutputRef(node.span, value, attr)
            return self.no_attribute(value, attr, span, ["best_model", "metrics", "set_input"])
        if isinstance(value, ComponentDef):
            for step in value.steps:
                if step.id == attr:
                    return step
            return self.no_attribute(value, attr, span, [s.id for s in value.steps if s.id])
        if isinstance(value, PortGroup):
            if attr in value.ports:
                return OutputRef(node.span, value.task, attr)
            return self.no_attribute(value, attr, span, list(value.ports))
        if isinstance(value, PipelineDef):
            names = [name for name, _, _ in value.stages]
            if attr in names:
                return StageView(node.span, value, attr)
            return self.no_attribute(value, attr, span, names)
        if isinstance(value, StageView):
            return self.stage_task(value, attr, span)
        return self.no_attribute(value, attr, span, [])

    def task_attribute(self, task: TaskDef, attr: str, node: ast.Attribute) -> Any:
        if attr in METHODS:
            return BoundMethod(task, attr)
        ports = output_ports(task)
        if ports is None:  # item did not resolve: already reported
            return UNKNOWN
        if attr == "output" and set(ports) == {"train", "test"}:
            return PortGroup(node.span, task, ("train", "test"))
        if attr == "output" and "output" not in ports and "model" in ports and task.kind != "trainable":
            return OutputRef(node.span, task, "model")
        if attr in ports:
            return OutputRef(node.span, task, attr)
        if attr == "metric" and "metrics" in ports:
            metric = task.params.get("metric", ("rmse", node.span))[0]
            return OutputRef(node.span, task, "metrics", (str(metric),))
        options = sorted(set(ports) | set(METHODS))
        hint = None
        if attr == "output" and task.kind == "trainable":
            hint = "a trainable's outputs are .model (the trained model) and .stats (training statistics)"
        return self.no_attribute(task, attr, node.attr_span, options, hint)

    def stage_task(self, view: StageView, attr: str, span: Span) -> Any:
        for name, _, elements in view.pipeline.stages:
            if name != view.stage:
                continue
            for element, _ in elements:
                task = element.task if isinstance(element, TaskUse) else element
                if getattr(task, "id", None) == attr:
                    return task
            options = [
                getattr(e.task if isinstance(e, TaskUse) else e, "id", None) for e, _ in elements
            ]
            return self.no_attribute(view, attr, span, [o for o in options if o])
        return UNKNOWN

    def no_attribute(
        self, value: Any, attr: str, span: Span, options: list[str], hint: str | None = None
    ) -> Any:
        available = hint or (
            f"available: {', '.join(options)}" if options else f"{describe(value)} has no attributes"
        )
        self.reporter.report(
            UnknownAttribute, span, what=describe(value), attr=attr,
            suggestion=did_you_mean(attr, options), available=available,
        )  # fmt: skip
        return UNKNOWN

    # ------------------------------------------------------------------ calls

    def call(self, node: ast.Call) -> Any:
        if any(isinstance(a, ast.Rejected) for a in (*node.args, *(k.value for k in node.keywords))):
            # The parser refused an argument (a lambda, a comprehension, **kwargs...): the
            # call's shape is unknown, so checking its signature would only add noise.
            for a in (*node.args, *(k.value for k in node.keywords)):
                self.expr(a)
            return UNKNOWN
        func = self.expr(node.func)
        args = [(self.expr(a), a.span) for a in node.args]
        kwargs = {k.name: (self.expr(k.value), k.value.span) for k in node.keywords}
        name_spans = {k.name: k.name_span for k in node.keywords}
        if func is UNKNOWN:
            return UNKNOWN
        if isinstance(func, Builtin):
            result = calls.call_builtin(self, func.name, node, args, kwargs, name_spans)
        elif isinstance(func, BoundMethod):
            result = methods.call_method(self, func, node, args, kwargs, name_spans)
        else:
            self.reporter.report(NotCallable, node.func.span, what=describe(func))
            return UNKNOWN
        reference = kwargs.get("reference")
        if reference is not None and isinstance(reference[0], str) and result is not UNKNOWN:
            self.name_value(result, reference[0], reference[1])
            self.out.env[reference[0]] = result
        return result

    def resolve_item(self, name: str, span: Span) -> Any:
        return self.catalog.resolve(name, self.reporter, span)

    def new_task(self, task: TaskDef) -> TaskDef:
        self.out.tasks.append(task)
        return task

    def configured(self, task: TaskDef, **changes: Any) -> TaskDef:
        return self.new_task(replace(task, id=None, id_span=None, **changes))
