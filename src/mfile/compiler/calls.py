"""What each builtin function and method does when an M-File calls it (used by lower.py).

Each handler gets already-evaluated arguments as ``(value, span)`` pairs, checks them, and
returns the new value (or ``UNKNOWN`` after reporting). Port names follow
docs/architecture.md.
"""

from __future__ import annotations

import keyword
import re
from typing import Any

from mfile.compiler.builtins import BUILTIN_ITEMS, FUNCTIONS, Signature
from mfile.compiler.folding import DictLit, ListLit
from mfile.compiler.lowering import Lowering
from mfile.compiler.messages import (
    ComponentExternalInput,
    ItemNameNotString,
    MissingArgument,
    NotAReference,
    UnknownKeyword,
    WrongArgumentCount,
    WrongArgumentType,
)
from mfile.compiler.values import (
    UNKNOWN,
    ComponentDef,
    HyperParameterDef,
    OutputRef,
    PipelineDef,
    SearchDef,
    TaskDef,
    TaskUse,
    describe,
)
from mfile.diagnostics import Span, did_you_mean
from mfile.mfile_grammar import ast

Args = list[tuple[Any, Span]]
Kwargs = dict[str, tuple[Any, Span]]

# --------------------------------------------------------------------------- argument checks


def check_signature(
    lowerer: Lowering, sig: Signature, node: ast.Call, args: Args, kwargs: Kwargs, name_spans: dict[str, Span]
) -> bool:
    ok = True
    for key in kwargs:
        if key not in sig.keywords:
            lowerer.reporter.report(
                UnknownKeyword, name_spans[key], func=sig.name, keyword=key,
                suggestion=did_you_mean(key, sig.keywords), usage=sig.usage,
            )  # fmt: skip
            ok = False
    if len(args) < sig.min_args or (sig.max_args is not None and len(args) > sig.max_args):
        expected = str(sig.min_args) if sig.min_args == sig.max_args else (
            f"at least {sig.min_args}" if sig.max_args is None else f"{sig.min_args} to {sig.max_args}"
        )  # fmt: skip
        lowerer.reporter.report(
            WrongArgumentCount, node.span, func=sig.name, expected=expected, got=len(args), usage=sig.usage
        )
        ok = False
    for key in sig.required:
        if key not in kwargs and not (key == "name" and args):
            lowerer.reporter.report(MissingArgument, node.span, func=sig.name, keyword=key, usage=sig.usage)
            ok = False
    return ok


_REFERENCE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")  # as long as a name may be (E516)


def expect(
    lowerer: Lowering, func: str, argument: str, value: Any, span: Span, types: tuple[type, ...], expected: str
) -> bool:
    if value is UNKNOWN:
        return False
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        lowerer.reporter.report(
            WrongArgumentType, span, func=func, argument=argument, expected=expected, got=describe(value)
        )
    return ok


def as_ref(lowerer: Lowering, value: Any, span: Span, example: str = "task.output") -> OutputRef | None:
    if isinstance(value, OutputRef):
        return value
    if value is UNKNOWN:
        return None
    target = value.task if isinstance(value, TaskUse) else value
    if isinstance(target, (TaskDef, SearchDef)) and target.id:
        example = f"{target.id}.{'best_model' if isinstance(target, SearchDef) else 'output'}"
    lowerer.reporter.report(NotAReference, span, what=describe(value), example=example)
    return None


def params_of(lowerer: Lowering, func: str, kwargs: Kwargs, keys: tuple[str, ...]) -> dict[str, tuple[Any, Span]]:
    """Builtin keyword arguments that become item params (constants only)."""
    out: dict[str, tuple[Any, Span]] = {}
    for key in keys:
        if key in kwargs:
            value, span = kwargs[key]
            if isinstance(value, ListLit):
                value = ",".join(str(v) for v, _ in value.items)
            if value is UNKNOWN:
                continue
            if value is not None and not isinstance(value, (str, int, float, bool)):
                lowerer.reporter.report(
                    WrongArgumentType, span, func=func, argument=key,
                    expected="a constant", got=describe(value),
                )  # fmt: skip
                continue
            out[key] = (value, span)
    return out


# --------------------------------------------------------------------------- builtins


