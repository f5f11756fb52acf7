"""End to end on the local Slurm: a data-parallel task on 2 MPI ranks under ``srun --mpi=pmix``
equals the same task on 1 rank (issue 6, scenario 4); ``mfile status --watch`` follows the
run until every task is final and exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "e2e"))
from e2e_support import (  # noqa: E402
    PYTHON,
    by_id,
    compile_run_dir,
    jobs,  # noqa: F401  (fixture)
    Jobs,
    logs_of,
    read_port,
    wait_final,
    write_mfile,
)

pytestmark = pytest.mark.e2e


def test_two_ranks_under_srun_pmix_give_the_one_rank_output(tmp_path: Path, jobs: Jobs) -> None:  # noqa: F811
    source = write_mfile(tmp_path, "dataparallel.mfile")
    single = compile_run_dir(source, tmp_path / "out", "single")
    ranks2 = compile_run_dir(source, tmp_path / "out", "ranks2")
    script = (ranks2 / "jobs" / "two.sbatch").read_text()
    assert "#SBATCH --ntasks=2" in script and "srun --mpi=pmix " in script

    ids1 = jobs.submit(single)
    ids2 = jobs.submit(ranks2)
    # --watch started while the jobs are queued: it must refresh until all are final, then exit 0.
    watch = subprocess.run([PYTHON, "-m", "mfile.cli", "status", str(ranks2), "--watch", "--interval", "0.5"],
                           capture_output=True, text=True, timeout=240, check=False)
    records = by_id(wait_final([*ids1.values(), *ids2.values()], timeout=240))
    assert {r["JobState"] for r in records.values()} == {"COMPLETED"}, logs_of(single) + logs_of(ranks2)

    assert watch.returncode == 0, watch.stdout + watch.stderr
    blocks = watch.stdout.split(f"{ranks2}: ")[1:]
    assert len(blocks) >= 2, f"--watch printed one state only:\n{watch.stdout}"
    assert not blocks[0].startswith("2 completed")  # it saw the jobs before they ended
    assert blocks[-1].splitlines()[0].startswith("2 completed")
    assert [line.split()[1] for line in blocks[-1].splitlines()[2:]] == ["completed", "completed"]

    two = records[ids2["two"]]
    assert two["NumTasks"] == "2"
    record = json.loads((ranks2 / "state" / "two.json").read_text())
    assert record["ranks"] == 2 and record["job_id"] == ids2["two"]
    assert json.loads((single / "state" / "one.json").read_text())["ranks"] == 1
    log = next((ranks2 / "logs").glob(f"*-{ids2['two']}.err")).read_text()
    assert "[two r0/2" in log and "[two r1/2" in log, log  # both MPI ranks ran and knew the world size

    parts = sorted(p.name for p in (ranks2 / "data" / "two" / "output").glob("part-*.nc"))
    assert parts == ["part-0000.nc", "part-0001.nc"]  # each rank wrote its slice
    out1 = read_port(single / "data" / "one" / "output")
    out2 = read_port(ranks2 / "data" / "two" / "output")
    assert out2.sizes == out1.sizes == {"sample": 1001}
    np.testing.assert_array_equal(out2["sample"].values, out1["sample"].values)
    np.testing.assert_array_equal(out2["label"].values, out1["label"].values)
    assert np.allclose(out2["x"].values, out1["x"].values, rtol=1e-12, atol=1e-12)
    # and it really is the global z-score, not per-rank statistics
    x = read_port(single / "data" / "src" / "output")["x"].values
    assert np.allclose(out2["x"].values, (x - x.mean()) / x.std(), rtol=1e-12, atol=1e-12)
    stats1 = json.loads((single / "data" / "one" / "stats" / "stats.json").read_text())
    stats2 = json.loads((ranks2 / "data" / "two" / "stats" / "stats.json").read_text())
    assert stats1.keys() == stats2.keys() and all(np.isclose(stats1[k], stats2[k], rtol=1e-12) for k in stats1)
