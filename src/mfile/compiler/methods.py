"""What the methods of tasks do when an M-File calls them (used by lower.py):
``configure``, ``set_input``, ``set_input_name`` and ``get_output_reference``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mfile.compiler.builtins import METHODS
from mfile.compiler.calls import Args, Kwargs, as_ref, check_signature, expect
from mfile.compiler.folding import DictLit, ListLit
from mfile.compiler.lowering import Lowering
from mfile.compiler.messages import SetInputNameMisuse
from mfile.compiler.typer import output_columns
from mfile.compiler.values import UNKNOWN, BoundMethod, OutputRef, TaskDef, TaskUse
from mfile.diagnostics import Span
from mfile.mfile_grammar import ast


def call_method(
    lowerer: Lowering, method: BoundMethod, node: ast.Call, args: Args, kwargs: Kwargs, name_spans: dict[str, Span]
) -> Any:
    target, name = method.target, method.name
    sig = METHODS[name]
    if name == "set_input":
        return _set_input(lowerer, target, node, args, kwargs)
    if not check_signature(lowerer, sig, node, args, kwargs, name_spans):
        return UNKNOWN
    if name == "configure":
        if isinstance(target, TaskUse):  # task.set_input(x).configure(...): the same inputs, configured
            configured = _configure(lowerer, target.task, kwargs)
            return replace(target, task=configured) if isinstance(configured, TaskDef) else configured
        return _configure(lowerer, target, kwargs)
    if name == "set_input_name":
        value, span = args[0]
        if expect(lowerer, name, "the input name", value, span, (str,), "a string"):
            if not value.isidentifier():
                lowerer.reporter.report(SetInputNameMisuse, span, reason=f"{value!r} is not a valid name")
            else:
                target.input_name, target.input_name_span = value, span
        return UNKNOWN if target is UNKNOWN else None
    if name == "get_output_reference":

        columns = output_columns(lowerer.typer, target, node.span)
        if columns is None:
            return UNKNOWN
        return ListLit(node.span, tuple((OutputRef(node.span, target, "output", (c,)), node.span) for c in columns))
    return UNKNOWN


def _configure(lowerer: Lowering, task: TaskDef, kwargs: Kwargs) -> Any:
    params = dict(task.params)
    resources = dict(task.resources)
    for key, target in (("params", params), ("resources", resources)):
        if key not in kwargs:
            continue
        value, span = kwargs[key]
        if not expect(lowerer, "configure", key, value, span, (DictLit,), "a dict {name: value}"):
            continue
        for k, kspan, v, vspan in value.entries:
            if not expect(lowerer, "configure", f"a {key} key", k, kspan, (str,), "a string"):
                continue
            target[k] = (v, kspan if key == "params" else vspan)
    return lowerer.configured(task, params=params, resources=resources)


def _set_input(lowerer: Lowering, target: Any, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    # A failed argument is left out but the task stays in its stage, so one mistake upstream
    # does not turn into "not in pipeline" errors downstream.
    incomplete = False
    positional = []
    spans: dict[str, Span] = {}
    for value, span in args:
        ref = as_ref(lowerer, value, span)
        if ref is None:
            incomplete = True
            continue
        spans[f"#{len(positional)}"] = span
        positional.append(ref)
    named: dict[str, OutputRef] = {}
    for key, (value, span) in kwargs.items():
        ref = as_ref(lowerer, value, span)
        if ref is None:
            incomplete = True
            continue
        named[key], spans[key] = ref, span
    return TaskUse(node.span, target, tuple(positional), named, spans, incomplete)
