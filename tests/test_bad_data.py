"""Bad data at run time gets one message, not a stack of MPI noise (issue 14, item 4).

The built-in NetCDF item names the file and the fix for a truncated or foreign file and for a
variable the file does not have (an empty glob already said "matches no file"). A failure that
every rank of a data-parallel task meets alike is reported once, by rank 0, and the ranks exit
without MPI_Abort (whose banner each aborting rank prints); a failure of one rank only still
aborts the others, which would otherwise wait for it in a collective forever.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from test_items_support import item, sample

from mfile.itemlib import ItemError

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "runtime_items"))
from rt_plans import GEN, bind, item as rt_item, run, task, write_plan  # noqa: E402


def test_a_truncated_netcdf_file_is_named_with_the_fix(tmp_path: Path) -> None:
    whole = sample("A1B_north_america.nc").read_bytes()
    cut = tmp_path / "a1b.nc"
    cut.write_bytes(whole[: len(whole) // 3])
    load, ctx = item("netcdf", tmp_path)
    with pytest.raises(ItemError) as err:
        load.load({"path": str(cut), "variable": "air_temperature"}, ctx)
    text = str(err.value)
    assert f"cannot read {cut} as NetCDF" in text and "truncated" in text and f"ncdump -h {cut}" in text, text


def test_the_one_bad_file_of_a_glob_is_named(tmp_path: Path) -> None:
    with xr.open_dataset(sample("A1B_north_america.nc")) as raw:
        raw.isel(time=slice(0, 120)).to_netcdf(tmp_path / "part-1.nc")
    (tmp_path / "part-2.nc").write_text("<html>404 not found</html>\n")  # a failed download
    load, ctx = item("netcdf", tmp_path)
    with pytest.raises(ItemError, match=rf"cannot read {tmp_path / 'part-2.nc'} as NetCDF"):
        load.load({"path": str(tmp_path / "part-*.nc"), "variable": "air_temperature"}, ctx)


def test_a_missing_variable_names_the_file_and_what_it_has(tmp_path: Path) -> None:
    path = sample("A1B_north_america.nc")
    load, ctx = item("netcdf", tmp_path)
    with pytest.raises(ItemError) as err:
        load.load({"path": str(path), "variable": "tas"}, ctx)
    text = str(err.value)
    assert f"variable 'tas' is not in {path}" in text and "air_temperature" in text
    assert "set the item's variable parameter" in text


NOISE = ("MPI_ABORT", "ORTE_ERROR_LOG", "MPI_Abort")


@pytest.mark.mpi
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
def test_a_failure_of_every_rank_is_reported_once_by_rank_0_without_mpi_abort(tmp_path: Path) -> None:
    gen = task("gen", rt_item("gen", "dataset"), outputs=(("output", GEN),))
    bad = task("bad", rt_item("fail", "algorithm"), {"worded": True, "why": "data/t2m_*.nc matches no file"},
               inputs=[bind("input", "gen")], parallel="data", tasks=2)
    plan = write_plan(tmp_path / "p", [gen, bad])
    assert run(plan, "gen").returncode == 0
    res = run(plan, "bad", ranks=2, timeout=120)
    assert res.returncode == 1, res.stderr
    assert res.stderr.count("the input is not usable: data/t2m_*.nc matches no file") == 1, res.stderr
    assert "Traceback" not in res.stderr and not any(n in res.stderr for n in NOISE), res.stderr
    assert not (tmp_path / "p" / "state" / "bad.json").exists()


@pytest.mark.mpi
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")
def test_a_failure_of_one_rank_still_aborts_the_ranks_that_wait_for_it(tmp_path: Path) -> None:
    gen = task("gen", rt_item("gen", "dataset"), outputs=(("output", GEN),))
    bad = task("bad", rt_item("fail", "algorithm"), {"only_rank": 1, "why": "rank 1's slice"},
               inputs=[bind("input", "gen")], parallel="data", tasks=2)
    plan = write_plan(tmp_path / "p", [gen, bad])
    assert run(plan, "gen").returncode == 0
    t0 = time.monotonic()
    res = run(plan, "bad", ranks=2, timeout=120)
    assert res.returncode != 0 and "deliberate failure: rank 1's slice" in res.stderr, res.stderr
    assert time.monotonic() - t0 < 60  # rank 0 did not wait forever in its allreduce
    assert not (tmp_path / "p" / "state" / "bad.json").exists()
