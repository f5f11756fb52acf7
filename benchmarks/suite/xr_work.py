"""Worker for the data-path section, run as its own process in the project's venv.

    python xr_work.py make FILE MBYTES      write a float32 field (time, lat, lon) to NetCDF
    python xr_work.py normalize IN OUT      plain xarray + dask, one process: z-score, write

``normalize`` is the baseline a scientist writes without mfile: open lazily with dask, the
global mean and std in one pass (dask shares the read between the two reductions), then
write (x - mean) / std to NetCDF. It prints one JSON line with its in-process seconds.
"""

from __future__ import annotations

import json
import sys
import time


def make(path: str, mbytes: float) -> None:
    import numpy as np
    import xarray as xr

    lat, lon = 721, 1440  # a 0.25 degree global grid, as ERA5
    steps = max(2, int(mbytes * 2**20 / (lat * lon * 4)))
    rng = np.random.default_rng(0)
    base = (280.0 + 20.0 * np.cos(np.linspace(-np.pi / 2, np.pi / 2, lat)))[:, None].astype("float32")
    data = np.empty((steps, lat, lon), dtype="float32")
    for t in range(steps):
        data[t] = base + rng.standard_normal((lat, lon), dtype="float32")
    ds = xr.Dataset(
        {"t2m": (("time", "lat", "lon"), data, {"units": "K"})},
        coords={"time": np.arange(steps, dtype="int64"), "lat": np.linspace(-90, 90, lat), "lon": np.linspace(0, 359.75, lon)},
    )
    ds.to_netcdf(path, engine="netcdf4", encoding={"t2m": {"_FillValue": None}})
    print(json.dumps({"steps": steps, "bytes": int(data.nbytes)}))


def normalize(src: str, dst: str) -> None:
    t0 = time.perf_counter()
    import dask
    import xarray as xr

    ds = xr.open_dataset(src, engine="netcdf4", chunks={"time": 64})
    var = ds["t2m"]
    mean, std = dask.compute(var.mean(), var.std())
    out = ((var - mean) / std).astype("float32").to_dataset(name="t2m")
    out.to_netcdf(dst, engine="netcdf4", encoding={"t2m": {"_FillValue": None}})
    print(json.dumps({"seconds": time.perf_counter() - t0, "mean": float(mean), "std": float(std)}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], float(sys.argv[3]))
    elif cmd == "normalize":
        normalize(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd!r}")
