"""End to end on the local Slurm: a job cancelled while its task writes its output leaves
nothing that looks complete, and ``mfile submit --resume`` redoes it (issue 6, scenario 6).

e2e/slow computes its column lazily, block by block, while the runtime writes the port, so
the port's temporary directory exists for seconds before it is renamed into place.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "e2e"))
from e2e_support import (  # noqa: E402
    Jobs,
    by_id,
    compile_run_dir,
    jobs,  # noqa: F401  (fixture)
    logs_of,
    mfile,
    read_port,
    wait_final,
    wait_for,
    write_mfile,
)

pytestmark = pytest.mark.e2e


def test_a_job_cancelled_mid_write_leaves_nothing_complete_and_resume_redoes_it(
    tmp_path: Path, jobs: Jobs  # noqa: F811
) -> None:
    run_dir = compile_run_dir(write_mfile(tmp_path, "cancel.mfile"), tmp_path / "out", "cancelled")
    task_dir = run_dir / "data" / "slow"
    first = jobs.submit(run_dir)

    def writing() -> bool:
        return any(p.is_file() for p in task_dir.glob(".output.tmp-*/part-*.nc"))

    wait_for(writing, "the slow task to start writing its output", timeout=120, poll=0.02)
    subprocess.run(["scancel", first["slow"]], check=True, timeout=30)
    records = by_id(wait_final(first.values()))
    assert records[first["slow"]]["JobState"] == "CANCELLED", logs_of(run_dir)
    assert records[first["after"]]["JobState"] == "CANCELLED"
    assert records[first["after"]]["Reason"] == "DependencyNeverSatisfied"

    # The write really was cut short: its temporary directory is still there, unfinished ...
    leftovers = sorted(p.name for p in task_dir.iterdir())
    temps = [p for p in task_dir.glob(".output.tmp-*")]
    assert temps and not any((t / "port.json").exists() for t in temps), leftovers
    # ... and nothing looks complete: no completion record, no port under its final name.
    assert not (run_dir / "state" / "slow.json").exists()
    assert not (task_dir / "output").exists()
    assert all(name.startswith(".") for name in leftovers), leftovers
    status = mfile("status", run_dir)
    assert status.returncode == 1
    assert next(x for x in status.stdout.splitlines() if x.startswith("slow ")).split()[1] == "cancelled"

    second = jobs.submit(run_dir, "--resume")
    assert list(second) == ["slow", "after"]
    records = by_id(wait_final(second.values()))
    assert {records[j]["JobState"] for j in second.values()} == {"COMPLETED"}, logs_of(run_dir)
    for task, job_id in second.items():
        assert json.loads((run_dir / "state" / f"{task}.json").read_text())["job_id"] == job_id
    assert sorted(p.name for p in task_dir.iterdir()) == ["output"]  # the killed run's leftovers are gone
    x = read_port(task_dir / "output")["x"].values
    np.testing.assert_array_equal(x, np.arange(20 * 500, dtype="float64"))
    assert read_port(run_dir / "data" / "after" / "output").sizes["sample"] == 20 * 500
