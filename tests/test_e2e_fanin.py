"""End to end on the local Slurm: a job with two parents starts only after both have ended.

The expected edges are written here from the M-File (tests/fixtures/e2e/fanin.mfile), not
taken from what ``mfile submit`` recorded, so a dependency that submit drops fails the test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "e2e"))
from e2e_support import (  # noqa: E402
    Jobs,
    by_id,
    compile_run_dir,
    jobs,  # noqa: F401  (fixture)
    logs_of,
    wait_final,
    when,
    write_mfile,
)

pytestmark = pytest.mark.e2e

# What each task reads, as the M-File says it.
DECLARED = {"src": [], "split": ["src"], "fit": ["split"], "score": ["fit", "split"]}


def test_a_fan_in_waits_for_both_parents(tmp_path: Path, jobs: Jobs) -> None:  # noqa: F811
    run_dir = compile_run_dir(write_mfile(tmp_path, "fanin.mfile"), tmp_path / "out", "fanin")
    ids = jobs.submit(run_dir)
    assert set(ids) == set(DECLARED)
    records = by_id(wait_final(ids.values()))
    assert {records[ids[t]]["JobState"] for t in DECLARED} == {"COMPLETED"}, logs_of(run_dir)
    for task, parents in DECLARED.items():
        start = when(records[ids[task]], "StartTime")
        for parent in parents:
            end = when(records[ids[parent]], "EndTime")
            assert start >= end, f"{task} started {start}, before its parent {parent} ended {end}"
    # The slow parent (fit sleeps 4 s) ends well after the other one: score really waited for it.
    assert when(records[ids["fit"]], "EndTime") > when(records[ids["split"]], "EndTime")
    metrics = json.loads((run_dir / "data" / "score" / "metrics" / "metrics.json").read_text())
    assert metrics["rmse"] >= 0
