"""mfile/normalize: z-score with statistics reduced over all ranks (see the header)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from mfile.itemlib.data import require_columns, sample_dim, with_sample_dim
from mfile.itemlib.params import ItemError, param_list

# Samples per block while accumulating: ~4M values (32 MB as float64) keeps the float64
# temporaries in cache-friendly pieces whatever the size of the rank's slice.
BLOCK_VALUES = 4 * 1024 * 1024


def local_moments(var: xr.DataArray, dim: str) -> np.ndarray:
    """[sum, sum of squares, count] of the non-NaN values of ``var`` (this rank's slice), float64."""
    n = var.sizes[dim]
    per_sample = max(1, int(np.prod([var.sizes[d] for d in var.dims if d != dim], dtype=np.int64)))
    step = max(1, BLOCK_VALUES // per_sample)
    total = np.zeros(3, dtype=np.float64)
    for start in range(0, n, step):
        block = np.asarray(var.isel({dim: slice(start, start + step)}).values, dtype=np.float64).ravel()
        nan = np.isnan(block)
        if nan.any():
            block = block[~nan]
        total += (block.sum(), np.dot(block, block), block.size)
    return total


def compute_stats(ds: xr.Dataset, names: list[str], dim: str, ctx: Any) -> dict[str, float]:
    local = np.stack([local_moments(ds[name], dim) for name in names]) if names else np.zeros((0, 3))
    total = np.asarray(ctx.allreduce(local, "sum"), dtype=np.float64).reshape(len(names), 3)
    s, ss, n = total[:, 0], total[:, 1], total[:, 2]
    empty = [name for name, count in zip(names, n) if count == 0]
    if empty:
        raise ItemError(f"normalize: column(s) {empty} have no values (all NaN or no samples)")
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean * mean, 0.0))
    stats: dict[str, float] = {}
    for i, name in enumerate(names):
        stats.update({f"{name}.mean": float(mean[i]), f"{name}.std": float(std[i]), f"{name}.count": float(n[i])})
    return stats


def given_stats(stats: Any, names: list[str]) -> dict[str, float]:
    """Stats handed in on the optional ``stats`` input: the dict this item returned, or that
    dict read back from its JSON port as a Dataset of 0-d variables."""
    found: dict[str, float] = {}
    for name in names:
        for what in ("mean", "std", "count"):
            key = f"{name}.{what}"
            if key not in stats:
                raise ItemError(f"normalize: the given stats have no {key!r}; they hold {sorted(map(str, stats))}")
            value = stats[key]
            found[key] = float(value.values) if hasattr(value, "values") else float(value)
    return found


def apply(inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    ds = inputs["input"]
    dim = sample_dim(ds)
    names = param_list(params, ctx, "variables")
    if names:
        require_columns(ds, names, "normalize")
        not_float = [n for n in names if not np.issubdtype(ds[n].dtype, np.floating)]
        if not_float:
            raise ItemError(f"normalize: column(s) {not_float} are not floating point; cast them or leave them out")
    else:
        names = [str(n) for n, v in ds.data_vars.items() if np.issubdtype(v.dtype, np.floating)]
    given = inputs.get("stats")
    stats = given_stats(given, names) if given is not None else compute_stats(ds, names, dim, ctx)
    out = ds.copy()
    for name in names:
        mean, std = stats[f"{name}.mean"], stats[f"{name}.std"]
        dtype = ds[name].dtype
        scale = std if std > 0 else 1.0
        out[name] = ((ds[name] - dtype.type(mean)) / dtype.type(scale)).astype(dtype)
        out[name].attrs = dict(ds[name].attrs, normalized_mean=mean, normalized_std=std)
    ctx.log("normalize: " + ", ".join(f"{n} mean={stats[n + '.mean']:.6g} std={stats[n + '.std']:.6g}" for n in names))
    return {"output": with_sample_dim(out, dim), "stats": stats}
