"""A gridded variable of an opened source (NetCDF, GRIB) as the one column of a dataset port.

Shared by ``mfile/netcdf`` and ``mfile/grib`` so both give the same shape of data: a float32
variable ``(time, y, x)``, dask-chunked along time, the time range selected, size-1 dims and
auxiliary coordinates dropped, ``attrs["sample_dim"] = "time"``.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from mfile.itemlib.data import with_sample_dim
from mfile.itemlib.params import ItemError, param


def as_field_column(ds: xr.Dataset, variable: str, time_dim: str, params: dict[str, Any], ctx: Any,
                    chunks: int, column: str | None = None) -> xr.Dataset:
    if variable not in ds.data_vars:
        have = ", ".join(sorted(map(str, ds.data_vars))) or "none"
        raise ItemError(f"variable {variable!r} is not in the data (variables: {have})")
    da = ds[variable]
    if time_dim not in da.dims:
        if time_dim in da.coords and da[time_dim].ndim == 0:
            da = da.expand_dims(time_dim)  # one time step: a sample dim of length 1
        else:
            raise ItemError(f"variable {variable!r} has no dimension {time_dim!r} (dims: {list(map(str, da.dims))}); set time_dim")
    start = str(param(params, ctx, "time_start", "") or "")
    end = str(param(params, ctx, "time_end", "") or "")
    if start or end:
        try:
            da = da.sortby(time_dim).sel({time_dim: slice(start or None, end or None)})
        except (KeyError, ValueError, TypeError) as err:
            raise ItemError(f"cannot select time_start={start!r} time_end={end!r}: {err}") from None
        if da.sizes[time_dim] == 0:
            raise ItemError(f"no time steps of {variable!r} between {start or 'the start'} and {end or 'the end'}")
    extra = [d for d in da.dims if d != time_dim and da.sizes[d] == 1]
    da = da.isel({d: 0 for d in extra}, drop=True)
    if da.ndim != 3:
        others = {str(d): int(da.sizes[d]) for d in da.dims if d != time_dim}
        raise ItemError(f"variable {variable!r} has dims {others} besides {time_dim!r}; the column is a 2-D field "
                        "per time step: select a level or member so that two dims remain")
    da = da.transpose(time_dim, ...).astype("float32")
    da = da.reset_coords(drop=True)
    if da.chunks is None:
        da = da.chunk({time_dim: chunks})
    name = column or variable
    out = da.to_dataset(name=name)
    out[name].attrs = {k: v for k, v in ds[variable].attrs.items() if isinstance(v, (str, int, float))}
    return with_sample_dim(out, time_dim)
