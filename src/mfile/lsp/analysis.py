"""What an M-File means at a position, for the language server: diagnostics (exactly
``mfile check``'s), hover, completion and go-to-definition. No LSP types here: positions are
1-based lines and columns in characters (code points), as in every mfile ``Span``.

Diagnostics and hover read the last analysis of the document. Completion reads the text as
it is being typed, which is rarely a valid M-File (``params={"`` has an open string and
brackets): a small scan of the text before the cursor finds the context (inside an item-name
string, a params key, a call's arguments, after a dot) and the last analysis that parsed
supplies the names, tasks and items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from mfile.compiler.builtins import BUILTIN_ITEMS, DSL_BUILTINS, FUNCTIONS, METHODS
from mfile.compiler.frontend import Checker, CheckResult
from mfile.compiler.headers.catalog import ItemCatalog, ResolvedItem
from mfile.compiler.headers.execution import RESOURCE_KEYS
from mfile.compiler.headers.schema import RESOURCE_DOCS
from mfile.compiler.lower import lower
from mfile.compiler.lowering import Lowered
from mfile.compiler.ports import input_ports, output_ports
from mfile.compiler.program import build_program
from mfile.compiler.scope import resolve
from mfile.compiler.typer import Typer
from mfile.compiler.values import (
    ComponentDef,
    HyperParameterDef,
    OutputRef,
    PipelineDef,
    SearchDef,
    TaskDef,
    TaskUse,
)
from mfile.diagnostics import FileTooLarge, Report, Reporter, Span
from mfile.mfile_grammar import ast
from mfile.mfile_grammar.parser import parse
from mfile.mfile_grammar.source import MAX_BYTES
from mfile.plan import ir
from mfile.plan.types import DataType, Model, Tabular

ITEM_CALLS = ("MantikItem", "Item")
BUILTIN_DOCS = {
    "MantikItem": "A task that runs an item: `MantikItem(name=\"namespace/name:version\")`.",
    "Item": "Alias of `MantikItem`.",
    "HyperParameter": "A parameter searched by a `HyperParameterSearch`: pass it in `configure(params={...})`.",
    "HyperParameterSearch": "Runs a component once per grid point and keeps the best by `metric` (a Slurm job array).",
    "pipeline_component": "Steps that run together for each point of a search: `pipeline_component(train, score)`.",
    "evaluate": "Scores a model on data: outputs `metrics` (`rmse`, `mae`, `mse`, `loss`, `accuracy`).",
    "save_model": "Saves a trained model (its `model` output) to the model store.",
    "join": "Joins tables column-wise: `join(inputs=[a.output, b.output], how=..., on=...)`.",
    "train_test_split": "Splits data into `.output.train` and `.output.test`.",
    "timelag": "Adds lagged copies of variables along time.",
    "MantikPipeline": "A pipeline of stages, run in order: `MantikPipeline(stages={\"name\": [task, ...]})`.",
    "Pipeline": "Alias of `MantikPipeline`.",
    "makeMantikItem": "A task that predicts with a trained model: `makeMantikItem(pipeline.stage.deploy.model)`.",
    "dsl": "`dsl.builtins.X` reaches the builtins (`join`, `timelag`, ...).",
}
METHOD_DOCS = {
    "configure": "Sets the item's metaVariables (`params={...}`) and the task's resources (`resources={...}`).",
    "set_input": "Connects inputs: positional output references, or `port=ref` keywords.",
    "set_input_name": "Names the input a search passes to this step of a component.",
    "get_output_reference": "One reference per column of the task's output.",
}


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # item | param | resource | builtin | keyword | name | method | port | stage | module
    detail: str = ""
    doc: str = ""
    insert: str | None = None  # text to insert when it differs from the label
    start: tuple[int, int] | None = None  # (line, column) the inserted text replaces from


@dataclass
class Analysis:
    """One document, checked: reports, the AST and what lowering made of it."""

    path: Path
    text: str
    reports: list[Report]
    module: ast.Module | None = None
    lowered: Lowered | None = None
    program: ir.Program | None = None
    catalog: ItemCatalog | None = None
    bindings: dict[str, Span] = field(default_factory=dict)


# ``mfile check --profile``'s E4xx checks, handed down by the command (codegen is above here).
SiteCheck = Callable[[CheckResult], None]


def analyse(text: str, path: Path, roots: list[Path], site_check: SiteCheck | None = None) -> Analysis:
    """Check ``text`` as the M-File at ``path`` would be checked by ``mfile check`` (with
    ``site_check``: by ``mfile check --profile``).

    A fresh item catalogue each time: headers change on disk while the M-File is edited.
    """
    reporter = Reporter()
    name = str(path)
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        reporter.report(FileTooLarge, Span.whole_file(name), size=len(text.encode("utf-8", errors="replace")), limit=MAX_BYTES)
        return Analysis(path, text, reporter.reports)
    checker = Checker(roots)
    catalog = checker.catalog(path)
    module = parse(text, name, reporter)
    result = Analysis(path, text, reporter.reports, module=module, catalog=catalog)
    if module is None:
        return result
    resolve(module, reporter)
    typer = Typer(reporter)
    result.lowered = lower(module, catalog, reporter, typer)
    result.program = build_program(result.lowered, name, text, reporter, typer)
    result.bindings = bindings(module)
    if site_check is not None:
        site_check(CheckResult(reporter=reporter, sources={name: text}, files=[name], programs={name: result.program}))
    return result


# --------------------------------------------------------------------------- the AST at a point


def bindings(module: ast.Module) -> dict[str, Span]:
    """Where each name is first bound: an assignment target or a ``reference="name"``."""
    found: dict[str, Span] = {}
    for stmt in module.body:
        if isinstance(stmt, ast.Assign):
            # reference= inside the value binds before the target (it is evaluated first)
            for node, _ in walk(stmt.value, ()):
                if isinstance(node, ast.Keyword) and node.name == "reference" and isinstance(node.value, ast.Constant):
                    if isinstance(node.value.value, str):
                        found.setdefault(node.value.value, node.value.span)
            for target in stmt.targets:
                found.setdefault(target.id, target.span)
        elif isinstance(stmt, ast.ExprStmt):
            for node, _ in walk(stmt.value, ()):
                if isinstance(node, ast.Keyword) and node.name == "reference" and isinstance(node.value, ast.Constant):
                    if isinstance(node.value.value, str):
                        found.setdefault(node.value.value, node.value.span)
    return found


def walk(node: Any, parents: tuple[Any, ...]) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Every node under ``node`` with its ancestors (nearest last)."""
    yield node, parents
    inner = (*parents, node)
    children: tuple[Any, ...] = ()
    if isinstance(node, ast.Module):
        children = node.body
    elif isinstance(node, ast.Assign):
        children = (*node.targets, node.value)
    elif isinstance(node, ast.ExprStmt):
        children = (node.value,)
    elif isinstance(node, ast.Call):
        children = (node.func, *node.args, *node.keywords)
    elif isinstance(node, ast.Keyword):
        children = (node.value,)
    elif isinstance(node, ast.Attribute):
        children = (node.value,)
    elif isinstance(node, (ast.ListExpr, ast.TupleExpr)):
        children = node.elts
    elif isinstance(node, ast.DictExpr):
        children = node.entries
    elif isinstance(node, ast.DictEntry):
        children = (node.key, node.value)
    elif isinstance(node, ast.BinOp):
        children = (node.left, node.right)
    elif isinstance(node, ast.UnaryOp):
        children = (node.operand,)
    for child in children:
        yield from walk(child, inner)


