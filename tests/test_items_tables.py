"""mfile/train_test_split, mfile/timelag and mfile/join on real fields."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from test_items_support import frame, item, sample

from mfile.itemlib import ItemError


def era5(tmp_path, name="t", level=500):
    load, ctx = item("grib", tmp_path)
    return load.load({"path": str(sample("era5-levels-members.grib")), "short_name": name, "level": level}, ctx).load()


def a1b(tmp_path):
    load, ctx = item("netcdf", tmp_path)
    return load.load({"path": str(sample("A1B_north_america.nc")), "variable": "air_temperature"}, ctx).load()


# ----------------------------------------------------------------------------- split


def test_split_by_time_never_trains_on_the_future(tmp_path):
    ds = a1b(tmp_path)
    shuffled = ds.isel(time=np.random.default_rng(1).permutation(ds.sizes["time"]))
    split, ctx = item("train_test_split", tmp_path)
    out = split.apply({"input": shuffled}, {"test_size": 0.25, "by": "time"}, ctx)
    train, test = out["train"], out["test"]
    assert (train.sizes["time"], test.sizes["time"]) == (180, 60)
    assert max(train["time"].values) < min(test["time"].values)
    xr.testing.assert_identical(xr.concat([train, test], "time"), ds)
    assert train.attrs["sample_dim"] == test.attrs["sample_dim"] == "time"


def test_split_random_is_seeded_disjoint_and_complete(tmp_path):
    ds = frame(v=(("sample",), np.arange(100.0)))
    split, ctx = item("train_test_split", tmp_path)
    a = split.apply({"input": ds}, {"test_size": 0.3, "by": "random", "seed": 7}, ctx)
    b = split.apply({"input": ds}, {"test_size": 0.3, "by": "random", "seed": 7}, ctx)
    c = split.apply({"input": ds}, {"test_size": 0.3, "by": "random", "seed": 8}, ctx)
    tr, te = a["train"]["v"].values, a["test"]["v"].values
    assert len(te) == 30 and not set(tr) & set(te) and sorted(np.r_[tr, te]) == list(range(100))
    np.testing.assert_array_equal(te, b["test"]["v"].values)
    assert not np.array_equal(te, c["test"]["v"].values)


@pytest.mark.parametrize("params", [{"test_size": 0}, {"test_size": 1.0}, {"by": "season"}])
def test_split_rejects_bad_params(tmp_path, params):
    split, ctx = item("train_test_split", tmp_path)
    with pytest.raises(ItemError):
        split.apply({"input": frame(v=(("sample",), np.arange(10.0)))}, params, ctx)


# ----------------------------------------------------------------------------- timelag


def test_timelag_on_era5_pairs_each_time_with_the_one_before(tmp_path):
    ds = era5(tmp_path)  # 4 analyses, 12 h apart
    lag, ctx = item("timelag", tmp_path)
    out = lag.apply({"input": ds}, {"lag": "12h", "steps": 2}, ctx)
    assert list(out.data_vars) == ["t", "t_lag1", "t_lag2"]
    assert out.sizes["time"] == 2
    np.testing.assert_array_equal(out["t_lag1"].values, ds["t"].values[1:3])
    np.testing.assert_array_equal(out["t_lag2"].values, ds["t"].values[0:2])
    np.testing.assert_array_equal(out["t"].values, ds["t"].values[2:4])
    one_day = lag.apply({"input": ds}, {"lag": "1D"}, ctx)
    np.testing.assert_array_equal(one_day["t_lag1"].values, ds["t"].values[0:2])


def test_timelag_lag_must_be_a_multiple_of_the_step(tmp_path):
    ds = era5(tmp_path)
    lag, ctx = item("timelag", tmp_path)
    with pytest.raises(ItemError, match=r"not a whole multiple of the data's time step 0 days 12:00:00"):
        lag.apply({"input": ds}, {"lag": "6h"}, ctx)
    with pytest.raises(ItemError, match="not a duration"):
        lag.apply({"input": ds}, {"lag": "soon"}, ctx)
    with pytest.raises(ItemError, match="no sample has all"):
        lag.apply({"input": ds}, {"lag": "12h", "steps": 4}, ctx)


def test_timelag_360_day_calendar_and_gaps(tmp_path):
    ds = a1b(tmp_path)
    gappy = ds.drop_isel(time=[10])  # a missing year must not pair year 11 with year 9
    lag, ctx = item("timelag", tmp_path)
    out = lag.apply({"input": gappy}, {"lag": "360D", "variables": "air_temperature"}, ctx)
    assert out.sizes["time"] == 240 - 1 - 2  # the first year and the year after the gap
    years = [t.year for t in out["time"].values]
    assert 1870 not in years and 1871 not in years
    i = years.index(1872)
    np.testing.assert_array_equal(out["air_temperature_lag1"].values[i], ds["air_temperature"].sel(time=ds["time"].values[11]).values)


# ----------------------------------------------------------------------------- join


def test_join_era5_parameters_on_shared_coordinates(tmp_path):
    t, z = era5(tmp_path, "t"), era5(tmp_path, "z")
    join, ctx = item("join", tmp_path)
    out = join.apply({"input_1": z, "input_0": t}, {"how": "inner"}, ctx)
    assert list(out.data_vars) == ["t", "z"] and out.attrs["sample_dim"] == "time"
    np.testing.assert_array_equal(out["z"].values, z["z"].values)
    inner = join.apply({"input_0": t.isel(time=[0, 1, 2]), "input_1": z.isel(time=[1, 2, 3])}, {"on": "time"}, ctx)
    outer = join.apply({"input_0": t.isel(time=[0, 1, 2]), "input_1": z.isel(time=[1, 2, 3])}, {"how": "outer", "on": "time"}, ctx)
    assert inner.sizes["time"] == 2 and outer.sizes["time"] == 4
    assert np.isnan(outer["z"].isel(time=0)).all() and np.isnan(outer["t"].isel(time=3)).all()


def test_join_name_clash_and_disagreeing_grids_fail_clearly(tmp_path):
    t = era5(tmp_path, "t")
    join, ctx = item("join", tmp_path)
    with pytest.raises(ItemError, match="column 't' is in both input_0 and input_1"):
        join.apply({"input_0": t, "input_1": era5(tmp_path, "t", 850)}, {}, ctx)
    shifted = era5(tmp_path, "z").assign_coords(latitude=era5(tmp_path, "z")["latitude"] + 1.5)
    with pytest.raises(ItemError, match="disagree outside the join coordinates"):
        join.apply({"input_0": t, "input_1": shifted}, {"on": "time"}, ctx)
    with pytest.raises(ItemError, match="no coordinate"):
        join.apply({"input_0": t, "input_1": era5(tmp_path, "z")}, {"on": "station"}, ctx)


def test_timelag_skips_columns_without_time_unless_named(tmp_path):
    ds = frame(v=(("time",), np.arange(4.0)), grid=(("y",), np.arange(3.0)))
    ds = ds.assign_coords(time=np.array(["2020-01-01T00", "2020-01-01T06", "2020-01-01T12", "2020-01-01T18"], dtype="datetime64[ns]"))
    lag, ctx = item("timelag", tmp_path)
    out = lag.apply({"input": ds}, {"lag": "6h"}, ctx)
    assert sorted(out.data_vars) == ["grid", "v", "v_lag1"]
    np.testing.assert_array_equal(out["v_lag1"].values, [0.0, 1.0, 2.0])
    with pytest.raises(ItemError, match="do not vary along 'time'"):
        lag.apply({"input": ds}, {"lag": "6h", "variables": "grid"}, ctx)


def test_timelag_lags_along_the_time_dimension_the_reader_was_configured_with(tmp_path):
    """netcdf with time_dim="valid_time" hands on data whose sample dimension is valid_time."""
    times = np.array(["2020-01-01T00", "2020-01-01T06", "2020-01-01T12"], dtype="datetime64[ns]")
    ds = xr.Dataset({"v": (("valid_time",), np.arange(3.0))}, coords={"valid_time": times},
                    attrs={"sample_dim": "valid_time"})  # fmt: skip
    lag, ctx = item("timelag", tmp_path)
    out = lag.apply({"input": ds}, {"lag": "6h"}, ctx)
    np.testing.assert_array_equal(out["v_lag1"].values, [0.0, 1.0])
    assert out.attrs["sample_dim"] == "valid_time"
    with pytest.raises(ItemError, match="no time coordinate 'time'"):
        lag.apply({"input": ds}, {"lag": "6h", "lag_column": "time"}, ctx)  # an explicit choice still wins
