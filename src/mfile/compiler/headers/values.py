"""metaVariable values: substitution into header YAML, and checking values against types.

Substitution (Mantik's rule, extended to mapping keys): a string scalar that is exactly
``"${name}"`` becomes the variable's typed value, keeping the position of the reference;
a mapping key ``"${name}"`` becomes the value as a name (so column names can be
parameters). ``$$`` is a literal dollar. ``${name}`` inside a longer string is left as it
is (E323 warns when ``name`` is a metaVariable, since that is usually a mistake).
Substitution runs on YAML nodes before any type is parsed, so ``componentType: "${dtype}"``
and ``shape: "${shape}"`` (a list-valued variable) work.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from mfile.compiler.headers.messages import (
    BadSubstitutedKey,
    EmbeddedVariable,
    UndefinedVariable,
    YamlDuplicateKey,
)
from mfile.compiler.headers.types import suggestion
from mfile.compiler.headers.yamlnodes import YNode
from mfile.diagnostics import Reporter, Span
from mfile.plan.types import Array, DataType, Fundamental, Nullable, Struct, Tabular, Tensor

_REF = re.compile(r"^\$\{([^{}$]+)\}$")
_EMBEDDED = re.compile(r"(?<!\$)\$\{([^{}$]+)\}")
_INT_RANGE = {
    "int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1),
}  # fmt: skip
_FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": math.inf}


def reference(text: Any) -> str | None:
    """The variable name if ``text`` is exactly ``"${name}"``."""
    if isinstance(text, str):
        m = _REF.match(text)
        if m:
            return m.group(1)
    return None


def from_value(value: Any, span: Span, var: str | None) -> YNode:
    """A YNode for a Python value (a metaVariable's value), placed at ``span``."""
    if isinstance(value, dict):
        pairs = tuple(
            (YNode("scalar", span, str(k), text=str(k), tag="str", var=var), from_value(v, span, var))
            for k, v in value.items()
        )
        return YNode("map", span, pairs, size=1 + sum(1 + v.size for _, v in pairs), var=var)
    if isinstance(value, (list, tuple)):
        items = tuple(from_value(v, span, var) for v in value)
        return YNode("seq", span, items, size=1 + sum(i.size for i in items), var=var)
    tag = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}.get(type(value), "str")
    text = value if isinstance(value, str) else ("null" if value is None else str(value).lower() if isinstance(value, bool) else str(value))
    return YNode("scalar", span, value, text=text, tag=tag, var=var)


class Substituter:
    """Replaces ``"${name}"`` references; reports undefined ones (E314) at the reference."""

    def __init__(self, params: dict[str, Any], reporter: Reporter, warn_embedded: bool = False) -> None:
        self.params = params
        self.reporter = reporter
        self.warn_embedded = warn_embedded
        self.ok = True
        # Span of each substituted reference -> variable, to relate later type errors to it.
        self.used: dict[Span, str] = {}

    def undefined(self, name: str, span: Span) -> None:
        self.ok = False
        self.reporter.report(
            UndefinedVariable, span, name=name,
            suggestion=suggestion(name, self.params, "defined metaVariables: " + (", ".join(self.params) or "none")),
        )  # fmt: skip

    def node(self, node: YNode) -> YNode:
        if node.kind == "seq":
            return YNode("seq", node.span, tuple(self.node(c) for c in node.value), size=node.size)
        if node.kind == "map":
            return self.mapping(node)
        if not isinstance(node.value, str) or "$" not in node.value:
            return node
        name = reference(node.value)
        if name is not None:
            if name not in self.params:
                self.undefined(name, node.span)
                return node
            self.used[node.span] = name
            return from_value(self.params[name], node.span, name)
        if self.warn_embedded:
            for m in _EMBEDDED.finditer(node.value):
                if m.group(1) in self.params:
                    self.reporter.report(EmbeddedVariable, node.span, name=m.group(1))
        value = node.value.replace("$$", "$")
        return YNode("scalar", node.span, value, text=node.text, tag=node.tag, size=node.size)

    def mapping(self, node: YNode) -> YNode:
        pairs: list[tuple[YNode, YNode]] = []
        seen: dict[str, YNode] = {}
        for key, value in node.items():
            name = reference(key.value)
            if name is not None:
                if name not in self.params:
                    self.undefined(name, key.span)
                else:
                    new = self.params[name]
                    if isinstance(new, bool) or not isinstance(new, (str, int, float)):
                        self.ok = False
                        got = "a list" if isinstance(new, (list, tuple)) else repr(new)
                        self.reporter.report(BadSubstitutedKey, key.span, name=name, got=got)
                    else:
                        self.used[key.span] = name
                        key = YNode("scalar", key.span, str(new), text=str(new), tag="str", var=name)
            elif "$$" in key.value:
                key = YNode("scalar", key.span, key.value.replace("$$", "$"), text=key.text, tag="str")
            if key.value in seen:
                self.reporter.report(YamlDuplicateKey, key.span, key=key.value, line=seen[key.value].span.line)
                continue
            seen[key.value] = key
            pairs.append((key, self.node(value)))
        return YNode("map", node.span, tuple(pairs), size=node.size)