def _hot(node: Any) -> Span | None:
    """The part of a node that hover and go-to-definition answer for."""
    if isinstance(node, ast.Name):
        return node.span
    if isinstance(node, ast.Attribute):
        return node.attr_span
    if isinstance(node, ast.Keyword):
        return node.name_span
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.span
    return None


def _contains(span: Span, line: int, column: int) -> bool:
    return (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column)


def node_at(module: ast.Module, line: int, column: int) -> tuple[Any, tuple[Any, ...]] | None:
    best: tuple[Any, tuple[Any, ...]] | None = None
    best_size = None
    for node, parents in walk(module, ()):
        span = _hot(node)
        if span is None or not _contains(span, line, column):
            continue
        size = (span.end_line - span.line, span.end_column - span.column)
        if best_size is None or size <= best_size:
            best, best_size = (node, parents), size
    return best


def _callee(call: ast.Call) -> str | None:
    """``MantikItem`` for ``MantikItem(...)`` and ``dsl.builtins.MantikItem(...)``; ``configure`` for ``x.configure(...)``."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _item_string(node: Any, parents: tuple[Any, ...]) -> bool:
    """Is this string the item name of ``MantikItem(name="...")`` or ``MantikItem("...")``?"""
    if not parents:
        return False
    parent = parents[-1]
    if isinstance(parent, ast.Keyword) and parent.name == "name" and len(parents) >= 2:
        call = parents[-2]
        return isinstance(call, ast.Call) and _callee(call) in ITEM_CALLS
    return isinstance(parent, ast.Call) and _callee(parent) in ITEM_CALLS and bool(parent.args) and parent.args[0] is node


def _dotted(node: Any) -> list[str]:
    """``a.b.c`` as ["a", "b", "c"]; [] when the chain does not start at a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    return [node.id, *parts] if isinstance(node, ast.Name) else []


