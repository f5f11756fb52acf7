"""Data conventions of ports (docs/architecture.md, "Data between tasks") as helpers.

A port holds one xarray Dataset: one variable per column, all sharing the sample dimension
(the first one; named in ``ds.attrs["sample_dim"]``). These helpers keep every payload on
the same reading of that convention.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from mfile.itemlib.params import ItemError
from mfile.plan.state import expand_globs, fingerprint

SAMPLE_DIM_ATTR = "sample_dim"


def sample_dim(ds: xr.Dataset) -> str:
    """The dataset's sample dimension: the attribute, else the first dim of the first variable."""
    name = ds.attrs.get(SAMPLE_DIM_ATTR)
    if name:
        if name not in ds.dims:
            raise ItemError(f"the data says its sample dimension is {name!r}, but it has only {sorted(map(str, ds.dims))}")
        return str(name)
    for var in ds.data_vars.values():
        if var.dims:
            return str(var.dims[0])
    raise ItemError("the data has no variable with a sample dimension")


def with_sample_dim(ds: xr.Dataset, dim: str) -> xr.Dataset:
    ds.attrs[SAMPLE_DIM_ATTR] = dim
    return ds


def require_columns(ds: xr.Dataset, names: list[str], what: str) -> None:
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        have = ", ".join(sorted(map(str, ds.data_vars))) or "none"
        raise ItemError(f"{what}: column(s) {', '.join(map(repr, missing))} not in the data (columns: {have})")


def columns_array(ds: xr.Dataset, names: list[str], dtype: Any = np.float32) -> np.ndarray:
    """Columns as one array ``[n, ...]``: one column keeps its shape, several are flattened
    per sample and concatenated (a scalar column counts as one feature)."""
    dim = sample_dim(ds)
    require_columns(ds, names, "features")
    arrays = []
    for name in names:
        var = ds[name].transpose(dim, ...)
        arrays.append(np.asarray(var.values, dtype=dtype))
    if len(arrays) == 1:
        return arrays[0]
    n = arrays[0].shape[0]
    return np.concatenate([a.reshape(n, -1) for a in arrays], axis=1)


def source_dir(ctx: Any = None) -> Path | None:
    """The directory of the M-File the plan was compiled from (``plan.json``'s ``source.path``),
    found from the run directory: the nearest directory above the task's working directory
    (or the current one) that holds ``plan.json``."""
    starts = [Path(getattr(ctx, "work_dir", ".")).resolve(), Path.cwd()] if ctx is not None else [Path.cwd()]
    for start in starts:
        for candidate in (start, *start.parents):
            plan = candidate / "plan.json"
            if plan.is_file():
                try:
                    source = json.loads(plan.read_text(encoding="utf-8"))["source"]["path"]
                except (OSError, ValueError, KeyError, TypeError):
                    return None
                return Path(source).parent
    return None


def resolve_paths(pattern: str, what: str = "path", ctx: Any = None) -> list[str]:
    """Files matching a glob (``~`` and ``$VARS`` expanded), sorted; none is an error.

    A relative pattern is looked up in the current directory (a job runs in its run
    directory), then beside the M-File the plan was compiled from, so an M-File names its
    data the way its author sees it (``data/digits.nc`` next to ``mnist.mfile``).
    """
    if not pattern:
        raise ItemError(f"parameter {what!r} is empty: name a file or a glob")
    expanded = os.path.expandvars(os.path.expanduser(str(pattern)))
    if os.path.isabs(expanded):
        bases = [Path("/")]
    else:
        bases = [Path.cwd()]
        beside = source_dir(ctx)
        if beside is not None and beside not in bases:
            bases.append(beside)
    globs = [str(base / expanded) for base in bases]
    found = expand_globs(globs)
    if found:
        note = getattr(ctx, "note_read", None)
        if callable(note):
            note(str(pattern), globs, fingerprint(found))
        return found
    where = " or ".join(str(b) for b in bases) if not os.path.isabs(expanded) else "the file system"
    raise ItemError(f"{what} {pattern!r} matches no file (looked in {where})")


def time_seconds(values: Any) -> np.ndarray:
    """Times (numpy datetime64 or cftime objects of any calendar) as float seconds since the first."""
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0)
    if np.issubdtype(arr.dtype, np.datetime64):
        return (arr - arr[0]).astype("timedelta64[ns]").astype(np.int64) / 1e9
    if np.issubdtype(arr.dtype, np.number):
        return arr.astype(np.float64) - float(arr[0])
    t0 = arr[0]
    try:
        return np.array([(t - t0).total_seconds() for t in arr], dtype=np.float64)
    except (TypeError, AttributeError):
        raise ItemError(f"cannot read {arr.dtype} values as times") from None


def parse_duration(text: str, what: str = "lag") -> float:
    """``"1h"``, ``"6h"``, ``"1D"``, ``"30min"``, ``"360D"`` as seconds (pandas' Timedelta syntax)."""
    import pandas as pd  # heavy: only for lag and duration parameters

    try:
        seconds = pd.Timedelta(str(text)).total_seconds()
    except (ValueError, TypeError):
        raise ItemError(f"{what} {text!r} is not a duration such as '1h', '6h', '1D' or '30min'") from None
    if seconds <= 0:
        raise ItemError(f"{what} {text!r} must be positive")
    return seconds
