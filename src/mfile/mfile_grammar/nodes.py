"""Helpers over lark children and AST nodes that need no parser state.

``start_of``/``end_of`` find the position of a child that may be a token, an AST node, a
list or a lark Tree (the inside of a refused construct) without recursion; ``too_deep`` walks
an expression with an explicit stack; ``decode_string`` turns a string literal's body into
its value.
"""

from __future__ import annotations

import ast as python_ast
import warnings
from typing import Any

from lark import Token, Tree

from mfile.mfile_grammar import ast


def start_of(node: Any) -> tuple[int, int]:
    while True:
        if isinstance(node, Token):
            return node.line, node.column
        span = getattr(node, "span", None)
        if span is not None:
            return span.line, span.column
        children = node.children if isinstance(node, Tree) else node
        if not children:
            return 1, 1
        node = children[0]


def end_of(node: Any) -> tuple[int, int]:
    while True:
        if isinstance(node, Token):
            return node.end_line, node.end_column
        span = getattr(node, "span", None)
        if span is not None:
            return span.end_line, span.end_column
        children = node.children if isinstance(node, Tree) else node
        if not children:
            return 1, 1
        node = children[-1]


def _subexpressions(node: Any) -> tuple:
    """The sub-expressions of an AST expression (for the depth walk)."""
    kind = type(node)
    if kind is ast.BinOp:
        return (node.left, node.right)
    if kind is ast.Call:
        return (node.func, *node.args, *(k.value for k in node.keywords))
    if kind is ast.Attribute:
        return (node.value,)
    if kind is ast.UnaryOp:
        return (node.operand,)
    if kind is ast.ListExpr or kind is ast.TupleExpr:
        return node.elts
    if kind is ast.DictExpr:
        return tuple(x for e in node.entries for x in (e.key, e.value))
    if kind is ast.Assign or kind is ast.ExprStmt:
        return (node.value,)
    return ()


def too_deep(root: Any, limit: int) -> Any | None:
    """The first node found at depth ``limit`` below ``root`` (explicit stack), or None."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth >= limit:
            return node
        stack.extend((child, depth + 1) for child in _subexpressions(node))
    return None


def decode_string(prefix: str, body: str) -> tuple[str | None, str | None]:
    """``(value, None)``, or ``(None, reason)`` for an escape Python refuses.

    ``body`` is one well-formed literal with its quotes (the lexer saw to that), so
    ``literal_eval`` only decodes its escapes; it runs only when there is a backslash.
    """
    quote = 3 if body[:3] in ('"""', "'''") else 1
    inner = body[quote:-quote]
    if "\\" not in inner or "r" in prefix:
        return inner, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return python_ast.literal_eval(body), None
    except (SyntaxError, ValueError) as exc:
        reason = getattr(exc, "msg", None) or str(exc)
        return None, reason.rsplit(": ", 1)[-1]
