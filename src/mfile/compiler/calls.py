"""What each builtin function and method does when an M-File calls it (used by lower.py).

Each handler gets already-evaluated arguments as ``(value, span)`` pairs, checks them, and
returns the new value (or ``UNKNOWN`` after reporting). Port names follow
docs/architecture.md.
"""

from __future__ import annotations

import keyword
import re
from typing import TYPE_CHECKING, Any

from mfile.compiler.folding import DictLit, ListLit
from mfile.compiler.builtins import (
    BUILTIN_ITEMS,
    FUNCTIONS,
    ItemNameNotString,
    MissingArgument,
    NotAReference,
    Signature,
    UnknownKeyword,
    WrongArgumentCount,
    WrongArgumentType,
    did_you_mean,
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
from mfile.diagnostics import Span
from mfile.mfile_grammar import ast

if TYPE_CHECKING:
    from mfile.compiler.lower import Lowerer

Args = list[tuple[Any, Span]]
Kwargs = dict[str, tuple[Any, Span]]

MULTI_OUTPUT = {
    "mfile/train_test_split": ("train", "test"),
    "mfile/evaluate": ("metrics",),
    "mfile/normalize": ("output", "stats"),
    "mfile/save_model": ("model",),
}
# Inputs an item can do without (normalize reuses saved statistics when given them).
OPTIONAL_INPUTS = {"mfile/normalize": ("stats",)}
KIND_OUTPUTS = {
    "dataset": ("output",),
    "algorithm": ("output",),
    "trainable": ("model", "stats"),
    "deployment": ("model",),
}


def output_ports(task: TaskDef) -> tuple[str, ...] | None:
    if task.mode == "predict":
        return ("output",)
    if task.item is None:
        return None
    return MULTI_OUTPUT.get(task.item.ref.name) or KIND_OUTPUTS[task.item.ref.kind]


def input_ports(task: TaskDef, count: int = 1) -> tuple[str, ...] | None:
    """Input ports in positional order; ``count`` is how many a variadic builtin gets."""
    if task.mode == "predict":
        return ("input",)
    if task.item is None:
        return None
    name = task.item.ref.name
    if name == "mfile/join":
        return tuple(f"input_{i}" for i in range(count))
    if name == "mfile/evaluate":
        return ("model", "data")
    if name in OPTIONAL_INPUTS:
        return ("input", *OPTIONAL_INPUTS[name])
    return {
        "dataset": (),
        "algorithm": ("input",),
        "trainable": ("input",),
        "deployment": ("model",),
    }[task.item.ref.kind]


# --------------------------------------------------------------------------- argument checks


def check_signature(
    lw: "Lowerer", sig: Signature, node: ast.Call, args: Args, kwargs: Kwargs, name_spans: dict[str, Span]
) -> bool:
    ok = True
    for key in kwargs:
        if key not in sig.keywords:
            lw.reporter.report(
                UnknownKeyword, name_spans[key], func=sig.name, keyword=key,
                suggestion=did_you_mean(key, sig.keywords), usage=sig.usage,
            )  # fmt: skip
            ok = False
    if len(args) < sig.min_args or (sig.max_args is not None and len(args) > sig.max_args):
        expected = str(sig.min_args) if sig.min_args == sig.max_args else (
            f"at least {sig.min_args}" if sig.max_args is None else f"{sig.min_args} to {sig.max_args}"
        )  # fmt: skip
        lw.reporter.report(
            WrongArgumentCount, node.span, func=sig.name, expected=expected, got=len(args), usage=sig.usage
        )
        ok = False
    for key in sig.required:
        if key not in kwargs and not (key == "name" and args):
            lw.reporter.report(MissingArgument, node.span, func=sig.name, keyword=key, usage=sig.usage)
            ok = False
    return ok


_REFERENCE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")  # as long as a name may be (E516)


def expect(
    lw: "Lowerer", func: str, argument: str, value: Any, span: Span, types: tuple[type, ...], expected: str
) -> bool:
    if value is UNKNOWN:
        return False
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        lw.reporter.report(
            WrongArgumentType, span, func=func, argument=argument, expected=expected, got=describe(value)
        )
    return ok


def as_ref(lw: "Lowerer", value: Any, span: Span, example: str = "task.output") -> OutputRef | None:
    if isinstance(value, OutputRef):
        return value
    if value is UNKNOWN:
        return None
    target = value.task if isinstance(value, TaskUse) else value
    if isinstance(target, (TaskDef, SearchDef)) and target.id:
        example = f"{target.id}.{'best_model' if isinstance(target, SearchDef) else 'output'}"
    lw.reporter.report(NotAReference, span, what=describe(value), example=example)
    return None


def params_of(lw: "Lowerer", func: str, kwargs: Kwargs, keys: tuple[str, ...]) -> dict[str, tuple[Any, Span]]:
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
                lw.reporter.report(
                    WrongArgumentType, span, func=func, argument=key,
                    expected="a constant", got=describe(value),
                )  # fmt: skip
                continue
            out[key] = (value, span)
    return out


# --------------------------------------------------------------------------- builtins


def call_builtin(
    lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs, name_spans: dict[str, Span]
) -> Any:
    sig = FUNCTIONS[name]
    if not check_signature(lw, sig, node, args, kwargs, name_spans):
        return UNKNOWN
    if "reference" in kwargs:
        ref, span = kwargs["reference"]
        if not expect(lw, name, "reference", ref, span, (str,), "a string"):
            return UNKNOWN
        # The name becomes a task id: a file name in the run directory and a word in scripts.
        if not _REFERENCE_NAME.fullmatch(ref) or keyword.iskeyword(ref):
            lw.reporter.report(
                WrongArgumentType, span, func=name, argument="reference", got=repr(ref),
                expected="a name (ASCII letters, digits and _, not starting with a digit, at most 100)",
            )  # fmt: skip
            return UNKNOWN
    handler = _BUILTINS[name]
    return handler(lw, name, node, args, kwargs)


def _item(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    if "name" not in kwargs and not args:  # MantikItem(): the name may be positional, so not in the signature
        lw.reporter.report(MissingArgument, node.span, func=name, keyword="name", usage=FUNCTIONS[name].usage)
        return UNKNOWN
    value, span = kwargs.get("name") or args[0]
    if value is UNKNOWN:
        return UNKNOWN
    if not isinstance(value, str):
        lw.reporter.report(ItemNameNotString, span, got=describe(value))
        return UNKNOWN
    item = lw.resolve_item(value, span)
    return lw.new_task(TaskDef(node.span, value, item))


def _builtin_item(lw: "Lowerer", name: str, node: ast.Call) -> TaskDef:
    item = lw.resolve_item(BUILTIN_ITEMS[name], node.func.span)
    return lw.new_task(TaskDef(node.span, BUILTIN_ITEMS[name], item, builtin=name))


def _hyperparameter(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    return HyperParameterDef(node.span)


def _component(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    steps = []
    for value, span in args:
        target = value.task if isinstance(value, TaskUse) else value
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(target, TaskDef):
            expect(lw, name, "each step", value, span, (TaskDef,), "a task (an item or a builtin)")
            return UNKNOWN
        steps.append(target)
    from mfile.compiler.search import ComponentExternalInput

    for step in steps:
        for port, ref in step.bound_inputs.items():
            if all(ref.task is not other for other in steps):
                lw.reporter.report(
                    ComponentExternalInput, step.bound_spans.get(port, step.span),
                    step=step.id or step.builtin or step.item_name, source=ref.task.id or "?",
                )  # fmt: skip
    return ComponentDef(node.span, tuple(steps))


def _search(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    component, cspan = args[0]
    if isinstance(component, TaskUse):
        component = component.task
    if isinstance(component, TaskDef):
        component = ComponentDef(component.span, (component,))
    if component is UNKNOWN or not expect(
        lw, name, "the component", component, cspan, (ComponentDef,), "pipeline_component(...) or a task"
    ):
        return UNKNOWN
    grid_value, grid_span = kwargs["hyperparameters"]
    if not expect(lw, name, "hyperparameters", grid_value, grid_span, (DictLit,), "a dict {name: [values]}"):
        return UNKNOWN
    grid: dict[str, tuple[HyperParameterDef, tuple[Any, ...], Span, tuple[Span, ...]]] = {}
    for key, kspan, values, vspan in grid_value.entries:
        hp = lw.out.env.get(key) if isinstance(key, str) else None
        if not isinstance(hp, HyperParameterDef):
            known = [n for n, v in lw.out.env.items() if isinstance(v, HyperParameterDef)]
            lw.reporter.report(
                WrongArgumentType, kspan, func=name, argument=f"key {key!r}",
                expected=f"the name of a HyperParameter(){did_you_mean(str(key), known)}",
                got=describe(hp) if hp is not None else "an unknown name",
            )  # fmt: skip
            continue
        if not expect(lw, name, f"the values of {key!r}", values, vspan, (ListLit,), "a list of values"):
            continue
        grid[key] = (hp, tuple(v for v, _ in values.items), vspan, tuple(s for _, s in values.items))
    metric, mspan = kwargs["metric"]
    metric_ref = as_ref(lw, metric, mspan, "component.evaluate.metric")
    mode = kwargs.get("mode", (None, node.span))
    if mode[0] is not None and mode[0] not in ("min", "max"):
        lw.reporter.report(
            WrongArgumentType, mode[1], func=name, argument="mode", expected="'min' or 'max'", got=repr(mode[0])
        )
    throttle, tspan = kwargs.get("max_parallel", (None, node.span))
    if throttle is not None and not (isinstance(throttle, int) and not isinstance(throttle, bool) and throttle > 0):
        lw.reporter.report(
            WrongArgumentType, tspan, func=name, argument="max_parallel", expected="a positive int", got=repr(throttle)
        )
        throttle = None
    search = SearchDef(node.span, component, grid, metric_ref, mspan, mode[0], throttle)
    lw.out.searches.append(search)
    return search


def _evaluate(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    task = _builtin_item(lw, name, node)
    task.params.update(params_of(lw, name, kwargs, ("metric", "label", "baseline")))
    return task


def _save_model(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    task = _builtin_item(lw, name, node)
    task.params.update(params_of(lw, name, kwargs, ("store",)))
    return task


def _with_inputs(lw: "Lowerer", name: str, node: ast.Call, kwargs: Kwargs, key: str, params: tuple[str, ...]) -> Any:
    value, span = kwargs[key]
    items = value.items if isinstance(value, ListLit) else [(value, span)]
    found = [(as_ref(lw, v, s), s) for v, s in items]
    refs = [(r, s) for r, s in found if r is not None]
    task = _builtin_item(lw, name, node)
    task.params.update(params_of(lw, name, kwargs, params))
    task.incomplete = len(refs) < len(found)
    if name != "join" and len(refs) != 1 and not task.incomplete:
        lw.reporter.report(
            WrongArgumentType, kwargs[key][1], func=name, argument=key,
            expected="one output reference", got=f"{len(refs)} references",
        )  # fmt: skip
        return UNKNOWN
    for i, (ref, span) in enumerate(refs):
        port = f"input_{i}" if name == "join" else "input"
        task.bound_inputs[port] = ref
        task.bound_spans[port] = span
    return task


def _join(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    return _with_inputs(lw, name, node, kwargs, "inputs", ("how", "on"))


def _split(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    return _with_inputs(lw, name, node, kwargs, "data", ("test_size", "by", "seed"))


def _timelag(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    return _with_inputs(lw, name, node, kwargs, "timeline", ("lag_column", "lag", "steps", "variables"))


def _pipeline(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    stages_value, span = kwargs["stages"]
    if not expect(lw, name, "stages", stages_value, span, (DictLit,), 'a dict {"stage": [tasks]}'):
        return UNKNOWN
    stages = []
    had_errors = False
    for key, kspan, value, vspan in stages_value.entries:
        if not expect(lw, name, "a stage name", key, kspan, (str,), "a string"):
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
                expect(lw, name, f"an entry of stage {key!r}", element, espan, (TaskDef,), "a task")
        stages.append((key, kspan, tuple(kept)))
    pipeline = PipelineDef(node.span, tuple(stages), had_errors=had_errors)
    lw.out.pipelines.append(pipeline)
    return pipeline


def _make_item(lw: "Lowerer", name: str, node: ast.Call, args: Args, kwargs: Kwargs) -> Any:
    ref = as_ref(lw, *args[0], example="pipeline.stage.deploy.model")
    if ref is None:
        return UNKNOWN
    return lw.new_task(TaskDef(node.span, "", None, mode="predict", model_ref=ref))


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