def call_builtin(
    lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs, name_spans: dict[str, Span]
) -> Any:
    sig = FUNCTIONS[name]
    if not check_signature(lowerer, sig, node, args, kwargs, name_spans):
        return UNKNOWN
    if "reference" in kwargs:
        ref, span = kwargs["reference"]
        if not expect(lowerer, name, "reference", ref, span, (str,), "a string"):
            return UNKNOWN
        # The name becomes a task id: a file name in the run directory and a word in scripts.
        if not _REFERENCE_NAME.fullmatch(ref) or keyword.iskeyword(ref):
            lowerer.reporter.report(
                WrongArgumentType, span, func=name, argument="reference", got=repr(ref),
                expected="a name (ASCII letters, digits and _, not starting with a digit, at most 100)",
            )  # fmt: skip
            return UNKNOWN
    handler = _BUILTINS[name]
    return handler(lowerer, name, node, args, kwargs)


def _item(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    if "name" not in kwargs and not args:  # MantikItem(): the name may be positional, so not in the signature
        lowerer.reporter.report(MissingArgument, node.span, func=name, keyword="name", usage=FUNCTIONS[name].usage)
        return UNKNOWN
    value, span = kwargs.get("name") or args[0]
    if value is UNKNOWN:
        return UNKNOWN
    if not isinstance(value, str):
        lowerer.reporter.report(ItemNameNotString, span, got=describe(value))
        return UNKNOWN
    item = lowerer.resolve_item(value, span)
    return lowerer.new_task(TaskDef(node.span, value, item))


def _builtin_item(lowerer: Lowering, name: str, node: ast.Call) -> TaskDef:
    item = lowerer.resolve_item(BUILTIN_ITEMS[name], node.func.span)
    return lowerer.new_task(TaskDef(node.span, BUILTIN_ITEMS[name], item, builtin=name))


def _hyperparameter(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    return HyperParameterDef(node.span)


def _component(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    steps = []
    for value, span in args:
        target = value.task if isinstance(value, TaskUse) else value
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(target, TaskDef):
            expect(lowerer, name, "each step", value, span, (TaskDef,), "a task (an item or a builtin)")
            return UNKNOWN
        steps.append(target)

    for step in steps:
        for port, ref in step.bound_inputs.items():
            if all(ref.task is not other for other in steps):
                lowerer.reporter.report(
                    ComponentExternalInput, step.bound_spans.get(port, step.span),
                    step=step.id or step.builtin or step.item_name, source=ref.task.id or "?",
                )  # fmt: skip
    return ComponentDef(node.span, tuple(steps))


def _search(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    component, cspan = args[0]
    if isinstance(component, TaskUse):
        component = component.task
    if isinstance(component, TaskDef):
        component = ComponentDef(component.span, (component,))
    if component is UNKNOWN or not expect(
        lowerer, name, "the component", component, cspan, (ComponentDef,), "pipeline_component(...) or a task"
    ):
        return UNKNOWN
    grid_value, grid_span = kwargs["hyperparameters"]
    if not expect(lowerer, name, "hyperparameters", grid_value, grid_span, (DictLit,), "a dict {name: [values]}"):
        return UNKNOWN
    grid: dict[str, tuple[HyperParameterDef, tuple[Any, ...], Span, tuple[Span, ...]]] = {}
    for key, kspan, values, vspan in grid_value.entries:
        hp = lowerer.out.env.get(key) if isinstance(key, str) else None
        if not isinstance(hp, HyperParameterDef):
            known = [n for n, v in lowerer.out.env.items() if isinstance(v, HyperParameterDef)]
            lowerer.reporter.report(
                WrongArgumentType, kspan, func=name, argument=f"key {key!r}",
                expected=f"the name of a HyperParameter(){did_you_mean(str(key), known)}",
                got=describe(hp) if hp is not None else "an unknown name",
            )  # fmt: skip
            continue
        if not expect(lowerer, name, f"the values of {key!r}", values, vspan, (ListLit,), "a list of values"):
            continue
        grid[key] = (hp, tuple(v for v, _ in values.items), vspan, tuple(s for _, s in values.items))
    metric, mspan = kwargs["metric"]
    metric_ref = as_ref(lowerer, metric, mspan, "component.evaluate.metric")
    mode = kwargs.get("mode", (None, node.span))
    if mode[0] is not None and mode[0] not in ("min", "max"):
        lowerer.reporter.report(
            WrongArgumentType, mode[1], func=name, argument="mode", expected="'min' or 'max'", got=repr(mode[0])
        )
    throttle, tspan = kwargs.get("max_parallel", (None, node.span))
    if throttle is not None and not (isinstance(throttle, int) and not isinstance(throttle, bool) and throttle > 0):
        lowerer.reporter.report(
            WrongArgumentType, tspan, func=name, argument="max_parallel", expected="a positive int", got=repr(throttle)
        )
        throttle = None
    minimum, minspan = kwargs.get("min_points", (None, node.span))
    if minimum is not None and not (isinstance(minimum, int) and not isinstance(minimum, bool) and minimum > 0):
        lowerer.reporter.report(
            WrongArgumentType, minspan, func=name, argument="min_points", expected="a positive int", got=repr(minimum)
        )
        minimum = None
    search = SearchDef(node.span, component, grid, metric_ref, mspan, mode[0], throttle, minimum, minspan)
    lowerer.out.searches.append(search)
    return search


def _evaluate(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    task = _builtin_item(lowerer, name, node)
    task.params.update(params_of(lowerer, name, kwargs, ("metric", "label", "baseline")))
    return task


def _save_model(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    task = _builtin_item(lowerer, name, node)
    task.params.update(params_of(lowerer, name, kwargs, ("store",)))
    return task


def _with_inputs(lowerer: Lowering, name: str, node: ast.Call, kwargs: Kwargs, key: str, params: tuple[str, ...]) -> Any:
    value, span = kwargs[key]
    items = value.items if isinstance(value, ListLit) else [(value, span)]
    found = [(as_ref(lowerer, v, s), s) for v, s in items]
    refs = [(r, s) for r, s in found if r is not None]
    task = _builtin_item(lowerer, name, node)
    task.params.update(params_of(lowerer, name, kwargs, params))
    task.incomplete = len(refs) < len(found)
    if name != "join" and len(refs) != 1 and not task.incomplete:
        lowerer.reporter.report(
            WrongArgumentType, kwargs[key][1], func=name, argument=key,
            expected="one output reference", got=f"{len(refs)} references",
        )  # fmt: skip
        return UNKNOWN
    for i, (ref, span) in enumerate(refs):
        port = f"input_{i}" if name == "join" else "input"
        task.bound_inputs[port] = ref
        task.bound_spans[port] = span
    return task


def _join(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    return _with_inputs(lowerer, name, node, kwargs, "inputs", ("how", "on"))


def _split(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    return _with_inputs(lowerer, name, node, kwargs, "data", ("test_size", "by", "seed"))


def _timelag(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    return _with_inputs(lowerer, name, node, kwargs, "timeline", ("lag_column", "lag", "steps", "variables"))


def _pipeline(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    stages_value, span = kwargs["stages"]
    if not expect(lowerer, name, "stages", stages_value, span, (DictLit,), 'a dict {"stage": [tasks]}'):
        return UNKNOWN
    stages = []
    had_errors = False
    for key, kspan, value, vspan in stages_value.entries:
        if not expect(lowerer, name, "a stage name", key, kspan, (str,), "a string"):
            continue
        if isinstance(value, ListLit):
            elements = value.items
        else:
            elements = ((value, vspan),)
        kept = []
        for element, espan in elements:
            if element is UNKNOWN:
                had_errors = True
                continue
            if isinstance(element, (TaskDef, TaskUse, SearchDef)):
                kept.append((element, espan))
            else:
                expect(lowerer, name, f"an entry of stage {key!r}", element, espan, (TaskDef,), "a task")
        stages.append((key, kspan, tuple(kept)))
    pipeline = PipelineDef(node.span, tuple(stages), had_errors=had_errors)
    lowerer.out.pipelines.append(pipeline)
    return pipeline


def _make_item(lowerer: Lowering, name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    ref = as_ref(lowerer, *args[0], example="pipeline.stage.deploy.model")
    if ref is None:
        return UNKNOWN
    return lowerer.new_task(TaskDef(node.span, "", None, mode="predict", model_ref=ref))


_BUILTINS = {
    "MantikItem": _item,
    "Item": _item,
    "HyperParameter": _hyperparameter,
    "HyperParameterSearch": _search,
    "pipeline_component": _component,
    "evaluate": _evaluate,
    "save_model": _save_model,
    "join": _join,
    "train_test_split": _split,
    "timelag": _timelag,
    "MantikPipeline": _pipeline,
    "Pipeline": _pipeline,
    "makeMantikItem": _make_item,
}
