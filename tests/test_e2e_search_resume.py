"""End to end on the local Slurm: a hyperparameter search cancelled between its grid points,
then ``mfile submit --resume`` (issue 6, scenario 6 for a job array).

The search runs one grid point at a time (``max_parallel=1``: ``%1``). Cancelling the array
after point 0 finished must leave the search not done (no completion record, no best_model
link): the select job runs once the points have ended (afterany) and fails, because one of
three points is fewer than the half of the grid a search needs by default; the resumed array
must redo only the points that are missing (point 0's record is kept and its element skips
it) and then select the best.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "e2e"))
from e2e_support import (  # noqa: E402
    Jobs,
    by_id,
    compile_run_dir,
    job_records,
    jobs,  # noqa: F401  (fixture)
    logs_of,
    mfile,
    wait_final,
    wait_for,
    write_mfile,
)

pytestmark = pytest.mark.e2e


def test_a_search_cancelled_between_points_resumes_with_the_missing_points_only(
    tmp_path: Path, jobs: Jobs  # noqa: F811
) -> None:
    run_dir = compile_run_dir(write_mfile(tmp_path, "search.mfile"), tmp_path / "out", "tune")
    assert "#SBATCH --array=0-2%1" in (run_dir / "jobs" / "search.sbatch").read_text()
    point = run_dir / "state" / "search"

    first = jobs.submit(run_dir)
    assert list(first) == ["src", "search", "search.select"]
    array = first["search"]

    def point0_ended() -> bool:
        return by_id(job_records([array])).get(f"{array}_0", {}).get("JobState") == "COMPLETED"

    wait_for(point0_ended, "array element 0 to complete", timeout=120, poll=0.1)
    subprocess.run(["scancel", array], check=True, timeout=30)
    final = wait_final(first.values())
    records = by_id(final)
    assert records[f"{array}_0"]["JobState"] == "COMPLETED", logs_of(run_dir)
    rest = [r for r in final if r.get("ArrayJobId") == array and r.get("ArrayTaskId") != "0"]
    assert rest and {r["JobState"] for r in rest} == {"CANCELLED"}  # points 1-2 (one record while pending)
    assert records[first["search.select"]]["JobState"] == "FAILED"
    select_log = next((run_dir / "logs").glob(f"*-{first['search.select']}.err")).read_text()
    assert "1 of its 3 grid points succeeded, fewer than the 2 it needs" in select_log
    assert sorted(p.name for p in point.iterdir()) == ["point-0.json"]
    assert not (run_dir / "state" / "search.json").exists()
    assert not (run_dir / "data" / "search" / "best_model").exists()
    assert mfile("status", run_dir).returncode == 1

    kept = (point / "point-0.json").read_bytes()
    second = jobs.submit(run_dir, "--resume")
    assert list(second) == ["search", "search.select"]  # src is done: not queued again
    records = by_id(wait_final(second.values()))
    assert {r["JobState"] for r in records.values()} == {"COMPLETED"}, logs_of(run_dir)
    new = second["search"]
    assert sorted(k for k in records if k.startswith(f"{new}_")) == [f"{new}_0", f"{new}_1", f"{new}_2"]
    assert (point / "point-0.json").read_bytes() == kept
    assert "skipped: up to date" in next((run_dir / "logs").glob(f"*-{new}_0.err")).read_text()
    for i in (1, 2):
        assert json.loads((point / f"point-{i}.json").read_text())["job_id"] == f"{new}_{i}"
    assert json.loads((run_dir / "state" / "search.json").read_text())["job_id"] == second["search.select"]

    metrics = json.loads((run_dir / "data" / "search" / "metrics" / "metrics.json").read_text())
    assert [p["status"] for p in metrics["points"]] == ["done"] * 3
    best = min(metrics["points"], key=lambda p: p["value"])
    assert best["point"] == 1 and metrics["best"]["point"] == 1  # no penalty fits best (least squares)
    link = run_dir / "data" / "search" / "best_model"
    assert link.resolve() == (run_dir / "data" / "search" / "points" / "1" / "fit" / "model").resolve()
