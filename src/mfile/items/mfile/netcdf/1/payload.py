"""mfile/netcdf: one variable of NetCDF file(s) as a lazy float32 [time, y, x] column."""

from __future__ import annotations

from typing import Any

import xarray as xr

from mfile.itemlib.data import resolve_paths
from mfile.itemlib.fields import as_field_column
from mfile.itemlib.params import ItemError, param


def load(params: dict[str, Any], ctx: Any) -> xr.Dataset:
    files = resolve_paths(str(param(params, ctx, "path", "")), "path")
    variable = str(param(params, ctx, "variable", ""))
    time_dim = str(param(params, ctx, "time_dim", "time"))
    chunks = int(param(params, ctx, "chunks", 64))
    if chunks < 1:
        raise ItemError(f"chunks must be >= 1, got {chunks}")
    open_kw: dict[str, Any] = {"engine": "netcdf4", "chunks": {time_dim: chunks}}
    if len(files) == 1:
        ds = xr.open_dataset(files[0], **open_kw)
    else:
        # Only the variables along the concatenation dim are concatenated; the rest (grid
        # description, bounds) are taken from the first file instead of compared file by file.
        ds = xr.open_mfdataset(files, combine="by_coords", data_vars="minimal", coords="minimal",
                               compat="override", join="outer", **open_kw)  # fmt: skip
    ctx.log(f"netcdf: {len(files)} file(s), variable {variable!r}")
    return as_field_column(ds, variable, time_dim, params, ctx, chunks)
