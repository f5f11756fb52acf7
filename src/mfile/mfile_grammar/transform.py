"""lark parse tree → M-File AST, reporting every refused construct on the way.

The transformer is non-recursive (a 10,000-term ``1+1+...`` must not hit Python's recursion
limit) and tracks the depth of what it builds: an expression deeper than MAX_EXPR_DEPTH is
replaced by a ``Rejected`` node, so the passes after the parser, which do recurse, never
see a tree deeper than that.

Problems are not reported at once but kept in ``pending``: the tree is built bottom-up, and
when a refused construct encloses other refused constructs (``def f(): import x``) only the
outermost one is reported. Post-order makes this cheap: everything reported inside a node
since its first token sits at the tail of ``pending`` when the node itself is finished.
"""

from __future__ import annotations

import ast as python_ast
import warnings
from typing import Any

from lark import Token, Transformer_NonRecursive, Tree, v_args

from mfile.diagnostics import Reporter, Span
from mfile.mfile_grammar import ast, syntax

MAX_EXPR_DEPTH = 200
MAX_PROBLEMS = 500
MAX_INT_DIGITS = 4300  # CPython's int/str conversion limit

_COMPREHENSIONS = {
    "listcomp": "list comprehensions",
    "setcomp": "set comprehensions",
    "dictcomp": "dict comprehensions",
    "genexp": "generator expressions",
    "genexp_argument": "generator expressions",
}
_STATEMENTS = {  # rule -> (diagnostic, keyword it starts with, construct name)
    "funcdef": (syntax.FunctionDef, "def", "def"),
    "classdef": (syntax.ClassDef, "class", "class"),
    "if_stmt": (syntax.IfStatement, "if", "if"),
    "for_stmt": (syntax.Loop, "for", "for"),
    "while_stmt": (syntax.Loop, "while", "while"),
    "with_stmt": (syntax.WithStatement, "with", "with"),
    "try_stmt": (syntax.TryStatement, "try", "try"),
    "async_stmt": (syntax.Async, "async", "async"),
    "return_stmt": (syntax.Return, "return", "return"),
    "raise_stmt": (syntax.Raise, "raise", "raise"),
    "yield_stmt": (syntax.Yield, "yield", "yield"),
    "global_stmt": (syntax.GlobalStatement, "global", "global"),
    "nonlocal_stmt": (syntax.GlobalStatement, "nonlocal", "nonlocal"),
    "del_stmt": (syntax.Delete, "del", "del"),
    "assert_stmt": (syntax.Assert, "assert", "assert"),
    "pass_stmt": (syntax.ControlStatement, "pass", "pass"),
    "break_stmt": (syntax.ControlStatement, "break", "break"),
    "continue_stmt": (syntax.ControlStatement, "continue", "continue"),
}
_TARGET_WHAT = {
    ast.Attribute: "an attribute",
    ast.Call: "a function call",
    ast.Constant: "a literal",
    ast.DictExpr: "a dict",
    ast.BinOp: "an expression",
    ast.UnaryOp: "an expression",
    ast.TupleExpr: "a nested tuple",
    ast.ListExpr: "a nested list",
}


class _Args(list):
    """The transformed ``arguments`` of a call (positional, Keyword and Rejected mixed)."""


