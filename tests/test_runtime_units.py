"""Pure parts of the runtime: rank env, slicing, nodelists, data checks, digests, port store."""

from __future__ import annotations

import os
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from mfile.plan.types import Column, Fundamental, Tabular, Tensor
from mfile.runtime import io, records
from mfile.runtime.context import Context
from mfile.runtime.datacheck import DataTypeError, check_dataset
from mfile.runtime.parallel import first_host, rank_from_env, slice_bounds, torch_env


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_slices_cover_samples_in_order_and_balance(n, size):
    bounds = [slice_bounds(n, r, size) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    lengths = [b - a for a, b in bounds]
    assert max(lengths) - min(lengths) <= 1


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({}, (0, 1, 0, "none")),
        ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "1"}, (1, 2, 1, "mpirun")),
        ({"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "4"}, (3, 4, 1, "srun")),
        ({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}, (0, 1, 0, "none")),  # the batch step is not a launch
        ({"PMI_RANK": "2", "PMI_SIZE": "3"}, (2, 3, 2, "pmi")),
    ],
)
def test_rank_from_env(env, want):
    assert rank_from_env(env) == want


@pytest.mark.parametrize(
    ("nodelist", "host"),
    [("jwb0012", "jwb0012"), ("jwb[0012-0015,0020]", "jwb0012"), ("jwc[01,03],jwb07", "jwc01"), ("a,b", "a")],
)
def test_first_host(nodelist, host):
    assert first_host(nodelist) == host


def test_torch_env_from_slurm():
    ctx = Context("t", rank=1, size=4, local_rank=1)
    env = torch_env(ctx, {"SLURM_JOB_NODELIST": "jwb[0100-0101]", "SLURM_JOB_ID": "123"})
    assert env == {"WORLD_SIZE": "4", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "jwb0100", "MASTER_PORT": "20123"}
    assert torch_env(ctx, {"MASTER_ADDR": "h", "MASTER_PORT": "9"})["MASTER_PORT"] == "9"


def test_allreduce_on_one_rank_and_bad_op():
    ctx = Context("t")
    assert ctx.allreduce(np.array([1.0, 2.0]), "max").tolist() == [1.0, 2.0]
    assert ctx.allreduce(3, "sum") == 3
    with pytest.raises(ValueError):
        ctx.allreduce(1, "mean")


def _t(**cols):
    def typ(v):
        return Fundamental(name=v) if isinstance(v, str) else Tensor(shape=tuple(v[0]), component=v[1])

    return Tabular(columns=tuple(Column(name=k, type=typ(v)) for k, v in cols.items()))


def _ds():
    return xr.Dataset(
        {"x": ("time", np.arange(5, dtype="float32")), "img": (("time", "h", "w"), np.zeros((5, 4, 3), "int16"))},
        attrs={"sample_dim": "time"},
    )


def test_datacheck_widens_and_accepts_any_dims():
    res = check_dataset(_ds(), _t(x="float64", img=([None, 3], "float32")), "input 'input' of task 't'")
    assert res.value["x"].dtype == "float64" and res.value["img"].dtype == "float32"
    assert len(res.casts) == 2


@pytest.mark.parametrize(
    ("wanted", "needle"),
    [
        (_t(x="int32"), "got float32 (float32 would narrow to int32)"),
        (_t(img=([4], "int16")), "rank 2 instead of 1"),
        (_t(img=([4, 2], "int16")), "dimension 1 is 3, expected 2"),
        (_t(y="float32"), "column 'y' is missing"),
        (_t(x="string"), "got float32"),
        (_t(x=([2], "float32")), "rank 0 instead of 1"),
        (_t(img="float32"), "expected a scalar float32 per sample"),
    ],
)
def test_datacheck_errors(wanted, needle):
    with pytest.raises(DataTypeError) as err:
        check_dataset(_ds(), wanted, "output 'output' of task 't'")
    assert needle in str(err.value) and str(err.value).startswith("output 'output' of task 't'")


