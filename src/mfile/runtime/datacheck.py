"""Check actual data against a port's declared ``DataType`` (header types after substitution).

The compiler checked that the *declared* types fit together; this checks that the data a
payload produced (or a file a dataset item loaded) really has that type, so a mismatch
fails the task at the port with a message naming port, column, expected and actual,
instead of crashing the next payload somewhere inside torch.

A column is one data variable whose first dimension is the sample dimension; a tensor
column of shape ``[h, w]`` has dims ``(sample, d1, d2)``. Widening dtype differences
(int -> float, float32 -> float64, ...) are cast and reported; narrowing ones fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfile.plan.types import (
    Array,
    Fundamental,
    Model,
    Nullable,
    Struct,
    Tabular,
    Tensor,
    cast_kind,
)
from mfile.runtime.io import sample_dim


class DataTypeError(Exception):
    """The data at a port does not have the port's type; ``str()`` is the user message."""


@dataclass
class CheckResult:
    value: Any
    casts: list[str] = field(default_factory=list)


def dtype_name(dtype: Any) -> str:
    """numpy dtype -> the header's fundamental name (``string`` for text of any kind)."""
    kind = dtype.kind
    if kind in "OUS":
        return "string"
    if kind == "b":
        return "bool"
    return str(dtype.name)


def check_dataset(ds: Any, wanted: Any, where: str, sample: str | None = None) -> CheckResult:
    """Check (and widen) ``ds`` against ``wanted``. ``where`` reads like "input 'x' of task 't'"."""
    import xarray as xr  # heavy: xarray loads when data is read, not when the job starts

    if not isinstance(ds, xr.Dataset):
        raise DataTypeError(f"{where}: expected an xarray Dataset, got {type(ds).__name__}")
    if isinstance(wanted, Nullable):
        wanted = wanted.underlying
    if isinstance(wanted, Fundamental) and wanted.name == "void":
        return CheckResult(ds)
    if isinstance(wanted, Model):
        raise DataTypeError(f"{where}: expected a trained model directory, got a dataset")
    if isinstance(wanted, Tabular):
        columns = [(c.name, c.type) for c in wanted.columns]
    else:
        # A port typed as a single tensor/scalar holds one variable; its name is free.
        names = list(ds.data_vars)
        if len(names) != 1:
            raise DataTypeError(
                f"{where}: expected one variable of type {wanted}, got {len(names)} ({', '.join(names) or 'none'})"
            )
        columns = [(names[0], wanted)]
    result = CheckResult(ds)
    if sample is None:
        sample = sample_dim(ds)
    missing = [name for name, _ in columns if name not in ds.data_vars]
    if missing:
        have = ", ".join(map(str, ds.data_vars)) or "none"
        raise DataTypeError(
            f"{where}: column {missing[0]!r} is missing (expected columns: "
            f"{', '.join(n for n, _ in columns)}; the data has: {have})"
        )
    updates = {}
    for name, col_type in columns:
        var = ds[name]
        cast_to = _check_column(var, col_type, sample, f"{where}, column {name!r}")
        if cast_to is not None:
            updates[name] = var.astype(cast_to)
            result.casts.append(f"{where}, column {name!r}: {dtype_name(var.dtype)} widened to {cast_to}")
    if updates:
        result.value = ds.assign(updates)
    return result


def _check_column(var: Any, wanted: Any, sample: str | None, where: str) -> str | None:
    """Raise on a mismatch; return a dtype name to widen to, or None."""
    if isinstance(wanted, Nullable):
        wanted = wanted.underlying
    if isinstance(wanted, (Array, Struct)):
        return None  # no array layout for these in xarray; presence is all we can check
    if isinstance(wanted, Fundamental):
        if wanted.name == "void":
            return None
        # A scalar column: (sample,), or 0-d for a single value such as a metric.
        if var.ndim > 1 or (var.ndim == 1 and sample is not None and var.dims[0] != sample):
            raise DataTypeError(
                f"{where}: expected a scalar {wanted.name} per sample, got an array of dims {_dims(var)}"
            )
        return _dtype(var, wanted.name, where, str(wanted))
    if isinstance(wanted, Tensor):
        got_shape = tuple(int(n) for n in var.shape[1:])
        if var.ndim - 1 != len(wanted.shape):
            raise DataTypeError(
                f"{where}: expected {wanted} (dims (sample, {len(wanted.shape)} more)), "
                f"got dims {_dims(var)}: rank {var.ndim - 1} instead of {len(wanted.shape)}"
            )
        for axis, (want, have) in enumerate(zip(wanted.shape, got_shape)):
            if want is not None and want != have:
                raise DataTypeError(
                    f"{where}: expected {wanted}, got shape [{', '.join(map(str, got_shape))}] "
                    f"(dimension {axis} is {have}, expected {want})"
                )
        return _dtype(var, wanted.component, where, str(wanted))
    raise DataTypeError(f"{where}: expected {wanted}, which a dataset column cannot hold")


def _dtype(var: Any, want: str, where: str, wanted_text: str) -> str | None:
    have = dtype_name(var.dtype)
    kind = cast_kind(have, want)
    if kind == "same":
        return None
    if kind == "widen":
        return want
    reason = "would narrow to" if kind == "narrow" else "cannot become"
    raise DataTypeError(f"{where}: expected {wanted_text}, got {have} ({have} {reason} {want})")


def _dims(var: Any) -> str:
    return "(" + ", ".join(f"{d}={n}" for d, n in zip(var.dims, var.shape)) + ")"


def check_model_dir(path: Any, where: str) -> None:
    if not (Path(path) / "model.json").is_file():
        raise DataTypeError(f"{where}: expected a trained model directory (with model.json), got {path}")
