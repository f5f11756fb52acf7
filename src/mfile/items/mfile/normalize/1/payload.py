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


def compute_stats(ds: xr.Dataset, names: list[str], dim: str, ctx: Any) -> xr.Dataset:
    local = np.stack([local_moments(ds[name], dim) for name in names]) if names else np.zeros((0, 3))
    total = np.asarray(ctx.allreduce(local, "sum"), dtype=np.float64).reshape(len(names), 3)
    s, ss, n = total[:, 0], total[:, 1], total[:, 2]
    empty = [name for name, count in zip(names, n) if count == 0]
    if empty:
        raise ItemError(f"normalize: column(s) {empty} have no values (all NaN or no samples)")
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean * mean, 0.0))
    return stats_dataset(names, mean, std, n)


def stats_dataset(names: list[str], mean: np.ndarray, std: np.ndarray, count: np.ndarray) -> xr.Dataset:
    ds = xr.Dataset(
        {"mean": ("variable", mean), "std": ("variable", std), "count": ("variable", count.astype(np.float64))},
        coords={"variable": np.array(names, dtype=object)},
    )
    ds.attrs["mfile_replicated"] = 1
    return with_sample_dim(ds, "variable")


def apply(inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> dict[str, xr.Dataset]:
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
    if given is not None:
        stats = given
        missing = [n for n in names if n not in [str(v) for v in stats["variable"].values]]
        if missing:
            raise ItemError(f"normalize: the given stats have no row for column(s) {missing}")
        stats = stats.sel(variable=names)
    else:
        stats = compute_stats(ds, names, dim, ctx)
    out = ds.copy()
    for name in names:
        mean = float(stats["mean"].sel(variable=name))
        std = float(stats["std"].sel(variable=name))
        dtype = ds[name].dtype
        scale = std if std > 0 else 1.0
        out[name] = ((ds[name] - dtype.type(mean)) / dtype.type(scale)).astype(dtype)
        out[name].attrs = dict(ds[name].attrs, normalized_mean=mean, normalized_std=std)
    ctx.log("normalize: " + ", ".join(f"{n} mean={float(stats['mean'].sel(variable=n)):.4g} "
                                      f"std={float(stats['std'].sel(variable=n)):.4g}" for n in names))  # fmt: skip
    return {"output": with_sample_dim(out, dim), "stats": stats}