def _reference_string(node: Any, parents: tuple[Any, ...]) -> bool:
    """Is this the string of ``reference="name"`` (which binds ``name``)?"""
    return (isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(parents)
            and isinstance(parents[-1], ast.Keyword) and parents[-1].name == "reference")  # fmt: skip


def _configure_key(node: Any, parents: tuple[Any, ...]) -> tuple[str, ast.Call] | None:
    """("params" | "resources", the configure call) when this string is a key of its dict."""
    if len(parents) < 4:
        return None
    entry, dict_expr, keyword, call = parents[-1], parents[-2], parents[-3], parents[-4]
    if (isinstance(entry, ast.DictEntry) and entry.key is node and isinstance(dict_expr, ast.DictExpr)
            and isinstance(keyword, ast.Keyword) and keyword.name in ("params", "resources")
            and isinstance(call, ast.Call) and _callee(call) == "configure"):  # fmt: skip
        return keyword.name, call
    return None


# --------------------------------------------------------------------------- values


def _env(analysis: Analysis | None) -> dict[str, Any]:
    return analysis.lowered.env if analysis is not None and analysis.lowered is not None else {}


def _task_of(value: Any) -> Any:
    return value.task if isinstance(value, TaskUse) else value


def _receiver_task(analysis: Analysis, expr: Any) -> TaskDef | None:
    """The task a ``.configure(...)`` is called on: a name, or ``MantikItem(...)`` itself."""
    if isinstance(expr, ast.Name):
        value = _task_of(_env(analysis).get(expr.id))
        return value if isinstance(value, TaskDef) else None
    if isinstance(expr, ast.Call) and _callee(expr) in ITEM_CALLS and analysis.lowered is not None:
        for task in analysis.lowered.tasks:
            if task.span == expr.span:
                return task
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):  # a chain: x.configure(...).configure(...)
        return _receiver_task(analysis, expr.func.value)
    return None


def _ir_task(analysis: Analysis, task_id: str | None) -> ir.Task | None:
    if analysis.program is None or task_id is None:
        return None
    for pipeline in analysis.program.pipelines:
        for task in pipeline.tasks:
            for candidate in (task, *(task.search.steps if task.search else ())):
                if candidate.id == task_id:
                    return candidate
    return None


def _resolve_item(analysis: Analysis, name: str) -> ResolvedItem | None:
    if analysis.catalog is None:
        return None
    scratch = Reporter()
    return analysis.catalog.resolve(name, scratch, Span.whole_file("<lsp>"))


# --------------------------------------------------------------------------- hover


def _type_text(datatype: DataType | None) -> list[str]:
    if datatype is None:
        return ["  (unknown)"]
    if isinstance(datatype, Tabular):
        return [f"  - `{c.name}`: `{c.type}`" for c in datatype.columns] or ["  (no columns)"]
    if isinstance(datatype, Model):
        return [f"  model: `{datatype.input}` → `{datatype.output}`"]
    return [f"  `{datatype}`"]


def _ports_text(task: ir.Task) -> list[str]:
    lines: list[str] = []
    if task.inputs:
        lines.append("inputs:")
        for b in task.inputs:
            source = f"{b.source_pipeline + '.' if b.source_pipeline else ''}{b.source_task}.{b.source_port}"
            lines.append(f"- `{b.port}` ← `{source}`")
            lines += _type_text(b.type)
    if task.outputs:
        lines.append("outputs:")
        for p in task.outputs:
            lines.append(f"- `{p.name}`")
            lines += _type_text(p.type)
    return lines


