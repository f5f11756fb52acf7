"""Section 3: the data path. mfile's runtime hand-off and the data-parallel ``normalize``
(1 vs 2 ranks) against plain xarray + dask in one process, over the same NetCDF field,
with raw disk throughput (``dd``, fdatasync) as the ceiling.

mfile runs the two-task pipeline ``mfile/netcdf`` -> ``mfile/normalize`` with ``mfile run``
(the local executor; ranks via mpirun as on one node). The netcdf task is the hand-off: it
reads the source and writes the port the next task reads. Task times are the ones ``mfile
run`` prints (process start to completion record); the pipeline time is the whole command.
The baseline (``xr_work.py normalize``) does the same z-score and writes the result.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from suite.common import BENCH, WORK, Peers, median, mfile_argv, run_timed

XR_WORK = Path(__file__).with_name("xr_work.py")
# Benchmarks the runtime's and normalize's authors keep next to this suite; run when present.
EXTERNAL = ("bench_runtime.py", "bench_normalize.py")

_MFILE = '''"""Data path benchmark: read a NetCDF field, z-score it with {ranks} rank(s)."""
src = MantikItem(name="mfile/netcdf:1").configure(params={{"path": "{path}", "variable": "t2m"}})
norm = MantikItem(name="mfile/normalize:1").configure(resources={{"tasks": {ranks}}})
datapath = MantikPipeline(stages={{"read": [src], "normalize": [norm.set_input(src.output)]}})
'''


def _field(root: Path, mbytes: int, log: Callable[[str], None]) -> tuple[Path, int]:
    nc = root / f"field-{mbytes}MB.nc"
    meta = nc.with_suffix(".json")
    if not (nc.exists() and meta.exists()):
        for old in root.glob("field-*"):
            old.unlink()
        log(f"  writing a {mbytes} MB NetCDF field ...")
        r = run_timed([sys.executable, str(XR_WORK), "make", str(nc), str(mbytes)], timeout=900)
        if r.returncode != 0:
            raise RuntimeError(f"could not write the field: {r.stderr.strip()[-300:]}")
        meta.write_text(r.stdout.strip().splitlines()[-1])
    return nc, int(json.loads(meta.read_text())["bytes"])


def _dd(root: Path, nc: Path, nbytes: int) -> dict[str, Any]:
    target = root / "dd.bin"
    count = max(1, nbytes // (16 * 2**20))
    w = run_timed(["dd", "if=/dev/zero", f"of={target}", "bs=16M", f"count={count}", "conv=fdatasync"])
    target.unlink(missing_ok=True)
    r = run_timed(["dd", f"if={nc}", "of=/dev/null", "bs=16M"])
    out: dict[str, Any] = {}
    if w.returncode == 0:
        out["write_gbps"] = count * 16 * 2**20 / w.seconds / 1e9
    if r.returncode == 0:
        out["read_gbps"] = nc.stat().st_size / r.seconds / 1e9
    return out


def _task_times(stdout: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s*done\s+(\S+)\s+([\d.]+)s", stdout, re.M)}


def _mfile_once(root: Path, nc: Path, ranks: int, run_no: int) -> dict[str, Any]:
    src = root / f"datapath-{ranks}.mfile"
    src.write_text(_MFILE.format(path=nc, ranks=ranks))
    out = root / f"out-{ranks}-{run_no}"
    shutil.rmtree(out, ignore_errors=True)
    try:
        r = run_timed([*mfile_argv(), "run", str(src), "--pipeline", "datapath", "-o", str(out)], cwd=root, timeout=1800)
        if r.returncode != 0:
            return {"error": f"mfile run exit {r.returncode}: {(r.stderr + r.stdout).strip()[-400:]}"}
        times = _task_times(r.stdout + r.stderr)
        rec = json.loads((out / "datapath" / "state" / "norm.json").read_text())
        if rec.get("ranks") != ranks:
            return {"error": f"normalize ran with {rec.get('ranks')} ranks, asked for {ranks}"}
        return {"pipeline_s": r.seconds, "handoff_s": times.get("src"), "normalize_s": times.get("norm"),
                "normalize_in_task_s": rec.get("wall_s")}  # fmt: skip
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _external(quick: bool, log: Callable[[str], None]) -> dict[str, str]:
    found = {}
    for name in EXTERNAL:
        script = BENCH / name
        if script.exists():
            log(f"  running {name} ...")
            r = run_timed([sys.executable, str(script), *(["--quick"] if quick else [])], timeout=1200)
            text = (r.stdout + ("\n" + r.stderr if r.returncode else "")).strip()
            found[name] = "\n".join(text.splitlines()[-40:]) + (f"\n(exit {r.returncode})" if r.returncode else "")
    return found


def run(peers: Peers, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    del peers  # no peer tool here: the baseline is plain xarray + dask
    root = WORK / "data"
    root.mkdir(parents=True, exist_ok=True)
    mbytes = 100 if quick else 1536
    nc, nbytes = _field(root, mbytes, log)
    result: dict[str, Any] = {"bytes": nbytes, "file_bytes": nc.stat().st_size, "shape_note": "float32 (time, 721, 1440)"}
    result["dd"] = _dd(root, nc, nbytes)
    runs = 1 if quick else 3
    base, per_rank = [], {1: [], 2: []}  # type: ignore[var-annotated]
    for i in range(runs):
        dst = root / "baseline-out.nc"
        r = run_timed([sys.executable, str(XR_WORK), "normalize", str(nc), str(dst)], timeout=1800)
        dst.unlink(missing_ok=True)
        if r.returncode != 0:
            result["baseline_error"] = r.stderr.strip()[-300:]
            break
        base.append((r.seconds, json.loads(r.stdout.strip().splitlines()[-1])["seconds"]))
        for ranks in (1, 2):
            one = _mfile_once(root, nc, ranks, i)
            if "error" in one:
                result[f"mfile_{ranks}_error"] = one["error"]
                log(f"  mfile {ranks} rank(s) FAILED: {one['error'][-200:]}")
            else:
                per_rank[ranks].append(one)
    if base:
        result["baseline"] = {"process_s": median([b[0] for b in base]), "in_process_s": median([b[1] for b in base]), "runs": len(base)}
        log(f"  xarray+dask one process: {result['baseline']['process_s']:.2f} s")
    for ranks, samples in per_rank.items():
        if samples:
            result[f"mfile_{ranks}"] = {k: median([s[k] for s in samples if s.get(k) is not None])
                                        for k in ("pipeline_s", "handoff_s", "normalize_s", "normalize_in_task_s")}  # fmt: skip
            result[f"mfile_{ranks}"]["runs"] = len(samples)
            m = result[f"mfile_{ranks}"]
            log(f"  mfile {ranks} rank(s): pipeline {m['pipeline_s']:.2f} s, hand-off {m['handoff_s']:.2f} s, normalize {m['normalize_s']:.2f} s")
    # The runtime's and normalize's own benchmarks take minutes in full: full runs only.
    result["external"] = {} if quick else _external(quick, log)
    return result
