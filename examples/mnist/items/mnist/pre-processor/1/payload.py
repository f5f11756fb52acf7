"""mnist/pre-processor: image [height, width] -> image [pixels] (row-major), label kept."""

from __future__ import annotations

from typing import Any

import xarray as xr

from mfile.itemlib.data import require_columns, sample_dim, with_sample_dim
from mfile.itemlib.params import ItemError, param


def apply(inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> xr.Dataset:
    ds = inputs["input"]
    require_columns(ds, ["image", "label"], "pre-processor")
    dim = sample_dim(ds)
    pixels = int(param(params, ctx, "pixels", 64))
    image = ds["image"].transpose(dim, ...)
    if image.ndim != 3 or image.shape[1] * image.shape[2] != pixels:
        raise ItemError(f"pre-processor: image is {list(image.shape[1:])} per sample, which is not {pixels} pixels")
    flat = image.stack(pixel=image.dims[1:]).drop_vars([*image.dims[1:], "pixel"], errors="ignore")
    out = xr.Dataset({"image": flat.transpose(dim, "pixel"), "label": ds["label"]})
    return with_sample_dim(out, dim)
