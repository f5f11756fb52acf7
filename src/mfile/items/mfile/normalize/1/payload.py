"""mfile/normalize: z-score with statistics reduced over all ranks (see the header)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from mfile.itemlib.data import require_columns, sample_dim, with_sample_dim
from mfile.itemlib.params import ItemError, param_list

# Samples per block while accumulating: ~4M values (32 MB as float64) keeps the float64
# temporaries in cache-friendly pieces whatever the size of the rank's slice.
BLOCK_VALUES = 4 * 1024 * 1024
# A lazy (dask) input whose columns fit in this share of the free memory is read once into
# memory: the statistics and the normalised output then cost one read instead of two.
# Bigger inputs stay lazy and stream block by block (a field bigger than memory works).
IN_MEMORY_SHARE = 0.25


def _free_memory() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def load_if_small(ds: xr.Dataset, names: list[str]) -> xr.Dataset:
    lazy = [n for n in names if ds[n].chunks is not None]
    if lazy and sum(ds[n].nbytes for n in names) <= IN_MEMORY_SHARE * _free_memory():
        return ds.load()
    return ds


def local_moments(var: xr.DataArray, dim: str) -> np.ndarray:
    """[sum, sum of squares, count] of the non-NaN values of ``var`` (this rank's slice), float64."""
    n = var.sizes[dim]
    per_sample = max(1, int(np.prod([var.sizes[d] for d in var.dims if d != dim], dtype=np.int64)))
    step = max(1, BLOCK_VALUES // per_sample)
    # One float64 buffer reused for every block: a fresh 32 MB temporary per block would be
    # fresh pages from the kernel each time, and first touch dominates on small VMs.
    buffer = np.empty(min(n, step) * per_sample, dtype=np.float64)
    total = np.zeros(3, dtype=np.float64)
    for start in range(0, n, step):
        raw = np.asarray(var.isel({dim: slice(start, start + step)}).values).ravel()
        block = buffer[: raw.size]
        np.copyto(block, raw, casting="unsafe")
        s = block.sum()
        if not np.isfinite(s):  # NaN (or inf) somewhere: only then pay for a mask
            block = block[~np.isnan(block)]
            s = block.sum()
        total += (s, np.dot(block, block), block.size)
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
    ds = load_if_small(ds, names)
    given = inputs.get("stats")
    stats = given_stats(given, names) if given is not None else compute_stats(ds, names, dim, ctx)
    out = ds.copy()
    for name in names:
        mean, std = stats[f"{name}.mean"], stats[f"{name}.std"]
        dtype = ds[name].dtype
        scale = std if std > 0 else 1.0
        column = (ds[name] - dtype.type(mean)).astype(dtype, copy=False)
        column /= dtype.type(scale)  # in place: one output array, no second temporary
        out[name] = column
        out[name].attrs = dict(ds[name].attrs, normalized_mean=mean, normalized_std=std)
    ctx.log("normalize: " + ", ".join(f"{n} mean={stats[n + '.mean']:.6g} std={stats[n + '.std']:.6g}" for n in names))
    return {"output": with_sample_dim(out, dim), "stats": stats}