def substitute(node: YNode, params: dict[str, Any], reporter: Reporter, warn_embedded: bool = False) -> tuple[YNode, Substituter]:
    sub = Substituter(params, reporter, warn_embedded)
    return sub.node(node), sub


# --------------------------------------------------------------------------- values


def check_value(value: Any, datatype: DataType) -> str | None:
    """None if ``value`` (plain Python data) is a valid value of ``datatype``, else why not."""
    return _check(value, datatype, "")


def _at(path: str) -> str:
    return f" at {path}" if path else ""


def _check(value: Any, datatype: DataType, path: str) -> str | None:
    if isinstance(datatype, Fundamental):
        return _check_scalar(value, datatype.name, path)
    if isinstance(datatype, Nullable):
        return None if value is None else _check(value, datatype.underlying, path)
    if isinstance(datatype, Array):
        if not isinstance(value, (list, tuple)):
            return f"expected a list ({datatype}), got {_describe(value)}{_at(path)}"
        for i, item in enumerate(value):
            why = _check(item, datatype.underlying, f"{path}[{i}]")
            if why:
                return why
        return None
    if isinstance(datatype, Tensor):
        return _check_tensor(value, datatype, datatype.shape, path)
    if isinstance(datatype, (Struct, Tabular)):
        fields = datatype.fields if isinstance(datatype, Struct) else datatype.columns
        if not isinstance(value, dict):
            return f"expected a mapping with {', '.join(c.name for c in fields)}, got {_describe(value)}{_at(path)}"
        names = [c.name for c in fields]
        extra = [k for k in value if k not in names]
        if extra:
            return f"unexpected key {extra[0]!r}{_at(path)} (expected {', '.join(names)})"
        for col in fields:
            if col.name not in value:
                return f"missing key {col.name!r}{_at(path)}"
            why = _check(value[col.name], col.type, f"{path}.{col.name}" if path else col.name)
            if why:
                return why
        return None
    return f"a {datatype.kind} cannot be given as a value"


def _check_tensor(value: Any, datatype: Tensor, shape: tuple[int | None, ...], path: str) -> str | None:
    if not shape:
        return _check_scalar(value, datatype.component, path)
    if not isinstance(value, (list, tuple)):
        return f"expected a nested list for {datatype}, got {_describe(value)}{_at(path)}"
    if shape[0] is not None and len(value) != shape[0]:
        return f"expected {shape[0]} elements{_at(path)} for {datatype}, got {len(value)}"
    for i, item in enumerate(value):
        why = _check_tensor(item, datatype, shape[1:], f"{path}[{i}]")
        if why:
            return why
    return None


def _check_scalar(value: Any, name: str, path: str) -> str | None:
    if name == "void":
        return None if value is None else f"void takes no value, got {_describe(value)}{_at(path)}"
    if name == "bool":
        return None if isinstance(value, bool) else f"expected a bool, got {_describe(value)}{_at(path)}"
    if name == "string":
        return None if isinstance(value, str) else f"expected a string, got {_describe(value)}{_at(path)}"
    if name in _INT_RANGE:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer ({name}), got {_describe(value)}{_at(path)}"
        low, high = _INT_RANGE[name]
        if not low <= value <= high:
            return f"{value} is out of the {name} range [{low}, {high}]{_at(path)}"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number ({name}), got {_describe(value)}{_at(path)}"
    if math.isfinite(value) and abs(value) > _FLOAT_MAX[name]:
        return f"{value} is out of the {name} range{_at(path)}"
    return None


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


def coerce(value: Any, datatype: DataType) -> Any:
    """A checked value in canonical form: lists not tuples, floats for float types."""
    walk: Callable[[Any, DataType], Any] = coerce
    if isinstance(datatype, Fundamental) and datatype.name in _FLOAT_MAX and isinstance(value, int):
        return float(value)
    if isinstance(datatype, Nullable):
        return None if value is None else walk(value, datatype.underlying)
    if isinstance(datatype, Array) and isinstance(value, (list, tuple)):
        return [walk(v, datatype.underlying) for v in value]
    if isinstance(datatype, Tensor) and isinstance(value, (list, tuple)):
        inner = Tensor(shape=datatype.shape[1:], component=datatype.component) if datatype.shape else datatype
        return [walk(v, inner) for v in value]
    if isinstance(datatype, Tensor) and not datatype.shape:
        return walk(value, Fundamental(name=datatype.component))
    if isinstance(datatype, (Struct, Tabular)) and isinstance(value, dict):
        fields = datatype.fields if isinstance(datatype, Struct) else datatype.columns
        return {c.name: walk(value[c.name], c.type) for c in fields if c.name in value}
    return list(value) if isinstance(value, tuple) else value


METAVARIABLE_TYPES = "a scalar type name, or an array, nullable or tensor of them"


def valid_metavariable_type(datatype: DataType) -> bool:
    """Types a metaVariable may have: values written inline in YAML or an M-File."""
    if isinstance(datatype, Fundamental):
        return datatype.name != "void"
    if isinstance(datatype, Tensor):
        return True
    if isinstance(datatype, (Array, Nullable)):
        return valid_metavariable_type(datatype.underlying)
    return False
