"""Data types of item ports (the MantikHeader type system) and their compatibility.

Types are frozen pydantic models so they serialise into the IR and ``plan.json`` unchanged.
``headers.py`` builds them from YAML; ``typecheck.py`` and the runtime compare them.
Shapes hold ints or None ("any size", our extension); ``${var}`` references are substituted
before a type is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Union

from pydantic import Field

from mfile.plan.frozen import Frozen

FUNDAMENTALS = (
    "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "bool", "string", "void",
)  # fmt: skip

FundamentalName = Literal[
    "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "bool", "string", "void",
]  # fmt: skip


class _Type(Frozen):
    """Base of the data types (a name for the union below)."""


class Fundamental(_Type):
    kind: Literal["fundamental"] = "fundamental"
    name: FundamentalName

    def __str__(self) -> str:
        return self.name


class Tensor(_Type):
    kind: Literal["tensor"] = "tensor"
    shape: tuple[int | None, ...]
    component: FundamentalName

    def __str__(self) -> str:
        dims = ", ".join("*" if d is None else str(d) for d in self.shape)
        return f"tensor[{dims}] of {self.component}"


class Column(_Type):
    name: str
    type: "DataType"


class Tabular(_Type):
    """Named columns in order; in data, one xarray variable per column."""

    kind: Literal["tabular"] = "tabular"
    columns: tuple[Column, ...]

    def column(self, name: str) -> "DataType | None":
        for c in self.columns:
            if c.name == name:
                return c.type
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{c.name}: {c.type}" for c in self.columns) + "}"


class Nullable(_Type):
    kind: Literal["nullable"] = "nullable"
    underlying: "DataType"

    def __str__(self) -> str:
        return f"nullable {self.underlying}"


class Array(_Type):
    kind: Literal["array"] = "array"
    underlying: "DataType"

    def __str__(self) -> str:
        return f"array of {self.underlying}"


class Struct(_Type):
    kind: Literal["struct"] = "struct"
    fields: tuple[Column, ...]

    def __str__(self) -> str:
        return "struct{" + ", ".join(f"{c.name}: {c.type}" for c in self.fields) + "}"


class Model(_Type):
    """A trained model: what it takes and gives at inference (a trainable's ``type``)."""

    kind: Literal["model"] = "model"
    input: "DataType"
    output: "DataType"

    def __str__(self) -> str:
        return f"model({self.input} -> {self.output})"


DataType = Annotated[
    Union[Fundamental, Tensor, Tabular, Nullable, Array, Struct, Model],
    Field(discriminator="kind"),
]

for _model in (Column, Tabular, Nullable, Array, Struct, Model):
    _model.model_rebuild()

VOID = Fundamental(name="void")
FLOAT64 = Fundamental(name="float64")


def scalar(name: str) -> Fundamental:
    return Fundamental(name=name)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- casts

_INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
_UINT_BITS = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}
_FLOAT_BITS = {"float32": 32, "float64": 64}
# Largest integer width a float represents exactly is not the point here: like numpy's
# safe casting, any int -> float is allowed as widening; float -> int is narrowing.


def cast_kind(produced: str, wanted: str) -> Literal["same", "widen", "narrow", "incompatible"]:
    """How a value of fundamental type ``produced`` reaches a port that wants ``wanted``."""
    if produced == wanted:
        return "same"
    if produced == "bool" and wanted in (_INT_BITS | _UINT_BITS | _FLOAT_BITS):
        return "widen"
    if produced in _INT_BITS:
        if wanted in _INT_BITS:
            return "widen" if _INT_BITS[wanted] > _INT_BITS[produced] else "narrow"
        if wanted in _UINT_BITS:
            return "narrow"
        if wanted in _FLOAT_BITS:
            return "widen"
    if produced in _UINT_BITS:
        if wanted in _UINT_BITS:
            return "widen" if _UINT_BITS[wanted] > _UINT_BITS[produced] else "narrow"
        if wanted in _INT_BITS:
            return "widen" if _INT_BITS[wanted] > _UINT_BITS[produced] else "narrow"
        if wanted in _FLOAT_BITS:
            return "widen"
    if produced in _FLOAT_BITS:
        if wanted in _FLOAT_BITS:
            return "widen" if _FLOAT_BITS[wanted] > _FLOAT_BITS[produced] else "narrow"
        if wanted in _INT_BITS or wanted in _UINT_BITS or wanted == "bool":
            return "narrow"
    if {produced, wanted} <= set(_INT_BITS | _UINT_BITS | _FLOAT_BITS) | {"bool"}:
        return "narrow"
    return "incompatible"


# --------------------------------------------------------------------------- compatibility


