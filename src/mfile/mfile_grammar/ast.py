"""The M-File AST: frozen dataclasses, every node with the span it came from.

The parser (``parser.py``) builds these from lark's tree; name resolution and lowering
(``compiler/``) read them. Constructs that M-Files refuse (``def``, ``for``, lambdas, ...)
are reported by the parser and kept in the tree as ``Rejected`` nodes so that checking can
continue past them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from mfile.diagnostics import Span


@dataclass(frozen=True, slots=True)
class Name:
    span: Span
    id: str


@dataclass(frozen=True, slots=True)
class Constant:
    """str (incl. triple-quoted and implicitly concatenated), int, float, True/False/None."""

    span: Span
    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class ListExpr:
    span: Span
    elts: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class TupleExpr:
    span: Span
    elts: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class DictEntry:
    span: Span
    key: "Expr"
    value: "Expr"


@dataclass(frozen=True, slots=True)
class DictExpr:
    span: Span
    entries: tuple[DictEntry, ...]


@dataclass(frozen=True, slots=True)
class Attribute:
    """``value.attr``; ``attr_span`` covers just the attribute name."""

    span: Span
    value: "Expr"
    attr: str
    attr_span: Span


@dataclass(frozen=True, slots=True)
class Keyword:
    """``name=value`` in a call; ``name_span`` covers just the name."""

    span: Span
    name: str
    name_span: Span
    value: "Expr"


@dataclass(frozen=True, slots=True)
class Call:
    span: Span
    func: "Expr"
    args: tuple["Expr", ...]
    keywords: tuple[Keyword, ...]


@dataclass(frozen=True, slots=True)
class BinOp:
    """Arithmetic on constants: op is one of + - * / // % **."""

    span: Span
    op: str
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True, slots=True)
class UnaryOp:
    """op is ``-`` or ``+``."""

    span: Span
    op: str
    operand: "Expr"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A construct the parser refused and already reported (``construct`` names it)."""

    span: Span
    construct: str


Expr = Union[
    Name, Constant, ListExpr, TupleExpr, DictExpr, Attribute, Call, BinOp, UnaryOp, Rejected
]


@dataclass(frozen=True, slots=True)
class Assign:
    """``a = value`` or ``a, b = value`` (then ``unpack`` is True; targets are plain names)."""

    span: Span
    targets: tuple[Name, ...]
    value: Expr
    unpack: bool = False


@dataclass(frozen=True, slots=True)
class ExprStmt:
    span: Span
    value: Expr


@dataclass(frozen=True, slots=True)
class RejectedStmt:
    """A statement the parser refused and already reported (``def``, ``import``, ``for`` ...)."""

    span: Span
    construct: str


Stmt = Union[Assign, ExprStmt, RejectedStmt]


@dataclass(frozen=True, slots=True)
class Module:
    span: Span
    body: tuple[Stmt, ...]
    docstring: Constant | None = None
