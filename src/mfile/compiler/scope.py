"""Name resolution: which names are defined where, in the order an M-File runs.

An M-File runs top to bottom. A name is bound by an assignment (after its value is
evaluated) or by a ``reference="x"`` keyword argument (when that call is evaluated, so a
later stage of the same pipeline can use it, as the seed's ``join1`` does). Reports
undefined names (with did-you-mean), use before assignment, builtins hidden by an
assignment, and duplicate reference names.

``resolve`` returns nothing: lowering re-walks the AST and looks names up itself; this pass
only reports, so its result cannot drift from lowering's.
"""

from __future__ import annotations

import builtins as python

from mfile.compiler.builtins import BUILTIN_NAMES
from mfile.compiler.messages import DuplicateReference, RebindsBuiltin, UndefinedName, UsedBeforeAssignment
from mfile.diagnostics import Reporter, Span, did_you_mean
from mfile.mfile_grammar import ast
from mfile.mfile_grammar.syntax import NameTooLong

PYTHON_BUILTINS = frozenset(name for name in dir(python) if not name.startswith("_"))

MAX_NAME_LENGTH = 100  # names become file names (jobs/<id>.select.sbatch) and Slurm job names


def resolve(module: ast.Module, reporter: Reporter) -> None:
    _Resolver(module, reporter).run()


class _Resolver:
    def __init__(self, module: ast.Module, reporter: Reporter) -> None:
        self.module = module
        self.reporter = reporter
        self.bound: dict[str, Span] = {}
        self.references: dict[str, Span] = {}
        # Every name assigned anywhere, to tell "used before assignment" from "undefined".
        self.assigned_later: dict[str, Span] = {}
        for stmt in module.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    self.assigned_later.setdefault(target.id, target.span)
        for name, span in _reference_names(module):
            self.assigned_later.setdefault(name, span)

    def run(self) -> None:
        for stmt in self.module.body:
            if isinstance(stmt, ast.Assign):
                self.expr(stmt.value)
                for target in stmt.targets:
                    if len(target.id) > MAX_NAME_LENGTH:  # it may become a task id: a file name
                        self.reporter.report(NameTooLong, target.span, length=len(target.id), limit=MAX_NAME_LENGTH)
                    if target.id in BUILTIN_NAMES and target.id not in self.bound:
                        self.reporter.report(RebindsBuiltin, target.span, name=target.id)
                    self.bound[target.id] = target.span
            elif isinstance(stmt, ast.ExprStmt):
                self.expr(stmt.value)

    def expr(self, node: ast.Expr) -> None:
        # An explicit stack: expressions can nest deeply and recursion must not overflow.
        stack: list[tuple[str, object]] = [("visit", node)]
        while stack:
            action, item = stack.pop()
            if action == "bind":
                self.bind_reference(item)  # type: ignore[arg-type]
                continue
            node = item  # type: ignore[assignment]
            if isinstance(node, ast.Name):
                self.use(node)
            elif isinstance(node, ast.Attribute):
                stack.append(("visit", node.value))
            elif isinstance(node, ast.Call):
                # Evaluated left to right; a reference= binds after the call's arguments.
                ref = next((k for k in node.keywords if k.name == "reference"), None)
                if ref is not None:
                    stack.append(("bind", ref))
                children = [node.func, *node.args, *(k.value for k in node.keywords)]
                stack.extend(("visit", c) for c in reversed(children))
            elif isinstance(node, (ast.ListExpr, ast.TupleExpr)):
                stack.extend(("visit", e) for e in reversed(node.elts))
            elif isinstance(node, ast.DictExpr):
                for entry in reversed(node.entries):
                    stack.append(("visit", entry.value))
                    stack.append(("visit", entry.key))
            elif isinstance(node, ast.BinOp):
                stack.append(("visit", node.right))
                stack.append(("visit", node.left))
            elif isinstance(node, ast.UnaryOp):
                stack.append(("visit", node.operand))

    def use(self, name: ast.Name) -> None:
        if name.id in self.bound or name.id in BUILTIN_NAMES:
            return
        later = self.assigned_later.get(name.id)
        if later is not None:
            self.reporter.report(UsedBeforeAssignment, name.span, name=name.id, line=later.line)
            return
        known = set(self.bound) | set(BUILTIN_NAMES)
        extra = {}
        if name.id in PYTHON_BUILTINS:  # "assign it first" would not help: the user expects Python's
            extra["hint"] = (f"{name.id!r} is one of Python's builtins; an M-File has only mfile's "
                             "(MantikItem, MantikPipeline, HyperParameter, ...; docs/language.md): remove it")  # fmt: skip
        self.reporter.report(
            UndefinedName, name.span, name=name.id, suggestion=did_you_mean(name.id, known), **extra
        )

    def bind_reference(self, keyword: ast.Keyword) -> None:
        if not (isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str)):
            return  # lowering reports a non-string reference
        name = keyword.value.value
        first = self.references.get(name)
        if first is not None:
            self.reporter.report(DuplicateReference, keyword.value.span, name=name, line=first.line)
            return
        self.references[name] = keyword.value.span
        self.bound[name] = keyword.value.span


def _reference_names(module: ast.Module) -> list[tuple[str, Span]]:
    found: list[tuple[str, Span]] = []
    stack: list[object] = [s.value for s in module.body if isinstance(s, (ast.Assign, ast.ExprStmt))]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call):
            for k in node.keywords:
                if k.name == "reference" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str):
                    found.append((k.value.value, k.value.span))
            stack.extend([node.func, *node.args, *(k.value for k in node.keywords)])
        elif isinstance(node, ast.Attribute):
            stack.append(node.value)
        elif isinstance(node, (ast.ListExpr, ast.TupleExpr)):
            stack.extend(node.elts)
        elif isinstance(node, ast.DictExpr):
            stack.extend(e.key for e in node.entries)
            stack.extend(e.value for e in node.entries)
        elif isinstance(node, ast.BinOp):
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.UnaryOp):
            stack.append(node.operand)
    return found