def _task_hover(analysis: Analysis, task: TaskDef | SearchDef, name: str) -> str:
    planned = _ir_task(analysis, task.id)
    if isinstance(task, SearchDef):
        head = f"**{name}**: hyperparameter search"
        lines = [head]
        if planned is not None and planned.search is not None:
            spec = planned.search
            lines.append(f"{len(spec.points)} points over {', '.join(spec.hyperparameters)}; "
                         f"best by {spec.mode} `{spec.metric_step}.{spec.metric_port}.{spec.metric_column}`")  # fmt: skip
            lines += _ports_text(planned)
        return "\n".join(lines)
    item = task.item
    what = "predicts with a trained model" if task.mode == "predict" else f"item `{item.ref.ref}` ({item.ref.kind})" if item else f"item `{task.item_name}`"
    lines = [f"**{name}**: task, {what}"]
    if planned is not None:
        if planned.params:
            lines.append("params: " + ", ".join(f"`{k} = {v!r}`" for k, v in planned.params.items()))
        lines += _ports_text(planned)
    elif item is not None:  # not in a pipeline: the header's port types with these params
        typer = Typer(Reporter())
        wanted, produced = typer.types(task, name, {})
        for label, ports in (("inputs:", wanted), ("outputs:", produced)):
            if ports:
                lines.append(label)
                for port, datatype in ports.items():
                    lines.append(f"- `{port}`")
                    lines += _type_text(datatype)
        lines.append("(not in any pipeline)")
    if item is not None:
        lines.append(f"header: `{item.header.path}`")
    return "\n".join(lines)


def _port_hover(analysis: Analysis, task: Any, port: str) -> str | None:
    planned = _ir_task(analysis, getattr(task, "id", None))
    if planned is not None:
        for p in planned.outputs:
            if p.name == port:
                return "\n".join([f"**{planned.id}.{port}**: output port", *_type_text(p.type)])
    if isinstance(task, TaskDef):
        ports = output_ports(task)
        if ports and port in ports:
            _, produced = Typer(Reporter()).types(task, task.id or "?", {})
            return "\n".join([f"**{task.id}.{port}**: output port", *_type_text(produced.get(port))])
    return None


def _item_hover(item: ResolvedItem) -> str:
    h = item.header
    lines = [f"**{item.ref.ref}** ({h.kind})" + ("  — highest version" if item.latest else "")]
    resolved = h.resolve({}, Reporter(), Span.whole_file(str(h.path)))
    if h.meta_variables:
        lines.append("metaVariables (`configure(params={...})`):")
        lines += [f"- `{mv.name}`: {mv.type} = `{mv.value!r}`" + (" (fixed)" if mv.fix else "") for mv in h.meta_variables]
    if resolved is not None:
        ports = {"dataset": [("output", resolved.dataset_type)],
                 "trainable": [("training input", resolved.training), ("stats", resolved.stats),
                               ("model input", resolved.input), ("model output", resolved.output)]}.get(
            h.kind, [("input", resolved.input), ("output", resolved.output)])  # fmt: skip
        for label, datatype in ports:
            if datatype is not None:
                lines.append(f"{label}:")
                lines += _type_text(datatype)
    resources = h.execution.model_dump(exclude={"origin"}, exclude_defaults=True)
    if resources:
        lines.append("execution: " + ", ".join(f"`{k}: {v}`" for k, v in resources.items()))
    lines.append(f"`{h.path}`")
    return "\n".join(lines)


def hover(analysis: Analysis, line: int, column: int) -> tuple[str, Span] | None:
    """Markdown about the name, port, keyword or item name at the position, and its span."""
    if analysis.module is None:
        return None
    found = node_at(analysis.module, line, column)
    if found is None:
        return None
    node, parents = found
    span = _hot(node)
    assert span is not None
    env = _env(analysis)
    text: str | None = None
    if isinstance(node, ast.Name):
        value = _task_of(env.get(node.id))
        if isinstance(value, (TaskDef, SearchDef)):
            text = _task_hover(analysis, value, node.id)
        elif isinstance(value, OutputRef):
            text = _port_hover(analysis, value.task, value.port)
        elif isinstance(value, PipelineDef):
            text = "\n".join([f"**{node.id}**: pipeline"] + [
                f"- stage `{stage}`: " + ", ".join(f"`{getattr(_task_of(t), 'id', None) or '?'}`" for t, _ in entries)
                for stage, _, entries in value.stages])  # fmt: skip
        elif isinstance(value, ComponentDef):
            text = f"**{node.id}**: pipeline component of " + ", ".join(f"`{s.id}`" for s in value.steps)
        elif isinstance(value, HyperParameterDef):
            text = f"**{node.id}**: hyperparameter (its values are given by a HyperParameterSearch)"
        elif node.id in FUNCTIONS and node.id not in env:
            text = f"`{FUNCTIONS[node.id].usage}`\n\n{BUILTIN_DOCS.get(node.id, '')}"
        elif node.id == "dsl" and node.id not in env:
            text = BUILTIN_DOCS["dsl"]
    elif isinstance(node, ast.Attribute):
        text = _attribute_hover(analysis, node)
        if text is None and node.attr in FUNCTIONS:
            text = f"`{FUNCTIONS[node.attr].usage}`\n\n{BUILTIN_DOCS.get(node.attr, '')}"
    elif isinstance(node, ast.Keyword):
        call = parents[-1] if parents else None
        callee = _callee(call) if isinstance(call, ast.Call) else None
        if callee in FUNCTIONS or callee in METHODS:
            usage = (FUNCTIONS.get(callee) or METHODS[callee]).usage  # type: ignore[index]
            text = f"`{node.name}=` of `{usage}`"
    elif isinstance(node, ast.Constant):
        if _item_string(node, parents):
            item = _resolve_item(analysis, str(node.value))
            text = _item_hover(item) if item is not None else None
        else:
            key = _configure_key(node, parents)
            if key is not None:
                text = _configure_key_hover(analysis, key, str(node.value))
    return (text, span) if text else None


