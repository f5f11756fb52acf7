"""mfile/train_test_split: by time (no leakage from the future) or at random with a seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from mfile.itemlib.data import sample_dim, with_sample_dim
from mfile.itemlib.params import ItemError, choice, param


def apply(inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> dict[str, xr.Dataset]:
    ds = inputs["input"]
    dim = sample_dim(ds)
    test_size = float(param(params, ctx, "test_size", 0.2))
    by = choice(params, ctx, "by", ("time", "random"), "time")
    if not 0.0 < test_size < 1.0:
        raise ItemError(f"test_size must be a fraction between 0 and 1 (exclusive), got {test_size}")
    n = int(ds.sizes[dim])
    if n < 2:
        raise ItemError(f"cannot split {n} sample(s) along {dim!r} into two non-empty sets")
    n_test = min(max(int(round(n * test_size)), 1), n - 1)
    if by == "time":
        if dim in ds.coords:
            ds = ds.sortby(dim)
        train_idx, test_idx = np.arange(n - n_test), np.arange(n - n_test, n)
    else:
        perm = np.random.default_rng(int(param(params, ctx, "seed", 0))).permutation(n)
        test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    ctx.log(f"train_test_split by {by}: {len(train_idx)} train, {len(test_idx)} test samples")
    return {
        "train": with_sample_dim(ds.isel({dim: train_idx}), dim),
        "test": with_sample_dim(ds.isel({dim: test_idx}), dim),
    }
