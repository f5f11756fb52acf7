"""mnist/digits: image [height, width] float32 + label int32 from the prepared NetCDF file."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from mfile.itemlib.data import require_columns, resolve_paths, with_sample_dim
from mfile.itemlib.params import ItemError, param


def load(params: dict[str, Any], ctx: Any) -> xr.Dataset:
    files = resolve_paths(str(param(params, ctx, "file", "data/digits.nc")), "file", ctx)
    if len(files) != 1:
        raise ItemError(f"file must name one NetCDF file, it matches {len(files)}")
    ds = xr.open_dataset(files[0], engine="netcdf4").load()
    require_columns(ds, ["image", "label"], files[0])
    height, width = int(param(params, ctx, "height", 8)), int(param(params, ctx, "width", 8))
    if tuple(ds["image"].shape[1:]) != (height, width):
        raise ItemError(f"{files[0]} holds {list(ds['image'].shape[1:])} images, the item is configured for "
                        f"[{height}, {width}]: set height and width")  # fmt: skip
    out = xr.Dataset({"image": ds["image"].astype(np.float32), "label": ds["label"].astype(np.int32)})
    ctx.log(f"digits: {out.sizes['sample']} images of {height}x{width} from {files[0]}")
    return with_sample_dim(out, "sample")