def _attribute_hover(analysis: Analysis, node: ast.Attribute) -> str | None:
    """``.configure``; ``pipeline.stage3`` and ``pipeline.stage3.deploy``; ``task.output``,
    ``split.output.train``, ``search.best_model``."""
    if node.attr in METHODS:
        return f"`.{METHODS[node.attr].usage}`\n\n{METHOD_DOCS.get(node.attr, '')}"
    chain = _dotted(node)
    target = _evaluate(chain, analysis)
    if isinstance(target, (TaskDef, SearchDef)):
        return _task_hover(analysis, target, target.id or node.attr)
    if isinstance(target, _Stage):
        return f"**{chain[-2]}.{target.name}**: stage of " + ", ".join(f"`{t}`" for t in target.tasks)
    owner = _evaluate(chain[:-1], analysis)
    if not isinstance(owner, (TaskDef, SearchDef)) and len(chain) >= 3 and chain[-2] == "output":
        owner = _evaluate(chain[:-2], analysis)  # split.output.train: a port of the task's outputs
    if isinstance(owner, (TaskDef, SearchDef)):
        return _port_hover(analysis, owner, node.attr)
    return None


def _configure_key_hover(analysis: Analysis, key: tuple[str, ast.Call], name: str) -> str | None:
    which, call = key
    if which == "resources":
        return f"resource `{name}`: {RESOURCE_DOCS[name]}" if name in RESOURCE_DOCS else None
    assert isinstance(call.func, ast.Attribute)
    task = _receiver_task(analysis, call.func.value)
    mv = task.item.header.meta_variable(name) if task is not None and task.item is not None else None
    if mv is None:
        return None
    return f"metaVariable `{name}` of `{task.item.ref.ref}`: {mv.type} = `{mv.value!r}`" + (" (fixed)" if mv.fix else "")  # type: ignore[union-attr]


# --------------------------------------------------------------------------- outline


@dataclass(frozen=True)
class Symbol:
    """One entry of the editor's outline: a task, search, component, hyperparameter or
    pipeline (with its stages), where its name is bound."""

    name: str
    kind: str  # task | search | component | hyperparameter | pipeline | stage
    detail: str
    span: Span
    children: tuple["Symbol", ...] = ()


def symbols(analysis: Analysis) -> list[Symbol]:
    found: list[Symbol] = []
    env = _env(analysis)
    for name, span in analysis.bindings.items():
        value = _task_of(env.get(name))
        if isinstance(value, TaskDef):
            detail = "predict" if value.mode == "predict" else value.item.ref.ref if value.item else value.item_name
            found.append(Symbol(name, "task", detail, span))
        elif isinstance(value, SearchDef):
            found.append(Symbol(name, "search", "HyperParameterSearch over " + ", ".join(value.grid), span))
        elif isinstance(value, ComponentDef):
            found.append(Symbol(name, "component", "steps " + ", ".join(s.id or "?" for s in value.steps), span))
        elif isinstance(value, HyperParameterDef):
            found.append(Symbol(name, "hyperparameter", "HyperParameter", span))
        elif isinstance(value, PipelineDef):
            stages = tuple(
                Symbol(stage, "stage", ", ".join(getattr(_task_of(t), "id", None) or "?" for t, _ in entries), stage_span)
                for stage, stage_span, entries in value.stages
            )
            found.append(Symbol(name, "pipeline", f"{len(stages)} stages", span, stages))
    return sorted(found, key=lambda x: (x.span.line, x.span.column))


# --------------------------------------------------------------------------- go to definition


