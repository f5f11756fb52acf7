"""mfile/grib: one GRIB parameter (one level, one member or the ensemble mean) as a lazy
float32 [time, lat, lon] column."""

from __future__ import annotations

from typing import Any

import xarray as xr

from mfile.itemlib.data import resolve_paths
from mfile.itemlib.fields import as_field_column
from mfile.itemlib.params import ItemError, param

MEMBER_DIM = "number"


def load(params: dict[str, Any], ctx: Any) -> xr.Dataset:
    files = resolve_paths(str(param(params, ctx, "path", "")), "path", ctx)
    short_name = str(param(params, ctx, "short_name", ""))
    level = int(param(params, ctx, "level", -1))
    member = int(param(params, ctx, "member", 0))
    chunks = int(param(params, ctx, "chunks", 64))
    if not short_name:
        raise ItemError("short_name is empty: name the GRIB parameter, e.g. 't' or 'z'")
    keys: dict[str, Any] = {"shortName": short_name}
    if level >= 0:
        keys["level"] = level
    # indexpath "": cfgrib would otherwise write <file>.<hash>.idx beside the (often read-only) data.
    open_kw: dict[str, Any] = {
        "engine": "cfgrib",
        "chunks": {"time": chunks},
        "backend_kwargs": {"indexpath": "", "filter_by_keys": keys},
    }
    try:
        if len(files) == 1:
            ds = xr.open_dataset(files[0], **open_kw)
        else:
            ds = xr.open_mfdataset(files, combine="by_coords", compat="override", coords="minimal", **open_kw)
    except (ValueError, KeyError, OSError) as err:
        raise ItemError(f"cannot read GRIB {files[0]}{' ...' if len(files) > 1 else ''} with {keys}: {err}") from None
    if not ds.data_vars:
        raise ItemError(f"no GRIB message in {files[0]}{' ...' if len(files) > 1 else ''} matches {keys}")
    # cfgrib names variables by cfVarName (2t -> t2m); the one variable the filter kept is ours.
    variable = short_name if short_name in ds.data_vars else sorted(map(str, ds.data_vars))[0]
    if len(ds.data_vars) > 1 and short_name not in ds.data_vars:
        raise ItemError(f"{keys} matches several variables {sorted(map(str, ds.data_vars))}; name one exactly")
    da = ds[variable]
    if "step" in da.dims and da.sizes["step"] > 1:
        raise ItemError(f"{short_name!r} has {da.sizes['step']} forecast steps; this item reads analyses "
                        "(one step per time): split the file by step first")
    if MEMBER_DIM in da.dims:
        members = [int(m) for m in da[MEMBER_DIM].values]
        if member == -1:
            da = da.mean(MEMBER_DIM, keep_attrs=True)
        elif member in members:
            da = da.sel({MEMBER_DIM: member})
        else:
            raise ItemError(f"member {member} is not in the file (members: {members}); -1 = ensemble mean")
    level_dims = [d for d in da.dims if d not in ("time", "step", "latitude", "longitude", "y", "x", "values")]
    for d in level_dims:
        if da.sizes[d] > 1:
            values = [v.item() for v in da[d].values] if d in da.coords else list(range(da.sizes[d]))
            raise ItemError(f"{short_name!r} has {da.sizes[d]} levels on {d!r} ({values}): set level to one of them")
    ds = da.to_dataset(name=variable)
    ctx.log(f"grib: {len(files)} file(s), {short_name!r} level {level if level >= 0 else 'any'}, "
            f"member {'mean' if member == -1 else member}")  # fmt: skip
    return as_field_column(ds, variable, "time", params, ctx, chunks, column=short_name)
