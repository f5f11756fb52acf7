"""mfile/netcdf and mfile/grib on real files (iris-sample-data NetCDF, ERA5 GRIB + twin)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr
from test_items_support import item, sample, xarray_grib

from mfile.itemlib import ItemError


def test_netcdf_reads_a1b_lazily_as_float32_fields(tmp_path):
    path = sample("A1B_north_america.nc")
    load, ctx = item("netcdf", tmp_path)
    ds = load.load({"path": str(path), "variable": "air_temperature", "chunks": 50}, ctx)
    assert list(ds.data_vars) == ["air_temperature"]
    da = ds["air_temperature"]
    assert da.dims == ("time", "latitude", "longitude") and da.shape == (240, 37, 49)
    assert da.dtype == np.float32 and ds.attrs["sample_dim"] == "time"
    assert da.chunks is not None and da.chunks[0][0] == 50, "must stay a lazy dask array"
    with xr.open_dataset(path) as raw:
        np.testing.assert_array_equal(da.values, raw["air_temperature"].values.astype(np.float32))


def test_netcdf_time_range_and_glob_over_several_files(tmp_path):
    path = sample("A1B_north_america.nc")
    with xr.open_dataset(path) as raw:
        raw.isel(time=slice(0, 120)).to_netcdf(tmp_path / "part-1.nc")
        raw.isel(time=slice(120, None)).to_netcdf(tmp_path / "part-2.nc")
    load, ctx = item("netcdf", tmp_path)
    whole = load.load({"path": str(path), "variable": "air_temperature"}, ctx)
    joined = load.load({"path": str(tmp_path / "part-*.nc"), "variable": "air_temperature"}, ctx)
    xr.testing.assert_equal(whole, joined)
    sub = load.load({"path": str(tmp_path / "part-*.nc"), "variable": "air_temperature",
                     "time_start": "1950-01-01", "time_end": "1959-12-30"}, ctx)  # fmt: skip
    years = [t.year for t in sub["time"].values]
    assert years == list(range(1950, 1960))


def test_netcdf_bad_variable_and_missing_files_say_what_is_there(tmp_path):
    load, ctx = item("netcdf", tmp_path)
    with pytest.raises(ItemError, match="air_temperature"):
        load.load({"path": str(sample("A1B_north_america.nc")), "variable": "tas"}, ctx)
    with pytest.raises(ItemError, match="matches no file"):
        load.load({"path": str(tmp_path / "nothing-*.nc"), "variable": "x"}, ctx)
    with pytest.raises(ItemError, match="select a level"):
        load.load({"path": str(sample("era5-levels-members.nc")), "variable": "t"}, ctx)


def test_grib_era5_matches_its_netcdf_twin(tmp_path):
    grib = tmp_path / "era5.grib"
    shutil.copy(sample("era5-levels-members.grib"), grib)
    load_grib, ctx = item("grib", tmp_path)
    load_nc, _ = item("netcdf", tmp_path)
    g = load_grib.load({"path": str(grib), "short_name": "t", "level": 500, "member": 3}, ctx)
    n = load_nc.load({"path": str(sample("era5-levels-members.nc")), "variable": "t",
                      "select": "isobaricInhPa=500,number=3"}, ctx)  # fmt: skip
    assert g["t"].dims == ("time", "latitude", "longitude") and g["t"].shape == (4, 61, 120)
    assert g["t"].dtype == np.float32 and g["t"].chunks is not None
    np.testing.assert_allclose(g["t"].values, n["t"].values, atol=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".idx") == [], "cfgrib wrote an index file"


def test_grib_ensemble_mean_and_level_errors(tmp_path):
    path = sample("era5-levels-members.grib")
    load, ctx = item("grib", tmp_path)
    mean = load.load({"path": str(path), "short_name": "z", "level": 850, "member": -1}, ctx)
    with xr.open_dataset(sample("era5-levels-members.nc")) as raw:
        want = raw["z"].sel(isobaricInhPa=850).mean("number").values
    np.testing.assert_allclose(mean["z"].values, want, rtol=1e-5)
    with pytest.raises(ItemError, match=r"2 levels .*850.0, 500.0"):
        load.load({"path": str(path), "short_name": "t"}, ctx)
    with pytest.raises(ItemError, match="member 42 is not in the file"):
        load.load({"path": str(path), "short_name": "t", "level": 500, "member": 42}, ctx)
    with pytest.raises(ItemError, match="no GRIB message"):
        load.load({"path": str(path), "short_name": "q", "level": 500}, ctx)


def test_grib_tiny_xarray_example(tmp_path):
    load, ctx = item("grib", tmp_path)
    ds = load.load({"path": str(xarray_grib()), "short_name": "t", "level": 850, "member": 1}, ctx)
    assert ds["t"].shape == (3, 3, 4) and ds.attrs["sample_dim"] == "time"
    assert np.isfinite(ds["t"].values).all()


def test_relative_path_is_found_beside_the_mfile(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    shutil.copy(sample("A1B_north_america.nc"), project / "data" / "a1b.nc")
    run = tmp_path / "out" / "batch"
    (run / "data" / "load").mkdir(parents=True)
    (run / "plan.json").write_text('{"source": {"path": "%s", "sha256": "x"}}' % (project / "climate.mfile"))
    monkeypatch.chdir(run)  # jobs run in their run directory
    load, ctx = item("netcdf", run / "data" / "load")
    ds = load.load({"path": "data/a1b.nc", "variable": "air_temperature"}, ctx)
    assert ds.sizes["time"] == 240
    with pytest.raises(ItemError, match=f"looked in {run} or {project}"):
        load.load({"path": "data/missing.nc", "variable": "air_temperature"}, ctx)


def test_grib_glob_over_files_split_by_date(tmp_path):
    import eccodes

    source = sample("era5-levels-members.grib")
    outs = {}
    with open(source, "rb") as f:
        while (handle := eccodes.codes_grib_new_from_file(f)) is not None:
            date = eccodes.codes_get(handle, "dataDate")
            if date not in outs:
                outs[date] = open(tmp_path / f"era5-{date}.grib", "wb")
            eccodes.codes_write(handle, outs[date])
            eccodes.codes_release(handle)
    for out in outs.values():
        out.close()
    assert len(outs) == 2
    load, ctx = item("grib", tmp_path)
    params = {"short_name": "t", "level": 500, "member": 0}
    joined = load.load({"path": str(tmp_path / "era5-*.grib"), **params}, ctx)
    whole = load.load({"path": str(source), **params}, ctx)
    xr.testing.assert_equal(joined, whole)
