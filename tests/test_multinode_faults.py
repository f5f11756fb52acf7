"""Faults that need a cluster of its own (issue 14, item 3), on the two-node cluster ``localmulti``:
the single-node cluster is shared by every e2e test and is never restarted.

1. slurmctld is restarted (``scripts/local-slurm.sh restart-ctld --nodes 2``: stopped, so it
   saves its state, and started on that state) while a chain of three jobs is queued and
   running: the running job goes on, the queued ones keep their dependencies, the chain
   completes with the result of an undisturbed run, and ``mfile status`` says so.

2. The time limit arrives during training (``--time=00:01:00``, the profile's warning 40 s before
   it): the job's shell passes USR1 on, the runtime checkpoints and exits 75, the script runs
   ``scontrol requeue``, and the next run continues from the checkpoint's epoch (not epoch 1)
   until the training is done; every epoch is trained once. The training is e2e/epochs, whose
   epochs sleep one second: mfile/mlp's epochs take 3x longer on a loaded machine than on an idle
   one, so no epoch count both outlasts the warning and fits a few runs everywhere.

Both run on localmulti because a requeued job there waits cred_expire = 10 s before it starts
again (120 s on the single-node cluster). (A node failing under a running job is
tests/test_multinode.py's node-down test.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from conftest import SCRIPT, MultiNodeCluster
from mfile.codegen.profile import PROFILE_DIR

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "e2e"))
from e2e_support import (  # noqa: E402
    PYTHON,
    Jobs,
    by_id,
    compile_run_dir,
    job_records,
    logs_of,
    read_port,
    wait_final,
    wait_for,
)

pytestmark = [pytest.mark.multinode, pytest.mark.slow]

HERE = Path(__file__).parent / "fixtures" / "multinode"
PROFILE = "local-multinode"


@pytest.fixture
def jobs(multinode_env: MultiNodeCluster) -> Iterator[Jobs]:
    tracker = Jobs()
    try:
        yield tracker
    finally:
        tracker.cancel_all()


def mfile_env(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "mfile.cli", *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False, env=env)


def test_a_slurmctld_restart_while_a_chain_is_queued_and_running_loses_nothing(
    tmp_path: Path, jobs: Jobs, multinode_env: MultiNodeCluster
) -> None:
    source = tmp_path / "chain.mfile"
    source.write_text((HERE / "chain.mfile").read_text())
    run_dir = compile_run_dir(source, tmp_path / "out", "chain", "--profile", PROFILE)
    t0 = time.monotonic()
    ids = jobs.submit(run_dir)
    assert list(ids) == ["slow", "middle", "last"]

    def slow_running() -> bool:
        records = by_id(job_records(ids.values()))
        return records.get(ids["slow"], {}).get("JobState") == "RUNNING"

    wait_for(slow_running, "the first job of the chain to run", timeout=60, poll=0.2)
    restart = subprocess.run(["bash", str(SCRIPT), "restart-ctld", "--nodes", "2"], capture_output=True, text=True,
                             timeout=120)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    restarted = time.monotonic()
    # The restarted controller knows the chain as it was: one running, two waiting on it.
    records = by_id(job_records(ids.values()))
    assert records[ids["slow"]]["JobState"] in ("RUNNING", "COMPLETING", "COMPLETED"), records[ids["slow"]]
    assert {records[ids[n]]["JobState"] for n in ("middle", "last")} <= {"PENDING", "RUNNING", "COMPLETED"}
    assert records[ids["slow"]]["Restarts"] == "0"  # not requeued: it ran through the restart

    records = by_id(wait_final(ids.values(), timeout=180))
    assert {r["JobState"] for r in records.values()} == {"COMPLETED"}, logs_of(run_dir)
    assert all(r["Restarts"] == "0" for r in records.values())
    out = read_port(run_dir / "data" / "last" / "output")["x"].values
    x = np.arange(2400, dtype="float64")
    np.testing.assert_allclose(out, (x - x.mean()) / x.std(), rtol=1e-12, atol=1e-12)
    status = mfile_env("status", run_dir, env=multinode_env.env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert ": 3 completed (submitted" in status.stdout.splitlines()[0], status.stdout
    print(f"slurmctld restart under a chain: {time.monotonic() - t0:.1f} s, "
          f"{time.monotonic() - restarted:.1f} s of it after the restart")


TIMELIMIT_EPOCHS = 55  # of 1 s each: the warning is due 20 s into the job, and comes within ~30 s of that
WARNING_S = 40  # the test profile's signal_seconds: USR1 20 s into a one-minute job


def test_the_time_limit_during_training_checkpoints_requeues_and_continues_the_epochs(
    tmp_path: Path, jobs: Jobs, multinode_env: MultiNodeCluster
) -> None:
    profile = tmp_path / "short-warning.toml"
    text = (PROFILE_DIR / f"{PROFILE}.toml").read_text()
    profile.write_text(re.sub(r"(?m)^signal_seconds = \d+$", f"signal_seconds = {WARNING_S}", text))
    source = tmp_path / "timelimit.mfile"
    source.write_text((HERE / "timelimit.mfile").read_text().replace("@EPOCHS@", str(TIMELIMIT_EPOCHS)))
    run_dir = compile_run_dir(source, tmp_path / "out", "timelimit", "--profile", str(profile))
    script = (run_dir / "jobs" / "fit.sbatch").read_text()
    for line in ("#SBATCH --time=00:01:00", f"#SBATCH --signal=B:USR1@{WARNING_S}", "#SBATCH --requeue"):
        assert line in script, script
    t0 = time.monotonic()
    ids = jobs.submit(run_dir)
    job = ids["fit"]
    records = by_id(wait_final(ids.values(), timeout=420, poll=1.0))
    log = next((run_dir / "logs").glob(f"*-{job}.err")).read_text(errors="replace")
    states = {name: (records[i]["JobState"], records[i]["ExitCode"], records[i]["Reason"]) for name, i in ids.items()}
    assert {r["JobState"] for r in records.values()} == {"COMPLETED"}, f"{states}\n{log}"
    restarts = int(records[job]["Restarts"])
    assert restarts >= 1, log

    # Each run but the last: a checkpoint on the warning, then the requeue.
    stops = [int(e) for e in re.findall(r"stop requested: checkpoint at epoch (\d+)", log)]
    assert len(stops) == restarts and log.count(f"requeueing job {job}") == restarts, log
    assert "DUE TO TIME LIMIT" not in log, log  # it never ran into the limit itself
    # Each run after the first: resumes at the epoch the previous one checkpointed.
    resumed = [int(e) for e in re.findall(r"resuming from \S+: epoch (\d+)", log)]
    assert resumed == stops, log
    finished = [int(e) for e in re.findall(rf"\] epoch (\d+)/{TIMELIMIT_EPOCHS} ", log)]
    assert finished == list(range(1, TIMELIMIT_EPOCHS + 1)), finished  # every epoch once, in order
    assert finished.count(1) == 1 and stops[0] > 0  # not restarted from scratch

    record = json.loads((run_dir / "state" / "fit.json").read_text())
    assert record["status"] == "done" and record["job_id"] == job
    assert json.loads((run_dir / "data" / "fit" / "model" / "weights.json").read_text()) == {"epochs": TIMELIMIT_EPOCHS}
    status = mfile_env("status", run_dir, env=multinode_env.env)
    assert status.returncode == 0 and ": 2 completed (submitted" in status.stdout.splitlines()[0], status.stdout
    print(f"time limit during training: {time.monotonic() - t0:.1f} s, {restarts} requeue(s), "
          f"checkpoints at epochs {stops}")
