"""Data-parallel tasks and DDP with a real `mpirun -n 2` (Open MPI, mpi4py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "runtime_items"))
from rt_plans import GEN, MODEL, VOID, bind, item, mpi_env, run, table, task, write_plan  # noqa: E402

pytestmark = [pytest.mark.mpi, pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")]


def test_mpirun_gives_two_ranks_that_agree_with_the_environment():
    # Rank 0 prints what every rank saw: two ranks printing at once can interleave mid-line.
    code = (
        "from mfile.runtime.parallel import world; w = world(); "
        "seen = w.comm.gather(f'{w.rank} {w.size} {w.comm.Get_size()} {w.launcher}', root=0); "
        "print('|'.join(seen)) if w.rank == 0 else None"
    )
    res = subprocess.run(["mpirun", "-n", "2", "--oversubscribe", sys.executable, "-c", code],
                         capture_output=True, text=True, env=mpi_env(), timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().split("|") == ["0 2 2 mpirun", "1 2 2 mpirun"]


def _zscore_plan(run_dir: Path, ranks: int, n: int = 101) -> Path:
    gen = task("gen", item("gen", "dataset"), {"n": n}, outputs=(("output", GEN),), parallel="data", tasks=ranks)
    z = task("z", item("zscore", "algorithm"), inputs=[bind("input", "gen", type=table(x="float64", img=([4, 3], "float32")), columns=("x", "img"))],
             outputs=(("output", table(x="float64", img=([4, 3], "float64"))), ("stats", VOID)), parallel="data", tasks=ranks)  # fmt: skip
    return write_plan(run_dir, [gen, z])


def test_data_parallel_equals_single_rank(tmp_path, monkeypatch):
    one, two = _zscore_plan(tmp_path / "one", 1), _zscore_plan(tmp_path / "two", 2)
    for plan, ranks in ((one, 1), (two, 2)):
        for t in ("gen", "z"):
            res = run(plan, t, ranks=ranks)
            assert res.returncode == 0, res.stderr
    out2 = tmp_path / "two" / "data" / "z" / "output"
    assert sorted(p.name for p in out2.glob("*.nc")) == ["part-0000.nc", "part-0001.nc"]
    sizes = [xr.open_dataset(p).sizes["sample"] for p in sorted(out2.glob("*.nc"))]
    assert sizes == [51, 50], "balanced contiguous slices along the sample dim"
    assert sorted(p.name for p in (tmp_path / "two" / "data" / "gen" / "output").glob("*.nc")) == ["part-0000.nc", "part-0001.nc"]
    from mfile.runtime import io

    monkeypatch.setattr(io, "SMALL_BYTES", 0)  # the dask path, as for big fields
    a, b = io.read_dataset(tmp_path / "one" / "data" / "z" / "output"), io.read_dataset(out2)
    assert b.chunks and "sample" in b.chunks
    np.testing.assert_allclose(a["x"].values, b["x"].values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a["img"].values, b["img"].values, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(a["sample"].values, b["sample"].values)
    s1 = json.loads((tmp_path / "one" / "data" / "z" / "stats" / "stats.json").read_text())
    s2 = json.loads((tmp_path / "two" / "data" / "z" / "stats" / "stats.json").read_text())
    assert s1["ranks"] == 1 and s2["ranks"] == 2
    for col in ("x", "img"):
        for k in ("mean", "std", "min", "max", "n"):
            assert s2["columns"][col][k] == pytest.approx(s1["columns"][col][k], rel=1e-9)
    rec = json.loads((tmp_path / "two" / "state" / "z.json").read_text())
    assert rec["ranks"] == 2
    assert run(two, "z", ranks=2).stderr.count("skipped: up to date") == 2


def test_failure_on_ranks_exits_1_without_hanging(tmp_path):
    gen = task("gen", item("gen", "dataset"), outputs=(("output", GEN),))
    bad = task("bad", item("fail", "algorithm"), inputs=[bind("input", "gen")], parallel="data", tasks=2)
    plan = write_plan(tmp_path / "p", [gen, bad])
    assert run(plan, "gen").returncode == 0
    res = run(plan, "bad", ranks=2, timeout=120)
    assert res.returncode != 0
    assert "deliberate failure" in res.stderr
    assert not (tmp_path / "p" / "state" / "bad.json").exists()


@pytest.mark.slow
def test_ddp_two_gloo_processes(tmp_path):
    gen = task("gen", item("gen", "dataset"), {"n": 64}, outputs=(("output", GEN),))
    ddp = task("ddp", item("ddp", "trainable"), {"epochs": 5}, tasks=2,
               inputs=[bind("input", "gen", type=table(x="float32", label="float32"), columns=("x", "label"))],
               outputs=(("model", MODEL), ("stats", VOID)))  # fmt: skip
    plan = write_plan(tmp_path / "p", [gen, ddp])
    assert run(plan, "gen").returncode == 0
    res = run(plan, "ddp", ranks=2, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "torch.distributed: gloo, 2 ranks" in res.stderr
    stats = json.loads((tmp_path / "p" / "data" / "ddp" / "stats" / "stats.json").read_text())
    assert stats["world"] == 2
    assert stats["weight_spread"] == 0.0, "DDP keeps the replicas identical"
    model_dir = tmp_path / "p" / "data" / "ddp" / "model"
    assert json.loads((model_dir / "saved_by.json").read_text()) == {"rank": 0}
    import torch

    state = torch.load(model_dir / "model.pt")
    assert set(state) == {"weight", "bias"}
