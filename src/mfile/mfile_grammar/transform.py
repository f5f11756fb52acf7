"""lark reductions → M-File AST, reporting every refused construct on the way.

``ToAst`` is a lark Transformer run *inside* the LALR parser (``Lark(transformer=...)``): each
reduction calls its method with the children, so no parse tree is built and nothing recurses
(a 10,000-term ``1+1+...`` is 10,000 iterative reductions). Positions come from the children:
tokens carry theirs, AST nodes their span; brackets and statement keywords are named terminals
in the grammar so that they are among the children. nodes.py has the helpers that
do not need the transformer's state (positions of children, string escapes, the depth walk).

Problems are not reported at once but kept in ``pending``: the tree is built bottom-up, and
when a refused construct encloses other refused constructs (``def f(): import x``) only the
outermost one is reported. Post-order makes this cheap: everything reported inside a node
since its first token sits at the tail of ``pending`` when the node itself is finished.
"""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer, Tree

from mfile.diagnostics import Reporter, Span
from mfile.mfile_grammar import ast, syntax
from mfile.mfile_grammar.nodes import decode_string, end_of, start_of

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


class ToAst(Transformer):
    """Callbacks for the LALR parser; one instance per parser, ``reset`` before each parse."""

    __visit_tokens__ = False

    def __init__(self) -> None:
        super().__init__()
        self.reset("<string>")

    def reset(self, file: str) -> None:
        self.file = file
        self.pending: list[tuple[tuple[int, int], Span, type, dict[str, Any]]] = []
        self.dropped: Span | None = None

    def report_into(self, reporter: Reporter) -> None:
        for _, span, kind, args in sorted(self.pending, key=lambda p: (p[0], p[1])):
            reporter.report(kind, span, **args)
        if self.dropped is not None:
            reporter.report(syntax.TooManyProblems, self.dropped, limit=MAX_PROBLEMS)

    # ------------------------------------------------------------------ helpers

    def _span(self, first: Any, last: Any) -> Span:
        if isinstance(first, Token):
            line, column = first.line, first.column
        elif isinstance(first, (Tree, list)):
            line, column = start_of(first)
        else:
            line, column = first.span.line, first.span.column
        if isinstance(last, Token):
            end_line, end_column = last.end_line, last.end_column
        elif isinstance(last, (Tree, list)):
            end_line, end_column = end_of(last)
        else:
            end_line, end_column = last.span.end_line, last.span.end_column
        return Span(self.file, line, column, end_line, end_column)

    def _whole(self, children: list) -> Span:
        return self._span(children[0], children[-1])

    def _tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

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

    def _rejected(self, diagnostic: type, children: list, construct: str,
                  where: Span | None = None, **args: Any) -> ast.Rejected:
        span = self._whole(children)
        self._reject(diagnostic, where or span, span, **args)
        return ast.Rejected(span, construct)

    # ------------------------------------------------------------------ module and statements

    def file_input(self, children: list) -> list:
        body: list = []
        for child in children:
            if isinstance(child, list):  # statements joined by ';'
                body.extend(child)
            else:
                body.append(child)
        return body

    def semicolons(self, children: list) -> list:
        semis = [c for c in children if isinstance(c, Token)]
        first = self._tspan(semis[0])
        self._reject(syntax.Semicolon, first, first)
        return [c for c in children if not isinstance(c, Token)]

    def expr_stmt(self, children: list) -> ast.ExprStmt:
        value = children[0]
        return ast.ExprStmt(value.span, value)

    def assign(self, children: list) -> ast.Assign | ast.RejectedStmt:
        span = self._whole(children)
        *targets, value = children
        if len(targets) > 1:
            self._reject(syntax.ChainedAssign, targets[1].span, span)
            return ast.RejectedStmt(span, "chained assignment")
        target = targets[0]
        if type(target) is ast.Name:
            return ast.Assign(span, (target,), value)
        if isinstance(target, (ast.TupleExpr, ast.ListExpr)):
            elts = target.elts
            bad = [e for e in elts if type(e) is not ast.Name]
            if not bad:
                return ast.Assign(span, elts, value, unpack=True)
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

    def augassign(self, children: list) -> ast.RejectedStmt:
        span, op = self._whole(children), children[1]
        self._reject(syntax.AugmentedAssign, self._tspan(op), span, op=str(op))
        return ast.RejectedStmt(span, "augmented assignment")

    def annassign(self, children: list) -> ast.RejectedStmt:
        span = self._whole(children)
        annotation = children[1]
        self._reject(syntax.AnnotatedAssign, self._span(annotation, annotation), span)
        return ast.RejectedStmt(span, "annotated assignment")

    def import_stmt(self, children: list) -> ast.RejectedStmt:
        keyword = children[0]
        span = self._whole(children)
        self._reject(syntax.Import, self._tspan(keyword), span, keyword=str(keyword))
        return ast.RejectedStmt(span, "import")

    def decorated(self, children: list) -> ast.RejectedStmt:
        last = children[-1]
        construct = last.construct if isinstance(last, ast.RejectedStmt) else "def"
        return ast.RejectedStmt(self._whole(children), construct)

    def decorator(self, children: list) -> Token:
        at = self._tspan(children[0])
        line_end = Span(self.file, at.line, at.column, at.line, 10**9)
        self._reject(syntax.Decorator, at, line_end)
        return children[0]

    def __default__(self, data: str, children: list, meta: Any) -> Any:
        entry = _STATEMENTS.get(data)
        if entry is not None:
            kind, keyword, construct = entry
            span = self._whole(children)
            first = children[0]  # the keyword, or the yield expression of a yield statement
            self._reject(kind, self._span(first, first), span, keyword=keyword)
            return ast.RejectedStmt(span, construct)
        return Tree(data, children)  # the inside of a refused construct

    # ------------------------------------------------------------------ atoms

    def var(self, children: list) -> ast.Name | ast.Rejected:
        tok = children[0]
        name = str(tok)
        if not name.isascii():
            return self._rejected(syntax.NonAsciiName, children, "non-ASCII name", name=name)
        return ast.Name(Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column), name)

    def number(self, children: list) -> ast.Constant | ast.Rejected:
        tok = children[0]
        text = str(tok)
        span = self._tspan(tok)
        if text[-1] in "jJ":
            return self._rejected(syntax.ComplexNumber, children, "complex number", text=text)
        lower = text[:2].lower()
        if lower not in ("0x", "0o", "0b") and any(c in text for c in ".eE"):
            return ast.Constant(span, float(text))
        digits = text.replace("_", "")
        if len(digits) > MAX_INT_DIGITS and lower not in ("0x", "0o", "0b"):
            return self._rejected(syntax.NumberTooLong, children, "number", digits=len(digits),
                                  limit=MAX_INT_DIGITS)
        try:
            return ast.Constant(span, int(text, 0))
        except ValueError:
            return self._rejected(syntax.InvalidNumber, children, "number", text=text,
                                  reason="leading zeros in a decimal integer")

    def strings(self, children: list) -> ast.Constant | ast.Rejected:
        parts: list[str] = []
        problem = None
        for tok in children:
            text = str(tok)
            if text[0] in "'\"":
                prefix, body = "", text
            else:
                quote_at = min(i for i in (text.find('"'), text.find("'")) if i >= 0)
                prefix, body = text[:quote_at].lower(), text[quote_at:]
            if "f" in prefix:
                problem = problem or (syntax.FString, tok, {})
            elif prefix not in ("", "r", "u"):
                problem = problem or (syntax.StringPrefix, tok, {"prefix": text[: len(prefix)]})
            elif problem is None:
                value = self._decode(prefix, body, tok)
                if value is None:
                    problem = (None, tok, {})
                else:
                    parts.append(value)
        if problem is not None:
            kind, tok, args = problem
            if kind is None:  # escape error, reported by _decode
                return ast.Rejected(self._whole(children), "string")
            return self._rejected(kind, children, "string", where=self._tspan(tok), **args)
        return ast.Constant(self._whole(children), "".join(parts))

    def _decode(self, prefix: str, body: str, tok: Token) -> str | None:
        value, error = decode_string(prefix, body)
        if error is not None:
            span = self._tspan(tok)
            self._reject(syntax.InvalidEscape, span, span, reason=error)
        return value

    def const_none(self, children: list) -> ast.Constant:
        return ast.Constant(self._tspan(children[0]), None)

    def const_true(self, children: list) -> ast.Constant:
        return ast.Constant(self._tspan(children[0]), True)

    def const_false(self, children: list) -> ast.Constant:
        return ast.Constant(self._tspan(children[0]), False)

    def ellipsis(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.EllipsisLiteral, children, "ellipsis")

    def tuple(self, children: list) -> ast.TupleExpr:
        elts = tuple(c for c in children if not isinstance(c, Token))
        return ast.TupleExpr(self._whole(children), elts)

    def list(self, children: list) -> ast.ListExpr:
        return ast.ListExpr(self._whole(children), tuple(children[1:-1]))

    def set(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.SetLiteral, children, "set")

    def dict(self, children: list) -> ast.DictExpr | ast.Rejected:
        entries = children[1:-1]
        if any(isinstance(c, ast.Rejected) for c in entries):  # {**d}: reported already
            return ast.Rejected(self._whole(children), "dict")
        return ast.DictExpr(self._whole(children), tuple(entries))

    def key_value(self, children: list) -> ast.DictEntry:
        key, value = children
        return ast.DictEntry(self._span(key, value), key, value)

    def dict_unpack(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.Starred, children, "unpacking", star="**")

    def star_expr(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.Starred, children, "unpacking", star="*")

    def stararg(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.Starred, children, "unpacking", star=str(children[0]))

    def _comprehension(self, children: list, data: str) -> ast.Rejected:
        return self._rejected(syntax.Comprehension, children, "comprehension",
                              what=_COMPREHENSIONS[data])

    def listcomp(self, children: list) -> ast.Rejected:
        return self._comprehension(children, "listcomp")

    def setcomp(self, children: list) -> ast.Rejected:
        return self._comprehension(children, "setcomp")

    def dictcomp(self, children: list) -> ast.Rejected:
        return self._comprehension(children, "dictcomp")

    def genexp(self, children: list) -> ast.Rejected:
        return self._comprehension(children, "genexp")

    def genexp_argument(self, children: list) -> _Args:
        return _Args([self._comprehension(children, "genexp")])

    # ------------------------------------------------------------------ trailers and operators

    def getattr(self, children: list) -> ast.Attribute | ast.Rejected:
        value, tok = children
        if not str(tok).isascii():
            return self._rejected(syntax.NonAsciiName, children, "non-ASCII name", name=str(tok),
                                  where=self._tspan(tok))
        return ast.Attribute(self._span(value, tok), value, str(tok), self._tspan(tok))

    def subscript(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.Subscript, children, "subscript",
                              where=self._tspan(children[1]))

    def arguments(self, children: list) -> _Args:
        return _Args(children)

    def kwarg(self, children: list) -> ast.Keyword | ast.Rejected:
        tok, value = children
        if not str(tok).isascii():
            return self._rejected(syntax.NonAsciiName, children, "non-ASCII name", name=str(tok),
                                  where=self._tspan(tok))
        return ast.Keyword(self._span(tok, value), str(tok), self._tspan(tok), value)

    def call(self, children: list) -> ast.Call | ast.Rejected:
        func = children[0]
        args: list = []
        keywords: list[ast.Keyword] = []
        bad = False  # a call Python itself refuses becomes Rejected: no follow-up errors
        if len(children) == 4:
            seen: set[str] = set()
            for arg in children[2]:
                if type(arg) is ast.Keyword:
                    if arg.name in seen:
                        self._reject(syntax.DuplicateKeyword, arg.name_span, arg.name_span,
                                     name=arg.name)
                        bad = True
                    seen.add(arg.name)
                    keywords.append(arg)
                else:
                    if keywords and not isinstance(arg, ast.Rejected):
                        self._reject(syntax.PositionalAfterKeyword, arg.span, arg.span)
                        bad = True
                    args.append(arg)
        span = self._span(func, children[-1])
        if bad:
            return ast.Rejected(span, "call")
        return ast.Call(span, func, tuple(args), tuple(keywords))

    def binop(self, children: list) -> ast.BinOp | ast.Rejected:
        left, op, right = children
        if op == "@":
            return self._rejected(syntax.BitwiseOperator, children, "operator", op="@",
                                  where=self._tspan(op))
        return ast.BinOp(self._span(left, right), str(op), left, right)

    def power(self, children: list) -> ast.BinOp:
        left, _, right = children
        return ast.BinOp(self._span(left, right), "**", left, right)

    def unary(self, children: list) -> ast.UnaryOp:
        op, operand = children
        return ast.UnaryOp(self._span(op, operand), str(op), operand)

    def _operator(self, kind: type, children: list, tok: Token, op: str) -> ast.Rejected:
        return self._rejected(kind, children, "operator", op=op, where=self._tspan(tok))

    def invert(self, children: list) -> ast.Rejected:
        return self._operator(syntax.BitwiseOperator, children, children[0], "~")

    def refused_ops(self, children: list) -> ast.Rejected:
        """``a < b and c | d``: reported at the first operator, by its kind."""
        op = children[1]
        if isinstance(op, list):  # a comparison operator, e.g. ["is", "not"]
            return self._operator(syntax.Comparison, children, op[0], " ".join(map(str, op)))
        if op.type == "BITOP":
            return self._operator(syntax.BitwiseOperator, children, op, str(op))
        return self._operator(syntax.BooleanOperator, children, op, str(op))

    def not_op(self, children: list) -> ast.Rejected:
        return self._operator(syntax.BooleanOperator, children, children[0], "not")

    def comp_op(self, children: list) -> list:
        return children

    def ternary(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.ConditionalExpression, children, "conditional expression")

    def lambdef(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.Lambda, children, "lambda", where=self._tspan(children[0]))

    def walrus(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.Walrus, children, "assignment expression")

    def await_expr(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.Async, children, "await", where=self._tspan(children[0]),
                              keyword="await")

    def yield_expr(self, children: list) -> ast.Rejected:
        return self._rejected(syntax.Yield, children, "yield", where=self._tspan(children[0]))