@dataclass(frozen=True)
class Mismatch:
    """One finding of :func:`compare`. ``path`` locates it inside the type, e.g. ``image``."""

    severity: Literal["error", "widen", "dropped"]
    path: str
    wanted: str
    got: str
    reason: str


def compare(produced: "DataType", wanted: "DataType", path: str = "") -> list[Mismatch]:
    """Everything that differs between a producer's type and what a consumer wants.

    Errors: missing columns, different rank or dimension, narrowing casts, different kinds.
    ``widen`` findings are allowed casts; ``dropped`` are produced columns nobody wants.
    """
    here = path or "value"
    if isinstance(wanted, Fundamental) and wanted.name == "void":
        return []
    if isinstance(produced, Fundamental) and produced.name == "void":
        return []  # generic on one side: only the data can tell (checked at run time)
    if isinstance(produced, Nullable) and not isinstance(wanted, Nullable):
        return [Mismatch("error", here, str(wanted), str(produced), "a nullable value cannot feed a non-nullable port")]
    if isinstance(wanted, Nullable):
        inner = produced.underlying if isinstance(produced, Nullable) else produced
        return compare(inner, wanted.underlying, path)
    if isinstance(wanted, Tabular):
        if not isinstance(produced, Tabular):
            if len(wanted.columns) == 1:
                return compare(produced, wanted.columns[0].type, _join(path, wanted.columns[0].name))
            return [Mismatch("error", here, str(wanted), str(produced), "expected a table of columns")]
        found: list[Mismatch] = []
        for col in wanted.columns:
            have = produced.column(col.name)
            if have is None:
                found.append(Mismatch("error", _join(path, col.name), str(col.type), "nothing", f"column {col.name!r} is missing"))
            else:
                found.extend(compare(have, col.type, _join(path, col.name)))
        for col in produced.columns:
            if wanted.column(col.name) is None:
                found.append(Mismatch("dropped", _join(path, col.name), "nothing", str(col.type), f"column {col.name!r} is not used"))
        return found
    if isinstance(produced, Tabular) and len(produced.columns) == 1:
        return compare(produced.columns[0].type, wanted, _join(path, produced.columns[0].name))
    if isinstance(wanted, Tensor):
        if not isinstance(produced, Tensor):
            return [Mismatch("error", here, str(wanted), str(produced), "expected a tensor")]
        if len(produced.shape) != len(wanted.shape):
            return [Mismatch("error", here, str(wanted), str(produced), f"rank {len(produced.shape)} is not {len(wanted.shape)}")]
        found = []
        axes = [
            axis
            for axis, (have, want) in enumerate(zip(produced.shape, wanted.shape))
            if have is not None and want is not None and have != want
        ]
        if axes:
            which = ", ".join(str(a) for a in axes)
            found.append(Mismatch("error", here, str(wanted), str(produced), f"shape differs in dimension {which}"))
        found.extend(_compare_scalar(produced.component, wanted.component, here, str(wanted), str(produced)))
        return found
    if isinstance(wanted, Fundamental):
        if isinstance(produced, Fundamental):
            return _compare_scalar(produced.name, wanted.name, here, str(wanted), str(produced))
        return [Mismatch("error", here, str(wanted), str(produced), "expected a scalar")]
    if isinstance(wanted, Array):
        if not isinstance(produced, Array):
            return [Mismatch("error", here, str(wanted), str(produced), "expected an array")]
        return compare(produced.underlying, wanted.underlying, path)
    if isinstance(wanted, Struct):
        if not isinstance(produced, Struct):
            return [Mismatch("error", here, str(wanted), str(produced), "expected a struct")]
        return compare(Tabular(columns=produced.fields), Tabular(columns=wanted.fields), path)
    if isinstance(wanted, Model):
        if not isinstance(produced, Model):
            return [Mismatch("error", here, str(wanted), str(produced), "expected a trained model")]
        return compare(wanted.input, produced.input, _join(path, "input")) + compare(
            produced.output, wanted.output, _join(path, "output")
        )
    return [Mismatch("error", here, str(wanted), str(produced), "types differ")]


def _compare_scalar(have: str, want: str, path: str, wanted: str, got: str) -> list[Mismatch]:
    kind = cast_kind(have, want)
    if kind == "same":
        return []
    if kind == "widen":
        return [Mismatch("widen", path, wanted, got, f"{have} widens to {want}")]
    if kind == "narrow":
        return [Mismatch("error", path, wanted, got, f"{have} would narrow to {want}")]
    return [Mismatch("error", path, wanted, got, f"{have} cannot become {want}")]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def select_columns(datatype: "DataType", names: tuple[str, ...]) -> "DataType":
    """The table restricted to ``names`` (callers check the names exist)."""
    if not isinstance(datatype, Tabular):
        return datatype
    return Tabular(columns=tuple(c for c in datatype.columns if c.name in names))
