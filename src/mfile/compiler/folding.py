"""Literal values in an M-File: lists and dicts that keep their spans, constant arithmetic.

Parameters travel to items as plain data, so lists and dicts are evaluated into
:class:`ListLit` / :class:`DictLit` (which remember where each element was written, for
diagnostics) and turned into plain Python data with :func:`to_data`.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

from mfile.diagnostics import Span

# Bounds that keep constant folding cheap on hostile input (docs/security.md).
MAX_EXPONENT = 1024
# Integers stay within float range: repeated squaring (`b = a * a`, `c = b ** 64`) would
# otherwise double an integer's size per line and take minutes and gigabytes by line 30.
MAX_INT_BITS = 1024


@dataclass(frozen=True)
class ListLit:
    span: Span
    items: tuple[tuple[Any, Span], ...]
    is_tuple: bool = False


@dataclass(frozen=True)
class DictLit:
    span: Span
    entries: tuple[tuple[Any, Span, Any, Span], ...]  # key, key span, value, value span

    def get(self, key: str) -> tuple[Any, Span] | None:
        for k, _, v, vspan in self.entries:
            if k == key:
                return v, vspan
        return None


class NotData(Exception):
    """Raised by :func:`to_data` with the offending value and its span."""

    def __init__(self, value: Any, span: Span) -> None:
        super().__init__(value)
        self.value, self.span = value, span


def to_data(value: Any, span: Span, allow: Callable[[Any], bool] = lambda v: False) -> Any:
    """Plain JSON-able data from a literal; ``allow`` admits extra leaf values (placeholders)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, ListLit):
        return [to_data(v, s, allow) for v, s in value.items]
    if isinstance(value, DictLit):
        return {k: to_data(v, s, allow) for k, _, v, s in value.entries}
    if allow(value):
        return value
    raise NotData(value, span)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


def fold_binary(op: str, left: Any, right: Any) -> tuple[Any, str | None]:
    """(result, None) or (None, reason). Numbers only; bools are not numbers here."""
    if not (_is_number(left) and _is_number(right)):
        return None, f"{op!r} needs two numbers, got {_kind(left)} and {_kind(right)}"
    if op in ("/", "//", "%") and right == 0:
        return None, "division by zero"
    if op == "**":
        if abs(right) > MAX_EXPONENT or (isinstance(right, int) and right > 64 and abs(left) > 1):
            return None, f"exponent {right} is too large"
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_INT_BITS:
            return None, f"the result has more than {MAX_INT_BITS} bits"
    if op == "*" and isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            return None, f"the result has more than {MAX_INT_BITS} bits"
    try:
        result = _BINARY[op](left, right)
    except (OverflowError, ZeroDivisionError, ValueError) as exc:
        return None, str(exc)
    if isinstance(result, complex):
        return None, "the result is not a real number"
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        return None, f"the result has more than {MAX_INT_BITS} bits"
    if isinstance(result, float) and not math.isfinite(result):
        return None, "the result is not finite"
    return result, None


def fold_unary(op: str, operand: Any) -> tuple[Any, str | None]:
    if not _is_number(operand):
        return None, f"unary {op!r} needs a number, got {_kind(operand)}"
    return (-operand if op == "-" else +operand), None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a bool"
    if value is None:
        return "None"
    return type(value).__name__
