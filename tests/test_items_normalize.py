"""mfile/normalize: z-score against numpy, stats reuse, and 1 rank == 2 ranks under mpirun."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import xarray as xr
from test_items_support import frame, item, mpirun, sample

from mfile.itemlib import ItemError


def a1b(tmp_path):
    load, ctx = item("netcdf", tmp_path)
    return load.load({"path": str(sample("A1B_north_america.nc")), "variable": "air_temperature"}, ctx).load()


def test_zscore_matches_numpy_and_leaves_integer_columns(tmp_path):
    ds = a1b(tmp_path)
    ds["year"] = ("time", np.array([t.year for t in ds["time"].values], dtype=np.int32))
    norm, ctx = item("normalize", tmp_path)
    out = norm.apply({"input": ds}, {}, ctx)
    x = ds["air_temperature"].values.astype(np.float64)
    want = (x - x.mean()) / x.std()
    np.testing.assert_allclose(out["output"]["air_temperature"].values, want, rtol=1e-5, atol=1e-5)
    assert out["output"]["air_temperature"].dtype == np.float32
    np.testing.assert_array_equal(out["output"]["year"].values, ds["year"].values)
    stats = out["stats"]
    assert sorted(stats) == ["air_temperature.count", "air_temperature.mean", "air_temperature.std"]
    assert stats["air_temperature.mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert stats["air_temperature.std"] == pytest.approx(x.std(), rel=1e-9)
    assert stats["air_temperature.count"] == x.size


def test_given_stats_are_applied_not_recomputed(tmp_path):
    norm, ctx = item("normalize", tmp_path)
    train = frame(v=(("time",), np.array([1.0, 2.0, 3.0, 4.0])))
    stats = norm.apply({"input": train}, {}, ctx)["stats"]
    test = frame(v=(("time",), np.array([10.0, 2.5])))
    out = norm.apply({"input": test, "stats": stats}, {}, ctx)
    np.testing.assert_allclose(out["output"]["v"].values, (np.array([10.0, 2.5]) - 2.5) / np.sqrt(1.25))
    assert out["stats"] == stats
    # As the runtime hands a JSON port to a data input: 0-d variables.
    as_data = xr.Dataset({k: ((), v) for k, v in stats.items()})
    again = norm.apply({"input": test, "stats": as_data}, {}, ctx)
    xr.testing.assert_identical(again["output"], out["output"])
    with pytest.raises(ItemError, match="no 'w.mean'"):
        norm.apply({"input": frame(w=(("time",), np.array([1.0, 2.0]))), "stats": stats}, {}, ctx)


def test_nan_skipped_constant_column_centred_and_errors(tmp_path):
    norm, ctx = item("normalize", tmp_path)
    ds = frame(a=(("time",), np.array([1.0, np.nan, 3.0])), c=(("time",), np.array([5.0, 5.0, 5.0])))
    out = norm.apply({"input": ds}, {}, ctx)["output"]
    np.testing.assert_allclose(out["a"].values, [-1.0, np.nan, 1.0])
    np.testing.assert_allclose(out["c"].values, [0.0, 0.0, 0.0])
    with pytest.raises(ItemError, match="not floating point"):
        norm.apply({"input": frame(k=(("time",), np.array([1, 2])))}, {"variables": "k"}, ctx)
    with pytest.raises(ItemError, match="'nope'"):
        norm.apply({"input": ds}, {"variables": "a, nope"}, ctx)


SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    from mpi4py import MPI
    from mfile.itemlib import local

    comm = MPI.COMM_WORLD
    nc_dir, norm_dir = local.builtin_item_dir("netcdf"), local.builtin_item_dir("normalize")
    ctx = local.context(norm_dir, task_id="normalize", comm=comm)
    ds = local.load_payload(nc_dir).load({"path": sys.argv[1], "variable": "air_temperature"}, ctx)
    # The runtime's split: contiguous slices of the sample dim, one per rank.
    parts = np.array_split(np.arange(ds.sizes["time"]), comm.Get_size())
    mine = ds.isel(time=parts[comm.Get_rank()])
    out = local.load_payload(norm_dir).apply({"input": mine}, {}, ctx)
    pieces = comm.gather(out["output"]["air_temperature"].values, root=0)
    if comm.Get_rank() == 0:
        np.savez(sys.argv[2], output=np.concatenate(pieces), mean=out["stats"]["air_temperature.mean"],
                 std=out["stats"]["air_temperature.std"], size=comm.Get_size())
''')


@pytest.mark.mpi
def test_two_ranks_give_the_single_rank_answer(tmp_path):
    ds = a1b(tmp_path)
    norm, ctx = item("normalize", tmp_path)
    single = norm.apply({"input": ds}, {}, ctx)
    script = tmp_path / "normalize_mpi.py"
    script.write_text(SCRIPT)
    mpirun(2, [str(script), str(sample("A1B_north_america.nc")), str(tmp_path / "two.npz")])
    two = np.load(tmp_path / "two.npz")
    assert int(two["size"]) == 2
    np.testing.assert_allclose(two["mean"], single["stats"]["air_temperature.mean"], rtol=1e-12)
    np.testing.assert_allclose(two["std"], single["stats"]["air_temperature.std"], rtol=1e-10)
    np.testing.assert_allclose(two["output"], single["output"]["air_temperature"].values, rtol=1e-6, atol=1e-6)