@v_args(meta=True)
class ToAst(Transformer_NonRecursive):
    __visit_tokens__ = False

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file
        self.pending: list[tuple[tuple[int, int], Span, type, dict[str, Any]]] = []
        self.dropped: Span | None = None

    # ------------------------------------------------------------------ driving

    def transform(self, tree: Tree) -> Any:
        """Transformer_NonRecursive.transform, plus the depth of every node it builds."""
        rev_postfix: list[Any] = []
        queue: list[Any] = [tree]
        while queue:
            node = queue.pop()
            rev_postfix.append(node)
            if isinstance(node, Tree):
                queue += node.children
        stack: list[Any] = []
        depths: list[int] = []
        for node in reversed(rev_postfix):
            if isinstance(node, Tree):
                size = len(node.children)
                if size:
                    args = stack[-size:]
                    del stack[-size:]
                    depth = 1 + max(depths[-size:])
                    del depths[-size:]
                else:
                    args, depth = [], 1
                if depth > MAX_EXPR_DEPTH:
                    span = self._span(node.meta)
                    self._reject(syntax.ExpressionTooDeep, span, span, limit=MAX_EXPR_DEPTH)
                    stack.append(ast.Rejected(span, "expression too deep"))
                    depths.append(1)
                    continue
                stack.append(self._call_userfunc(node, args))
                depths.append(depth)
            else:
                stack.append(node)
                depths.append(0)
        (result,) = stack
        return result

    def report_into(self, reporter: Reporter) -> None:
        for _, span, kind, args in sorted(self.pending, key=lambda p: (p[0], p[1])):
            reporter.report(kind, span, **args)
        if self.dropped is not None:
            reporter.report(syntax.TooManyProblems, self.dropped, limit=MAX_PROBLEMS)

    # ------------------------------------------------------------------ helpers

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span.point(self.file)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def _kspan(self, meta: Any, keyword: str) -> Span:
        return Span(self.file, meta.line, meta.column, meta.line, meta.column + len(keyword))

    def _reject(self, diagnostic: type, where: Span, cover: Span, **args: Any) -> None:
        """Keep a problem; drop the ones already kept inside ``cover`` (they are nested)."""
        pending = self.pending
        start, end = (cover.line, cover.column), (cover.end_line, cover.end_column)
        while pending and start <= pending[-1][0] < end:
            pending.pop()
        if len(pending) >= MAX_PROBLEMS:
            if self.dropped is None:
                self.dropped = where
            return
        pending.append(((where.line, where.column), where, diagnostic, args))

    def _rejected(self, diagnostic: type, meta: Any, construct: str, where: Span | None = None,
                 **args: Any) -> ast.Rejected:
        span = self._span(meta)
        self._reject(diagnostic, where or span, span, **args)
        return ast.Rejected(span, construct)

    # ------------------------------------------------------------------ module and statements

    def file_input(self, meta: Any, children: list) -> list:
        body: list = []
        for child in children:
            if isinstance(child, list):  # statements joined by ';'
                body.extend(child)
            else:
                body.append(child)
        return body

    def semicolons(self, meta: Any, children: list) -> list:
        semis = [c for c in children if isinstance(c, Token)]
        first = self._tspan(semis[0])
        self._reject(syntax.Semicolon, first, first)
        return [c for c in children if not isinstance(c, Token)]

    def expr_stmt(self, meta: Any, children: list) -> ast.ExprStmt:
        return ast.ExprStmt(self._span(meta), children[0])

    def assign(self, meta: Any, children: list) -> ast.Assign | ast.RejectedStmt:
        span = self._span(meta)
        *targets, value = children
        if len(targets) > 1:
            where = getattr(targets[1], "span", span)
            self._reject(syntax.ChainedAssign, where, span)
            return ast.RejectedStmt(span, "chained assignment")
        target = targets[0]
        if isinstance(target, ast.Name):
            return ast.Assign(span, (target,), value)
        if isinstance(target, (ast.TupleExpr, ast.ListExpr)):
            elts = target.elts
            if all(isinstance(e, ast.Name) for e in elts):
                return ast.Assign(span, elts, value, unpack=True)
            bad = [e for e in elts if not isinstance(e, ast.Name)]
            if not any(isinstance(e, ast.Rejected) for e in bad):
                what = _TARGET_WHAT.get(type(bad[0]), "an expression")
                self._reject(syntax.InvalidAssignTarget, bad[0].span, span, what=what)
            return ast.RejectedStmt(span, "assignment")
        if not isinstance(target, ast.Rejected):  # a Rejected one was reported already
            what = _TARGET_WHAT.get(type(target), "an expression")
            if what.startswith("a nested"):
                what = "a " + what[len("a nested "):]
            self._reject(syntax.InvalidAssignTarget, target.span, span, what=what)
        return ast.RejectedStmt(span, "assignment")

    def augassign(self, meta: Any, children: list) -> ast.RejectedStmt:
        span, op = self._span(meta), children[1]
        self._reject(syntax.AugmentedAssign, self._tspan(op), span, op=str(op))
        return ast.RejectedStmt(span, "augmented assignment")

    def annassign(self, meta: Any, children: list) -> ast.RejectedStmt:
        span = self._span(meta)
        annotation = children[1]
        self._reject(syntax.AnnotatedAssign, getattr(annotation, "span", span), span)
        return ast.RejectedStmt(span, "annotated assignment")

    def import_stmt(self, meta: Any, children: list) -> ast.RejectedStmt:
        first = children[0]
        keyword = "import" if isinstance(first, Tree) and first.data == "dotted_as_names" else "from"
        span = self._span(meta)
        self._reject(syntax.Import, self._kspan(meta, keyword), span, keyword=keyword)
        return ast.RejectedStmt(span, "import")

    def decorated(self, meta: Any, children: list) -> ast.RejectedStmt:
        construct = children[-1].construct if isinstance(children[-1], ast.RejectedStmt) else "def"
        return ast.RejectedStmt(self._span(meta), construct)

    def decorator(self, meta: Any, children: list) -> None:
        span = self._span(meta)
        where = Span(self.file, span.line, span.column, span.line, span.column + 1)
        self._reject(syntax.Decorator, where, Span(self.file, span.line, span.column,
                                                  span.line, 10**9))

    def __default__(self, data: str, children: list, meta: Any) -> Any:
        entry = _STATEMENTS.get(data)
        if entry is not None:
            kind, keyword, construct = entry
            span = self._span(meta)
            self._reject(kind, self._kspan(meta, keyword), span, keyword=keyword)
            return ast.RejectedStmt(span, construct)
        return Tree(data, children, meta)  # the inside of a refused construct

    # ------------------------------------------------------------------ atoms

    def var(self, meta: Any, children: list) -> ast.Name | ast.Rejected:
        tok = children[0]
        name = str(tok)
        if not name.isascii():
            return self._rejected(syntax.NonAsciiName, meta, "non-ASCII name", name=name)
        return ast.Name(self._span(meta), name)

    def number(self, meta: Any, children: list) -> ast.Constant | ast.Rejected:
        text = str(children[0])
        span = self._span(meta)
        if text[-1] in "jJ":
            return self._rejected(syntax.ComplexNumber, meta, "complex number", text=text)
        if any(c in text for c in ".eE") and not text[:2].lower() == "0x":
            return ast.Constant(span, float(text))
        digits = text.replace("_", "")
        if len(digits) > MAX_INT_DIGITS and digits[:2].lower() not in ("0x", "0o", "0b"):
            return self._rejected(syntax.NumberTooLong, meta, "number", digits=len(digits),
                                 limit=MAX_INT_DIGITS)
        try:
            return ast.Constant(span, int(text, 0))
        except ValueError:
            return self._rejected(syntax.InvalidNumber, meta, "number", text=text,
                                 reason="leading zeros in a decimal integer")

    def strings(self, meta: Any, children: list) -> ast.Constant | ast.Rejected:
        parts: list[str] = []
        problem = None
        for tok in children:
            text = str(tok)
            quote_at = min(i for i in (text.find('"'), text.find("'")) if i >= 0)
            prefix, body = text[:quote_at], text[quote_at:]
            lower = prefix.lower()
            if "f" in lower:
                problem = problem or (syntax.FString, tok, {})
            elif lower not in ("", "r", "u"):
                problem = problem or (syntax.StringPrefix, tok, {"prefix": prefix})
            elif problem is None:
                value = self._decode(prefix, body, tok)
                if value is None:
                    problem = (None, tok, {})
                else:
                    parts.append(value)
        if problem is not None:
            kind, tok, args = problem
            if kind is None:  # escape error, reported by _decode
                return ast.Rejected(self._span(meta), "string")
            return self._rejected(kind, meta, "string", where=self._tspan(tok), **args)
        return ast.Constant(self._span(meta), "".join(parts))

    def _decode(self, prefix: str, body: str, tok: Token) -> str | None:
        quote = 3 if body[:3] in ('"""', "'''") else 1
        inner = body[quote:-quote]
        if "\\" not in inner or "r" in prefix.lower():
            return inner
        try:  # the token is one well-formed literal, so literal_eval only decodes escapes
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return python_ast.literal_eval(body)
        except (SyntaxError, ValueError) as exc:
            span = self._tspan(tok)
            reason = getattr(exc, "msg", None) or str(exc)
            self._reject(syntax.InvalidEscape, span, span, reason=reason.rsplit(": ", 1)[-1])
            return None

    def const_none(self, meta: Any, children: list) -> ast.Constant:
        return ast.Constant(self._span(meta), None)

    def const_true(self, meta: Any, children: list) -> ast.Constant:
        return ast.Constant(self._span(meta), True)

    def const_false(self, meta: Any, children: list) -> ast.Constant:
        return ast.Constant(self._span(meta), False)

    def ellipsis(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.EllipsisLiteral, meta, "ellipsis")

    def tuple(self, meta: Any, children: list) -> ast.TupleExpr:
        return ast.TupleExpr(self._span(meta), tuple(children))

    def list(self, meta: Any, children: list) -> ast.ListExpr:
        return ast.ListExpr(self._span(meta), tuple(children))

    def set(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.SetLiteral, meta, "set")

    def dict(self, meta: Any, children: list) -> ast.DictExpr | ast.Rejected:
        if any(isinstance(c, ast.Rejected) for c in children):  # {**d}: reported already
            return ast.Rejected(self._span(meta), "dict")
        return ast.DictExpr(self._span(meta), tuple(children))

    def key_value(self, meta: Any, children: list) -> ast.DictEntry:
        return ast.DictEntry(self._span(meta), children[0], children[1])

    def dict_unpack(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.Starred, meta, "unpacking", star="**")

    def star_expr(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.Starred, meta, "unpacking", star="*")

    def stararg(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.Starred, meta, "unpacking", star=str(children[0]))

    def _comprehension(self, meta: Any, children: list, data: str) -> ast.Rejected:
        return self._rejected(syntax.Comprehension, meta, "comprehension", what=_COMPREHENSIONS[data])

    def listcomp(self, meta: Any, children: list) -> ast.Rejected:
        return self._comprehension(meta, children, "listcomp")

    def setcomp(self, meta: Any, children: list) -> ast.Rejected:
        return self._comprehension(meta, children, "setcomp")

    def dictcomp(self, meta: Any, children: list) -> ast.Rejected:
        return self._comprehension(meta, children, "dictcomp")

    def genexp(self, meta: Any, children: list) -> ast.Rejected:
        return self._comprehension(meta, children, "genexp")

    def genexp_argument(self, meta: Any, children: list) -> _Args:
        return _Args([self._comprehension(meta, children, "genexp")])

    # ------------------------------------------------------------------ trailers and operators

    def getattr(self, meta: Any, children: list) -> ast.Attribute | ast.Rejected:
        value, tok = children
        if not str(tok).isascii():
            return self._rejected(syntax.NonAsciiName, meta, "non-ASCII name", name=str(tok),
                                 where=self._tspan(tok))
        return ast.Attribute(self._span(meta), value, str(tok), self._tspan(tok))

    def subscript(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.Subscript, meta, "subscript", where=self._tspan(children[1]))

    def arguments(self, meta: Any, children: list) -> _Args:
        return _Args(children)

    def kwarg(self, meta: Any, children: list) -> ast.Keyword | ast.Rejected:
        tok, value = children
        if not str(tok).isascii():
            return self._rejected(syntax.NonAsciiName, meta, "non-ASCII name", name=str(tok),
                                 where=self._tspan(tok))
        return ast.Keyword(self._span(meta), str(tok), self._tspan(tok), value)

    def call(self, meta: Any, children: list) -> ast.Call:
        func = children[0]
        args: list = []
        keywords: list[ast.Keyword] = []
        seen: set[str] = set()
        span = self._span(meta)
        for arg in children[1] if len(children) > 1 else ():
            if isinstance(arg, ast.Keyword):
                if arg.name in seen:
                    self._reject(syntax.DuplicateKeyword, arg.name_span, arg.name_span, name=arg.name)
                seen.add(arg.name)
                keywords.append(arg)
            else:
                if keywords and not isinstance(arg, ast.Rejected):
                    self._reject(syntax.PositionalAfterKeyword, arg.span, arg.span)
                args.append(arg)
        return ast.Call(span, func, tuple(args), tuple(keywords))

    def binop(self, meta: Any, children: list) -> ast.BinOp | ast.Rejected:
        left, op, right = children
        if op == "@":
            return self._rejected(syntax.BitwiseOperator, meta, "operator", op="@",
                                 where=self._tspan(op))
        return ast.BinOp(self._span(meta), str(op), left, right)

    def power(self, meta: Any, children: list) -> ast.BinOp:
        return ast.BinOp(self._span(meta), "**", children[0], children[1])

    def unary(self, meta: Any, children: list) -> ast.UnaryOp:
        return ast.UnaryOp(self._span(meta), str(children[0]), children[1])

    def _operator(self, kind: type, meta: Any, tok: Token, op: str) -> ast.Rejected:
        return self._rejected(kind, meta, "operator", op=op, where=self._tspan(tok))

    def invert(self, meta: Any, children: list) -> ast.Rejected:
        return self._operator(syntax.BitwiseOperator, meta, children[0], "~")

    def bitop(self, meta: Any, children: list) -> ast.Rejected:
        return self._operator(syntax.BitwiseOperator, meta, children[1], str(children[1]))

    def boolop(self, meta: Any, children: list) -> ast.Rejected:
        return self._operator(syntax.BooleanOperator, meta, children[1], str(children[1]))

    def not_op(self, meta: Any, children: list) -> ast.Rejected:
        return self._operator(syntax.BooleanOperator, meta, children[0], "not")

    def comp_op(self, meta: Any, children: list) -> list:
        return children

    def comparison(self, meta: Any, children: list) -> ast.Rejected:
        toks = children[1]
        return self._operator(syntax.Comparison, meta, toks[0], " ".join(map(str, toks)))

    def ternary(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.ConditionalExpression, meta, "conditional expression")

    def lambdef(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.Lambda, meta, "lambda",
                             where=self._kspan(meta, "lambda"))

    def walrus(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.Walrus, meta, "assignment expression")

    def await_expr(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.Async, meta, "await", where=self._tspan(children[0]),
                              keyword="await")

    def yield_expr(self, meta: Any, children: list) -> ast.Rejected:
        return self._rejected(syntax.Yield, meta, "yield", where=self._kspan(meta, "yield"))
