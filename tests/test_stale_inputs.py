"""A result is never reused once a data file it read changed (issue 14): completion records list
the files each glob expanded to (path, size, mtime_ns), and ``mfile run``, ``mfile status`` and
``mfile submit --resume`` say why a task is stale. Real NetCDF files, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mfile.plan.state import is_done, read_changes, stale_inputs

FLOW = """\
t2m = MantikItem(name="mfile/netcdf:1").configure(params={"path": "era5_*.nc", "variable": "t2m"})
norm = MantikItem(name="mfile/normalize:1")
era5 = MantikPipeline(stages={"prep": [t2m, norm.set_input(t2m.output)]})
"""


def write_month(path: Path, month: int, seed: int) -> None:
    """A tiny ERA5-like month: 4 daily fields of 3 x 4."""
    rng = np.random.default_rng(seed)
    xr.Dataset(
        {"t2m": (("time", "lat", "lon"), rng.normal(280, 5, (4, 3, 4)).astype("float32"))},
        coords={"time": pd.date_range(f"2020-{month:02d}-01", periods=4, freq="D"),
                "lat": [50.0, 51.0, 52.0], "lon": [5.0, 6.0, 7.0, 8.0]},
    ).to_netcdf(path)  # fmt: skip


def mfile(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "mfile.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def run(tmp: Path) -> dict[str, str]:
    """``mfile run`` of the ERA5 flow: {task: "done|skipped [why]"} from its progress lines."""
    out = mfile("run", "flow.mfile", "--pipeline", "era5", "-o", "runs", cwd=tmp).stderr
    lines = {}
    for line in out.splitlines():
        words = line.split(maxsplit=3)  # state, task, seconds, why
        if len(words) >= 3 and words[0] in ("done", "skipped") and words[1] in ("t2m", "norm"):
            lines[words[1]] = " ".join([words[0], *words[3:]])
    return lines


def mean_of_load(run_dir: Path) -> float:
    ds = xr.open_mfdataset(sorted((run_dir / "data" / "t2m" / "output").glob("part-*.nc")))
    return float(ds["t2m"].mean())


@pytest.mark.slow
def test_changed_or_new_input_files_rerun_the_task_and_what_follows(tmp_path: Path) -> None:
    (tmp_path / "flow.mfile").write_text(FLOW)
    jan, feb = tmp_path / "era5_202001.nc", tmp_path / "era5_202002.nc"
    write_month(jan, 1, seed=1)
    write_month(feb, 2, seed=2)
    run_dir = tmp_path / "runs" / "era5"

    first = run(tmp_path)
    assert first["t2m"].startswith("done") and first["norm"].startswith("done")
    reads = json.loads((run_dir / "state" / "t2m.json").read_text())["reads"]
    assert [r["pattern"] for r in reads] == ["era5_*.nc"]
    assert [f[0] for f in reads[0]["files"]] == [str(jan), str(feb)]

    untouched = run(tmp_path)
    assert untouched == {"t2m": "skipped up to date", "norm": "skipped up to date"}

    before = mean_of_load(run_dir)
    write_month(jan, 1, seed=7)  # new values, same size: only mtime_ns tells
    status = mfile("status", "runs/era5", cwd=tmp_path).stdout
    assert f"stale: input {jan} changed" in status and "upstream t2m is stale" in status
    changed = run(tmp_path)
    assert changed == {"t2m": f"done stale: input {jan} changed", "norm": "done stale: upstream output t2m.output changed"}
    assert mean_of_load(run_dir) != before
    assert f"stale: input {jan} changed" in (run_dir / "logs" / "t2m.log").read_text()

    write_month(tmp_path / "era5_202003.nc", 3, seed=3)
    added = run(tmp_path)
    assert added == {"t2m": "done stale: 1 new file matches era5_*.nc", "norm": "done stale: upstream output t2m.output changed"}
    assert xr.open_mfdataset(sorted((run_dir / "data" / "t2m" / "output").glob("part-*.nc"))).sizes["time"] == 12

    st = feb.stat()
    os.utime(feb, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, content as it was
    touched = run(tmp_path)
    assert touched["t2m"] == f"done stale: input {feb} changed"
    # The load's output is byte for byte what it was, so what reads it stays up to date.
    assert touched["norm"] == "skipped up to date"

    feb.unlink()
    assert stale_inputs(run_dir, "t2m") == [f"input {feb} is gone"]
    assert not is_done(run_dir, "t2m")


def _reads(pattern: str, folder: Path) -> list[dict]:
    files = sorted(folder.glob(pattern))
    return [{"pattern": pattern, "globs": [str(folder / pattern)],
             "files": [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]}]  # fmt: skip


def test_read_changes_names_what_differs(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    for i in range(6):
        (data / f"x_{i}.nc").write_bytes(b"a" * i)
    reads = _reads("x_*.nc", data)
    assert read_changes(reads) == []
    assert read_changes(None) == []  # a record without reads (a task that reads no files)
    for i in range(5):
        (data / f"x_{i}.nc").write_bytes(b"b" * (i + 1))  # size changes
    (data / "x_9.nc").write_bytes(b"")
    (data / "x_8.nc").write_bytes(b"")
    (data / "x_5.nc").unlink()
    reasons = read_changes(reads)
    assert reasons[:3] == [f"input {data / f'x_{i}.nc'} changed" for i in range(3)]
    assert reasons[3:] == ["2 more inputs matching x_*.nc changed", "2 new files match x_*.nc",
                           f"input {data / 'x_5.nc'} is gone"]  # fmt: skip
    for f in data.iterdir():
        f.unlink()
    assert read_changes(reads) == ["x_*.nc matches no file any more"]
    assert read_changes([{"pattern": "x"}]) == ["the completion record's list of input files is unreadable"]