def test_single_column_type_takes_the_one_variable():
    ds = xr.Dataset({"field": (("s", "a"), np.zeros((2, 3), "float32"))})
    assert check_dataset(ds, Tensor(shape=(3,), component="float32"), "p").value is ds
    with pytest.raises(DataTypeError, match="expected one variable"):
        check_dataset(_ds(), Tensor(shape=(3,), component="float32"), "p")


@pytest.mark.parametrize("dask", [False, True])
def test_port_store_parts_roundtrip_lazily(tmp_path, monkeypatch, dask):
    if dask:
        monkeypatch.setattr(io, "SMALL_BYTES", 0)
    ds = _ds()
    final = tmp_path / "t" / "output"
    tmp = io.temp_dir_for(final, "abc")
    io.write_part(ds.isel(time=slice(0, 3)), tmp, 0)
    io.write_part(ds.isel(time=slice(3, None)), tmp, 1)
    io.finish_dataset(tmp, "time")
    assert not final.exists()
    io.commit_dir(tmp, final)
    back = io.read_dataset(final)
    assert (back["x"].chunks is not None) == dask and back.attrs["sample_dim"] == "time"
    xr.testing.assert_identical(back.load().drop_attrs(), ds.drop_attrs())
    # Replacing a port: the new one appears whole, the old one is gone.
    io.write_dataset(ds.isel(time=slice(0, 1)), final)
    one = io.read_dataset(final)
    assert one.sizes["time"] == 1 and one["x"].chunks is None
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["output"]
    (tmp_path / "t" / ".output.tmp-x").mkdir()
    assert [p.name for p in io.clean_stale(tmp_path / "t")] == [".output.tmp-x"]


def test_json_port_reads_as_dataset(tmp_path):
    io.write_json_port({"rmse": 0.5, "per": [1.0, 2.0], "name": "m"}, tmp_path / "metrics")
    assert io.port_kind(tmp_path / "metrics") == "json"
    ds = io.json_to_dataset(io.read_json_port(tmp_path / "metrics"))
    assert float(ds["rmse"]) == 0.5 and ds["per"].shape == (2,) and json.loads(ds.attrs["name"]) == "m"


def test_digest_changes_with_content_and_record_matching(tmp_path):
    port = tmp_path / "port"
    port.mkdir()
    (port / "a.json").write_text("1")
    d1 = records.digest_path(port)
    (port / "a.json").write_text("2")
    assert records.digest_path(port)["sha256"] != d1["sha256"]
    rec = tmp_path / "state" / "t.json"
    key = records.task_key(task_id="t", mode="run", items=[("a:1", "s")], params={"b": 1, "a": 2}, inputs={})
    assert key == records.task_key(task_id="t", mode="run", items=[("a:1", "s")], params={"a": 2, "b": 1}, inputs={})
    records.write_record(rec, task_id="t", key=key, inputs={}, params={}, items=[], outputs={"o": d1},
                         started=records.now_iso(), wall_s=0.1, ranks=1)  # fmt: skip
    assert records.up_to_date(rec, key, [port])
    assert not records.up_to_date(rec, "other", [port])
    assert not records.up_to_date(rec, key, [tmp_path / "missing"])
    assert records.output_digest(rec, "o") == d1["sha256"]


def test_log_lines_of_ranks_sharing_a_pipe_never_mix():
    """Two ranks logging at once into one pipe (as under srun): every line arrives whole."""
    import subprocess
    import sys

    code = (
        "import sys; from mfile.runtime.context import Context\n"
        "c = Context(task_id='t', rank=int(sys.argv[1]), size=2)\n"
        "for i in range(400): c.log(f'{i:04d} ' + sys.argv[1] * 900)\n"
    )
    read, write = os.pipe()
    procs = [subprocess.Popen([sys.executable, "-c", code, str(r)], stderr=write) for r in (0, 1)]
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        lines = pipe.read().decode().splitlines()
    assert all(p.wait() == 0 for p in procs)
    assert len(lines) == 800
    whole = re.compile(r"^\[t r([01])/2 +[0-9.]+s\] \d{4} (0{900}|1{900})$")
    for line in lines:
        match = whole.match(line)
        assert match and match.group(2)[0] == match.group(1), line[:100]
