"""Section 2: scheduler load of a 1,000-point hyperparameter grid.

Counts come from what each tool hands to ``sbatch``: a wrapper first on PATH logs every
call (``common.sbatch_logger``). Without a running Slurm the wrapper answers with fake job
ids, so the counts are still real calls; with the local cluster up it forwards to the real
``sbatch`` with ``SBATCH_HOLD=1`` (nothing runs), the harness times the submission, and then
cancels exactly the job ids it got back.

- mfile: ``mfile submit`` of the compiled sweep (data, split, one array job, one select job).
- Snakemake: the Slurm executor's default, one ``sbatch`` per rule instance (its dry run
  gives the plan; a real run is stopped once it has queued every grid point).
- submitit: ``executor.map_array`` over the grid (one array job; selecting the best point is
  left to the user's driver process).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import gen_mfile
import gen_snakefile
from suite.common import BENCH, WORK, Peers, mfile_argv, run_timed, sbatch_logger, scancel, slurm_up
from suite.planning import bench_profile

POINTS = 1000


def _array_elements(script: Path) -> int:
    m = re.search(r"^#SBATCH --array=(\d+)-(\d+)", script.read_text(), re.M)
    return int(m.group(2)) - int(m.group(1)) + 1 if m else 1


def _mfile(root: Path, real: bool, log: Callable[[str], None]) -> dict[str, Any]:
    items = gen_mfile.write_item_root(root / "items")
    src = root / "sweep.mfile"
    src.write_text(gen_mfile.sweep_mfile(POINTS))
    out = root / "mfile-out"
    shutil.rmtree(out, ignore_errors=True)
    comp = run_timed([*mfile_argv(), "compile", str(src), "--items", str(items), "--profile", str(bench_profile(root)), "-o", str(out)])
    if comp.returncode != 0:
        return {"error": f"mfile compile exit {comp.returncode}: {(comp.stderr or comp.stdout).strip()[-300:]}"}
    run_dir = out / "sweep"
    dry = run_timed([*mfile_argv(), "submit", str(run_dir), "--dry-run"])
    if dry.returncode != 0:
        return {"error": f"mfile submit --dry-run exit {dry.returncode}: {dry.stderr.strip()[-300:]}"}
    lines = [ln for ln in dry.stdout.splitlines() if ln.startswith("sbatch ")]
    scripts = [ln.split()[-1] for ln in lines]
    jobs = sum(_array_elements(run_dir / s) for s in scripts)
    search = [s for s in scripts if "search" in Path(s).name]
    res: dict[str, Any] = {
        "sbatch_calls": len(lines), "sbatch_calls_search": len(search), "jobs": jobs,
        "array_jobs": sum(1 for s in scripts if _array_elements(run_dir / s) > 1), "compile_s": comp.seconds,
        "how": "`mfile submit --dry-run` lines (data, split, array, select)",
    }  # fmt: skip
    sb = sbatch_logger(root / "sbatch-mfile", real=real)
    sub = run_timed([*mfile_argv(), "submit", str(run_dir)], env=sb.env())
    ids = sb.job_ids()
    if real:
        scancel(ids)
    if sub.returncode != 0:
        res["submit_error"] = f"exit {sub.returncode}: {sub.stderr.strip()[-300:]}"
    res["sbatch_calls_logged"] = len(sb.calls())
    if real and sub.returncode == 0:
        res["submit_s"] = sub.seconds
    log(f"  mfile     sbatch calls {res['sbatch_calls']} (logged {res['sbatch_calls_logged']}), jobs {jobs}")
    return res


def _submitit(root: Path, peers: Peers, real: bool, log: Callable[[str], None]) -> dict[str, Any]:
    import json

    sb = sbatch_logger(root / "sbatch-submitit", real=real)
    folder = root / "submitit"
    shutil.rmtree(folder, ignore_errors=True)
    r = run_timed([peers.bin("python"), str(BENCH / "peers" / "submitit_sweep.py"), str(folder), str(POINTS), "batch"], env=sb.env())
    if real:
        scancel(sb.job_ids())
    if r.returncode != 0:
        return {"error": f"exit {r.returncode}: {r.stderr.strip()[-300:]}"}
    info = json.loads(r.stdout.strip().splitlines()[-1])
    calls = sb.calls()
    jobs = 0
    for _, args in calls:
        script = Path(args.split()[-1])
        jobs += _array_elements(script) if script.exists() else 1
    res = {"sbatch_calls": len(calls), "jobs": jobs or info["points"], "array_jobs": len(info["array_ids"]),
           "how": "sbatch calls logged during `executor.map_array`"}  # fmt: skip
    if real:
        res["submit_s"] = r.seconds
        res["map_array_s"] = info["seconds"]
    log(f"  submitit  sbatch calls {res['sbatch_calls']}, jobs {res['jobs']}")
    return res


def _snakemake(root: Path, peers: Peers, real: bool, log: Callable[[str], None]) -> dict[str, Any]:
    snakefile = root / "Snakefile"
    snakefile.write_text(gen_snakefile.sweep_snakefile(POINTS))
    work = root / "snakemake-dry"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    argv = [peers.bin("snakemake"), "-s", str(snakefile), "-d", str(work), "--executor", "slurm", "--jobs", str(POINTS + 1)]
    dry = run_timed([*argv, "-n"], cwd=root)
    stats = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", dry.stdout, re.M))
    if dry.returncode != 0 or "total" not in stats:
        return {"error": f"snakemake -n exit {dry.returncode}: {(dry.stderr or dry.stdout).strip()[-300:]}"}
    local = int(stats.get("all", 0))  # `localrules: all` runs in the driver, not via sbatch
    res: dict[str, Any] = {
        "sbatch_calls": int(stats["total"]) - local, "jobs": int(stats["total"]) - local, "array_jobs": 0,
        "how": "`snakemake -n --executor slurm` job stats (one sbatch per job; `all` is local)",
    }  # fmt: skip
    if real:
        res.update(_snakemake_submit(root, argv, log))
    log(f"  snakemake sbatch calls {res['sbatch_calls']}, jobs {res['jobs']}")
    return res


def _snakemake_submit(root: Path, argv: list[str], log: Callable[[str], None]) -> dict[str, Any]:
    """Run the Slurm executor for real until every grid point is queued, then stop it.

    The data split is made beforehand so the 1,000 points are ready at once (otherwise the
    executor waits for the data job to finish first); the select job comes only after the
    points finish, so it is not part of this timing.
    """
    work = root / "snakemake-real"
    shutil.rmtree(work, ignore_errors=True)
    (work / "results" / "split").mkdir(parents=True)
    for name in ("train.nc", "test.nc"):
        (work / "results" / "split" / name).write_bytes(b"")
    argv = [a if a != str(root / "snakemake-dry") else str(work) for a in argv]
    sb = sbatch_logger(root / "sbatch-snakemake", real=True)
    t0 = time.time()
    with open(root / "snakemake-real.log", "w") as out:
        proc = subprocess.Popen(argv, cwd=root, env=sb.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = t0 + 600
    try:
        while time.time() < deadline and proc.poll() is None and len(sb.calls()) < POINTS:
            time.sleep(0.5)
        calls = sb.calls()
    finally:
        scancel(sb.job_ids())
        _stop(proc)
        scancel(sb.job_ids())  # anything it queued between the first cancel and its exit
    res: dict[str, Any] = {"sbatch_calls_logged": len(calls)}
    if len(calls) >= POINTS:
        res["submit_s"] = calls[POINTS - 1][0] - t0
    else:
        res["submit_error"] = f"queued {len(calls)} of {POINTS} points before stopping (see {root}/snakemake-real.log)"
    log(f"  snakemake real submission: {len(calls)} sbatch calls" + (f" in {res['submit_s']:.1f} s" if "submit_s" in res else ""))
    return res


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the snakemake process group this harness started (it waits for running jobs on
    SIGTERM, so escalate to SIGKILL after a grace period)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(peers: Peers, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    root = WORK / "sweep"
    root.mkdir(parents=True, exist_ok=True)
    up, why = slurm_up()
    result: dict[str, Any] = {"points": POINTS, "slurm": {"up": up, "detail": why}}
    result["mfile"] = _mfile(root, up, log)
    if peers.ok:
        result["submitit"] = _submitit(root, peers, up, log)
        # The real Snakemake submission takes ~20-40 s: full runs only.
        result["snakemake"] = _snakemake(root, peers, up and not quick, log)
        if up and quick:
            result["snakemake"]["submit_note"] = "not measured in --quick (takes ~30 s)"
    else:
        result["peers_unavailable"] = peers.reason
    if not up:
        result["submit_note"] = f"submission wall time not measured: {why}"
    return result
