"""mfile/netcdf: one variable of NetCDF file(s) as a lazy float32 [time, y, x] column."""

from __future__ import annotations

import warnings
from typing import Any

import xarray as xr

from mfile.itemlib.data import resolve_paths
from mfile.itemlib.fields import as_field_column
from mfile.itemlib.params import ItemError, param, param_list


def load(params: dict[str, Any], ctx: Any) -> xr.Dataset:
    files = resolve_paths(str(param(params, ctx, "path", "")), "path", ctx)
    variable = str(param(params, ctx, "variable", ""))
    time_dim = str(param(params, ctx, "time_dim", "time"))
    chunks = int(param(params, ctx, "chunks", 64))
    if chunks < 1:
        raise ItemError(f"chunks must be >= 1, got {chunks}")
    open_kw: dict[str, Any] = {"engine": "netcdf4", "chunks": {time_dim: chunks}}
    with warnings.catch_warnings():
        # chunks are samples per chunk by design; xarray warns when they cut the files' own
        # storage chunks, which costs a little read efficiency and nothing else.
        warnings.filterwarnings("ignore", message="The specified chunks separate", category=UserWarning)
        ds = _open(files, open_kw)
    if variable and variable not in ds.data_vars:
        have = ", ".join(sorted(map(str, ds.data_vars))) or "none"
        where = files[0] if len(files) == 1 else f"{files[0]} and {len(files) - 1} more file(s)"
        raise ItemError(f"variable {variable!r} is not in {where} (variables: {have}): "
                        "set the item's variable parameter to one of them")
    for item in param_list(params, ctx, "select"):
        dim, _, value = item.partition("=")
        dim, value = dim.strip(), value.strip()
        if not value or dim not in ds.dims:
            raise ItemError(f"select {item!r}: expected dim=value with dim one of {sorted(map(str, ds.dims))}")
        try:
            ds = ds.sel({dim: float(value) if dim in ds.coords and ds[dim].dtype.kind in "iuf" else value}, method="nearest")
        except (KeyError, ValueError, TypeError) as err:
            raise ItemError(f"select {item!r}: {err}") from None
    ctx.log(f"netcdf: {len(files)} file(s), variable {variable!r}")
    return as_field_column(ds, variable, time_dim, params, ctx, chunks)


def _open(files: list[str], open_kw: dict[str, Any]) -> xr.Dataset:
    try:
        return _open_all(files, open_kw)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise ItemError(_unreadable(files, open_kw, err)) from None


def _unreadable(files: list[str], open_kw: dict[str, Any], err: Exception) -> str:
    """Which file cannot be opened (the first that fails on its own), and what to do."""
    bad, why = files[0], err
    for path in files:
        try:
            xr.open_dataset(path, engine=open_kw["engine"]).close()
        except (OSError, ValueError, RuntimeError, KeyError) as one:
            bad, why = path, one
            break
    else:
        if len(files) > 1:  # each opens alone: they do not combine
            return (f"cannot combine the {len(files)} files of {files[0]} ...: {type(err).__name__}: {err}; "
                    "check that they share variables and coordinates")
    return (f"cannot read {bad} as NetCDF ({type(why).__name__}: {why}): the file is truncated, not NetCDF "
            f"or not readable; check it with `ncdump -h {bad}`, and copy or download it again")


def _open_all(files: list[str], open_kw: dict[str, Any]) -> xr.Dataset:
    if len(files) == 1:
        return xr.open_dataset(files[0], **open_kw)
    # Only the variables along the concatenation dim are concatenated; the rest (grid
    # description, bounds) are taken from the first file instead of compared file by file.
    return xr.open_mfdataset(files, combine="by_coords", data_vars="minimal", coords="minimal",
                             compat="override", join="outer", **open_kw)  # fmt: skip