def definition(analysis: Analysis, line: int, column: int) -> Span | None:
    """Where the thing at the position is defined: a name's binding; an item name's
    MantikHeader; a params key's metaVariable in the header. On a name's own binding, a task's
    item header."""
    if analysis.module is None:
        return None
    found = node_at(analysis.module, line, column)
    if found is None:
        return None
    node, parents = found
    if isinstance(node, ast.Name) or _reference_string(node, parents):
        name = node.id if isinstance(node, ast.Name) else str(node.value)
        bound = analysis.bindings.get(name)
        if bound is not None and bound != node.span:
            return bound
        task = _task_of(_env(analysis).get(name))
        if isinstance(task, TaskDef) and task.item is not None:
            return Span.whole_file(str(task.item.header.path))
        return bound
    if isinstance(node, ast.Attribute):  # pipeline.stage.task, component.step: the task's binding
        target = _evaluate(_dotted(node), analysis)
        task_id = getattr(target, "id", None)
        return analysis.bindings.get(task_id) if isinstance(target, (TaskDef, SearchDef)) and task_id else None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if _item_string(node, parents):
            item = _resolve_item(analysis, node.value)
            return Span.whole_file(str(item.header.path)) if item is not None else None
        key = _configure_key(node, parents)
        if key is not None and key[0] == "params":
            call = key[1]
            assert isinstance(call.func, ast.Attribute)
            task = _receiver_task(analysis, call.func.value)
            mv = task.item.header.meta_variable(node.value) if task is not None and task.item is not None else None
            return mv.span if mv is not None else None
    return None


# --------------------------------------------------------------------------- completion

