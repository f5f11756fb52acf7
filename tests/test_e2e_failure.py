"""End to end on the local Slurm: a failing task, then ``mfile submit --resume`` after the fix
(issue 6, scenario 5).

``flaky`` raises until its flag file says "fixed". Its job must end FAILED, the job that needs
it must be cancelled by Slurm without ever running (--kill-on-invalid-dep), and ``mfile status``
must name the failed task, show the end of its log and exit 1. After the fix (the flag file;
no recompile), ``--resume`` queues exactly the failed task and its dependent, and leaves the
tasks that completed alone.
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
    PYTHON,
    Jobs,
    by_id,
    compile_run_dir,
    jobs,  # noqa: F401  (fixture)
    jobs_json,
    logs_of,
    mfile,
    read_port,
    wait_final,
    write_mfile,
)

pytestmark = pytest.mark.e2e


def test_a_failed_task_stops_its_dependents_and_resume_redoes_only_what_is_left(
    tmp_path: Path, jobs: Jobs  # noqa: F811
) -> None:
    flag = tmp_path / "flag"
    flag.write_text("broken\n")
    run_dir = compile_run_dir(write_mfile(tmp_path, "failing.mfile", {"FLAG": str(flag)}), tmp_path / "out", "chain")

    first = jobs.submit(run_dir)
    assert list(first) == ["src", "side", "flaky", "after"]
    # --watch, started while the jobs are queued, ends once every job is final: exit 1 (a failure).
    watch = subprocess.run([PYTHON, "-m", "mfile.cli", "status", str(run_dir), "--watch", "--interval", "0.5"],
                           capture_output=True, text=True, timeout=240, check=False)
    assert watch.returncode == 1, watch.stdout + watch.stderr
    records = by_id(wait_final(first.values(), timeout=5))
    states = {name: records[job_id]["JobState"] for name, job_id in first.items()}
    assert states == {"src": "COMPLETED", "side": "COMPLETED", "flaky": "FAILED", "after": "CANCELLED"}, \
        logs_of(run_dir)
    assert records[first["flaky"]]["ExitCode"] == "1:0"
    after = records[first["after"]]
    assert after["Reason"] == "DependencyNeverSatisfied"
    # mfile asked for it per job: on a site without DependencyParameters=kill_invalid_depend the
    # job would otherwise wait forever (scontrol shows the field only when the job set it)
    assert after.get("KillOInInvalidDependent") == "Yes"
    assert after.get("NodeList", "") in ("", "(null)")  # never given a node
    assert not list((run_dir / "logs").glob(f"*-{first['after']}.*"))  # its script never started
    for task in ("flaky", "after"):
        assert not (run_dir / "state" / f"{task}.json").exists()
        assert not (run_dir / "data" / task / "output").exists()

    status = mfile("status", run_dir)
    assert status.returncode == 1, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    flaky_line = next(line for line in lines if line.startswith("flaky "))
    assert flaky_line.split()[1:3] == ["failed", first["flaky"]]
    assert next(line for line in lines if line.startswith("after ")).split()[1] == "cancelled"
    tail = lines[lines.index(flaky_line) + 1:]
    assert "last" in tail[0] and f"flaky-{first['flaky']}.err" in tail[0]
    assert any("flaky item is broken: flag says 'broken'" in line for line in tail)

    done_before = {t: (run_dir / "state" / f"{t}.json").read_bytes() for t in ("src", "side")}
    flag.write_text("fixed\n")
    second = jobs.submit(run_dir, "--resume")
    assert list(second) == ["flaky", "after"]
    assert not set(second.values()) & set(first.values())
    rows = {r["name"]: r for r in jobs_json(run_dir)}
    assert {n: r["job_id"] for n, r in rows.items()} == {
        "src": first["src"], "side": first["side"], "flaky": second["flaky"], "after": second["after"]}
    assert rows["flaky"]["after"] == [] and rows["after"]["after"] == [second["flaky"]]

    records = by_id(wait_final(second.values()))
    assert {records[j]["JobState"] for j in second.values()} == {"COMPLETED"}, logs_of(run_dir)
    for task, job_id in second.items():
        assert json.loads((run_dir / "state" / f"{task}.json").read_text())["job_id"] == job_id
    assert {t: (run_dir / "state" / f"{t}.json").read_bytes() for t in done_before} == done_before  # not redone
    assert mfile("status", run_dir).returncode == 0

    x = read_port(run_dir / "data" / "src" / "output")["x"].values
    np.testing.assert_array_equal(read_port(run_dir / "data" / "flaky" / "output")["x"].values, 2 * x)
    final = read_port(run_dir / "data" / "after" / "output")["x"].values
    assert np.allclose(final, (2 * x - (2 * x).mean()) / (2 * x).std(), rtol=1e-12, atol=1e-12)
