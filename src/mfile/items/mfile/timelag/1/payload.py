"""mfile/timelag: `<var>_lag<k>` columns = <var> at t - k*lag, matched by time value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from mfile.itemlib.data import parse_duration, require_columns, sample_dim, time_seconds, with_sample_dim
from mfile.itemlib.params import ItemError, param, param_list

# Times are compared in float seconds; a millisecond absorbs the rounding of cftime
# arithmetic without ever merging two real time steps.
TOLERANCE_S = 1e-3


def _human(seconds: float) -> str:
    return str(pd.Timedelta(seconds=seconds))


def apply(inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> xr.Dataset:
    ds = inputs["input"]
    # Default: the time dimension the reading item was configured with (netcdf's time_dim).
    dim = str(param(params, ctx, "lag_column", "") or ds.attrs.get("sample_dim") or "time")
    lag_text = str(param(params, ctx, "lag", "1h"))
    steps = int(param(params, ctx, "steps", 1))
    chosen = param_list(params, ctx, "variables")
    names = chosen or [str(v) for v, var in ds.data_vars.items() if dim in var.dims]
    if dim not in ds.dims or dim not in ds.coords:
        raise ItemError(f"timelag: the data has no time coordinate {dim!r} (dims: {sorted(map(str, ds.dims))}); set lag_column")
    if steps < 1:
        raise ItemError(f"timelag: steps must be >= 1, got {steps}")
    require_columns(ds, names, "timelag")
    static = [n for n in names if dim not in ds[n].dims]
    if static:
        raise ItemError(f"timelag: column(s) {static} do not vary along {dim!r}; there is nothing to lag")
    ds = ds.sortby(dim)
    t = time_seconds(ds[dim].values)
    diffs = np.diff(t)
    if (diffs <= TOLERANCE_S).any():
        raise ItemError(f"timelag: {dim!r} has repeated time values; lags need one sample per time")
    if len(t) < 2:
        raise ItemError(f"timelag: {len(t)} time step(s) are too few to lag")
    step = float(diffs.min())
    lag = parse_duration(lag_text)
    ratio = lag / step
    if abs(ratio - round(ratio)) * step > TOLERANCE_S or round(ratio) < 1:
        raise ItemError(f"timelag: lag {lag_text!r} ({_human(lag)}) is not a whole multiple of the data's "
                        f"time step {_human(step)}; use a lag of k x {_human(step)}")  # fmt: skip

    sources = []
    keep = np.ones(len(t), dtype=bool)
    for k in range(1, steps + 1):
        target = t - k * lag
        idx = np.clip(np.searchsorted(t, target - TOLERANCE_S), 0, len(t) - 1)
        keep &= np.abs(t[idx] - target) <= TOLERANCE_S
        sources.append(idx)
    if not keep.any():
        raise ItemError(f"timelag: no sample has all {steps} lag(s) of {lag_text!r} in a series of {len(t)} steps")
    rows = np.flatnonzero(keep)
    out = ds.isel({dim: rows})
    for name in names:
        for k, idx in enumerate(sources, start=1):
            new = f"{name}_lag{k}"
            if new in out.data_vars:
                raise ItemError(f"timelag: column {new!r} already exists; lag it once or rename it first")
            lagged = ds[name].isel({dim: idx[rows]})
            out[new] = xr.Variable(lagged.dims, lagged.data, attrs=dict(ds[name].attrs, lag=f"{k} x {lag_text}"))
    ctx.log(f"timelag: {len(names)} column(s) x {steps} lag(s) of {lag_text}; kept {len(rows)} of {len(t)} samples")
    return with_sample_dim(out, sample_dim(ds) if ds.attrs.get("sample_dim") else dim)