_TOKEN = re.compile(
    r"""
      (?P<comment>\#[^\n]*)
    | (?P<string>\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*')
    | (?P<open_string>\"\"\"[\s\S]*|'''[\s\S]*|"[^"\n]*$|'[^'\n]*$)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>[()\[\]{}=.,:])
    | (?P<space>\s+)
    | (?P<other>.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    start: int


def _tokens(prefix: str) -> list[_Tok]:
    return [_Tok(m.lastgroup or "other", m.group(), m.start()) for m in _TOKEN.finditer(prefix)
            if m.lastgroup not in ("space", "comment")]  # fmt: skip


def _in_comment(prefix: str) -> bool:
    matches = list(_TOKEN.finditer(prefix))
    return bool(matches) and matches[-1].lastgroup == "comment" and matches[-1].end() == len(prefix)


def _innermost_open(tokens: list[_Tok]) -> int | None:
    """Index of the innermost bracket still open at the end of ``tokens``."""
    stack: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.kind == "op" and tok.text in "([{":
            stack.append(i)
        elif tok.kind == "op" and tok.text in ")]}" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _open_before(tokens: list[_Tok], end: int) -> int | None:
    return _innermost_open(tokens[:end])


def _callee_before(tokens: list[_Tok], paren: int) -> str | None:
    """The name called by the ``(`` at ``paren``: ``MantikItem``, ``configure``, ..."""
    return tokens[paren - 1].text if paren >= 1 and tokens[paren - 1].kind == "name" else None


def _matching_open(tokens: list[_Tok], close: int) -> int | None:
    depth = 0
    for i in range(close, -1, -1):
        if tokens[i].kind == "op" and tokens[i].text in ")]}":
            depth += 1
        elif tokens[i].kind == "op" and tokens[i].text in "([{":
            depth -= 1
            if depth == 0:
                return i
    return None


def _unquote(text: str) -> str:
    for quote in ('"""', "'''", '"', "'"):
        if text.startswith(quote) and text.endswith(quote) and len(text) >= 2 * len(quote):
            return text[len(quote):-len(quote)]
    return text


def _item_for_receiver(analysis: Analysis | None, tokens: list[_Tok], dot: int) -> TaskDef | ResolvedItem | None:
    """What ``<receiver>.configure(`` configures: a task by name, or ``MantikItem(name=...)``."""
    if dot < 1 or analysis is None:
        return None
    before = tokens[dot - 1]
    if before.kind == "name":
        value = _task_of(_env(analysis).get(before.text))
        return value if isinstance(value, TaskDef) else None
    if before.kind == "op" and before.text == ")":
        opening = _matching_open(tokens, dot - 1)
        if opening is None:
            return None
        callee = _callee_before(tokens, opening)
        if callee in ITEM_CALLS:
            inside = tokens[opening + 1:dot - 1]
            for i, tok in enumerate(inside):
                if tok.kind == "string" and (i == 0 or i >= 2 and inside[i - 2].text == "name" and inside[i - 1].text == "="):
                    return _resolve_item(analysis, _unquote(tok.text))
        if callee == "configure" and opening >= 2 and tokens[opening - 2].text == ".":
            return _item_for_receiver(analysis, tokens, opening - 2)
    return None


def _position_of(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _offset_of(text: str, line: int, column: int) -> int:
    offset = 0
    for _ in range(line - 1):
        nl = text.find("\n", offset)
        if nl < 0:
            return len(text)
        offset = nl + 1
    end = text.find("\n", offset)
    end = len(text) if end < 0 else end
    return min(offset + column - 1, end)


def complete(text: str, line: int, column: int, analysis: Analysis | None) -> list[Completion]:
    """Completions at the position of ``text`` (the document as it is now); ``analysis`` is
    the last one that parsed, for names, tasks and items."""
    offset = _offset_of(text, line, column)
    prefix = text[:offset]
    if _in_comment(prefix):
        return []
    tokens = _tokens(prefix)
    if tokens and tokens[-1].kind == "open_string":
        return _in_string(tokens, prefix, analysis)
    if tokens and tokens[-1].kind == "string":  # just after a closing quote
        return []
    word = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", prefix)
    start = _position_of(prefix, word.start() if word else offset)
    if word:
        tokens = tokens[:-1]
    if tokens and tokens[-1].kind == "op" and tokens[-1].text == ".":
        return [_replace(c, start) for c in _after_dot(tokens, analysis)]
    names = _names(analysis)
    opening = _innermost_open(tokens)
    if opening is not None and tokens[opening].text == "(" and tokens[-1].text in ("(", ","):
        callee = _callee_before(tokens, opening)
        signature = METHODS.get(callee or "") if opening >= 2 and tokens[opening - 2].text == "." else FUNCTIONS.get(callee or "")
        if signature is not None:
            used = {tokens[i - 1].text for i in range(opening + 1, len(tokens)) if tokens[i].text == "=" and tokens[i - 1].kind == "name"}
            keywords = [Completion(f"{k}=", "keyword", f"{signature.usage}", insert=f"{k}=") for k in signature.keywords if k not in used]
            if callee == "set_input":  # port=ref: the receiver's input ports
                receiver = _evaluate(_chain_before(tokens, opening - 2), analysis)
                keywords = [Completion(f"{p}=", "port", "input port", insert=f"{p}=") for p in _input_ports(receiver) if p not in used]
            return [_replace(c, start) for c in keywords + names]
    return [_replace(c, start) for c in names]


def _replace(completion: Completion, start: tuple[int, int]) -> Completion:
    return Completion(completion.label, completion.kind, completion.detail, completion.doc, completion.insert, start)


def _names(analysis: Analysis | None) -> list[Completion]:
    found = [Completion(name, "builtin", FUNCTIONS[name].usage, BUILTIN_DOCS.get(name, "")) for name in FUNCTIONS]
    found.append(Completion("dsl", "module", "dsl.builtins", BUILTIN_DOCS["dsl"]))
    env = _env(analysis)
    from_values = {TaskDef: "task", SearchDef: "search", PipelineDef: "pipeline", ComponentDef: "component",
                   HyperParameterDef: "hyperparameter", OutputRef: "output reference"}  # fmt: skip
    for name, value in env.items():
        what = next((label for cls, label in from_values.items() if isinstance(_task_of(value), cls)), "name")
        found.append(Completion(name, "name", what))
    return found


def _chain_before(tokens: list[_Tok], dot: int) -> list[str]:
    """The dotted names that end just before ``tokens[dot]`` (``pipeline.stage3`` before ``.``)."""
    chain: list[str] = []
    i = dot - 1
    while i >= 0 and tokens[i].kind == "name":
        chain.insert(0, tokens[i].text)
        if i >= 1 and tokens[i - 1].text == ".":
            i -= 2
        else:
            break
    return chain


def _evaluate(chain: list[str], analysis: Analysis | None) -> Any:
    """What a dotted name chain is: a task, a pipeline, a stage, a component step."""
    if not chain:
        return None
    value: Any = _env(analysis).get(chain[0])
    for part in chain[1:]:
        value = _member(value, part)
    return _task_of(value)


def _input_ports(value: Any) -> list[str]:
    if isinstance(value, TaskDef):
        return list(input_ports(value) or ())
    if isinstance(value, SearchDef):  # what its steps asked for with set_input_name(...)
        return [step.input_name for step in value.component.steps if step.input_name]
    return []


def _after_dot(tokens: list[_Tok], analysis: Analysis | None) -> list[Completion]:
    dot = len(tokens) - 1
    chain = _chain_before(tokens, dot)
    methods = [Completion(m, "method", f".{s.usage}", METHOD_DOCS.get(m, "")) for m, s in METHODS.items()]
    if chain == ["dsl"]:
        return [Completion("builtins", "module", "dsl.builtins")]
    if chain == ["dsl", "builtins"]:
        return [Completion(n, "builtin", FUNCTIONS[n].usage, BUILTIN_DOCS.get(n, "")) for n in DSL_BUILTINS]
    if not chain:  # after a call: MantikItem(...).
        return methods
    value = _evaluate(chain, analysis)
    if isinstance(value, TaskDef):
        ports = [Completion(p, "port", "output port") for p in (output_ports(value) or ())]
        return ports + methods
    if isinstance(value, SearchDef):
        return [Completion("best_model", "port", "the best point's model"), Completion("metrics", "port", "every point's metric"),
                Completion("set_input", "method", ".set_input(...)")]  # fmt: skip
    if isinstance(value, PipelineDef):
        return [Completion(stage, "stage", f"stage of {chain[-1]}") for stage, _, _ in value.stages]
    if isinstance(value, _Stage):
        return [Completion(t, "name", f"task in stage {value.name}") for t in value.tasks]
    if isinstance(value, ComponentDef):
        return [Completion(s.id or "?", "name", "step") for s in value.steps] + [Completion("set_input_name", "method", ".set_input_name(name)")]
    return []


@dataclass(frozen=True)
class _Stage:
    name: str
    tasks: tuple[str, ...]
    values: tuple[Any, ...]


def _member(value: Any, part: str) -> Any:
    if isinstance(value, PipelineDef):
        for stage, _, entries in value.stages:
            if stage == part:
                values = tuple(_task_of(t) for t, _ in entries)
                return _Stage(stage, tuple(getattr(v, "id", None) or "?" for v in values), values)
    if isinstance(value, _Stage):
        for task in value.values:
            if getattr(task, "id", None) == part:
                return task
    if isinstance(value, ComponentDef):
        for step in value.steps:
            if step.id == part:
                return step
    return None


def _in_string(tokens: list[_Tok], prefix: str, analysis: Analysis | None) -> list[Completion]:
    string = tokens[-1]
    quote_len = 3 if string.text.startswith(('"""', "'''")) else 1
    start = _position_of(prefix, string.start + quote_len)
    body = tokens[:-1]
    opening = _innermost_open(body)
    if opening is None or analysis is None:
        return []
    last = body[-1]
    bracket = body[opening].text
    if bracket == "(":
        callee = _callee_before(body, opening)
        positional = last is body[opening]
        by_name = len(body) >= 2 and last.text == "=" and body[-2].text == "name"
        if callee in ITEM_CALLS and (positional or by_name):
            return [_replace(c, start) for c in _item_names(analysis)]
        return []
    if bracket == "{" and (last is body[opening] or last.text == ","):
        # a key of {...}: is it configure(params={...}) or configure(resources={...})?
        if opening >= 2 and body[opening - 1].text == "=" and body[opening - 2].kind == "name":
            which = body[opening - 2].text
            paren = _open_before(body, opening - 2)
            if paren is None or _callee_before(body, paren) != "configure" or paren < 2 or body[paren - 2].text != ".":
                return []
            used = _keys_written(body, opening)
            if which == "resources":
                return [Completion(k, "resource", RESOURCE_DOCS[k], start=start) for k in RESOURCE_KEYS if k not in used]
            if which == "params":
                target = _item_for_receiver(analysis, body, paren - 2)
                item = target.item if isinstance(target, TaskDef) else target
                if item is None:
                    return []
                return [
                    Completion(mv.name, "param", f"{mv.type} = {mv.value!r}" + (" (fixed)" if mv.fix else ""),
                               f"metaVariable of {item.ref.ref}", start=start)
                    for mv in item.header.meta_variables if mv.name not in used
                ]  # fmt: skip
    return []


def _keys_written(tokens: list[_Tok], opening: int) -> set[str]:
    """The string keys already written in the dict opened at ``opening`` (not in nested ones)."""
    keys, depth = set(), 0
    for i in range(opening + 1, len(tokens)):
        tok = tokens[i]
        if tok.kind == "op" and tok.text in "([{":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]}":
            depth -= 1
        elif depth == 0 and tok.kind == "string" and i + 1 < len(tokens) and tokens[i + 1].text == ":":
            keys.add(_unquote(tok.text))
    return keys


def _item_names(analysis: Analysis) -> list[Completion]:
    if analysis.catalog is None:
        return []
    found = []
    builtin_items = set(BUILTIN_ITEMS.values())
    for item in analysis.catalog.all(Reporter()):
        if item.ref.name in builtin_items:
            continue  # called as builtins (join(...), evaluate(...)), not as items
        doc = f"{item.ref.kind}, in {item.root}"
        found.append(Completion(item.ref.ref, "item", item.ref.kind, doc))
    return found
