"""Write scikit-learn's 8x8 handwritten digits (real scans, shipped inside the package) as the
NetCDF file the MNIST example's dataset item reads. Nothing is downloaded.

    python examples/mnist/prepare_data.py [--out examples/mnist/data/digits.nc]

The file holds 1797 samples: `image` float32 (sample, height, width) = 8x8 grey levels
scaled from 0..16 to [0, 1], and `label` int32 (sample) = the digit 0..9. Written under a
temporary name and renamed, so a killed run leaves no half file; rerunning rewrites it
identically (same bytes: no timestamps in the file).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import xarray as xr

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "data" / "digits.nc"


def digits_dataset() -> xr.Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    ds = xr.Dataset(
        {
            "image": (("sample", "height", "width"), images, {"long_name": "grey level", "units": "1"}),
            "label": (("sample",), digits.target.astype(np.int32), {"long_name": "digit"}),
        },
        attrs={"sample_dim": "sample", "source": "sklearn.datasets.load_digits (UCI optdigits test set)"},
    )
    return ds


def write(ds: xr.Dataset, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    ignore = out.parent / ".gitignore"
    if out.parent.name == "data" and not ignore.exists():
        ignore.write_text("*\n")  # generated data stays out of git
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    ds.to_netcdf(tmp, engine="netcdf4")
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"NetCDF file to write (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    ds = digits_dataset()
    write(ds, args.out)
    print(f"wrote {ds.sizes['sample']} digits ({ds.sizes['height']}x{ds.sizes['width']}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
