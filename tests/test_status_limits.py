"""``mfile status`` on a job Slurm ended for a resource limit (issue 14): it says which limit,
what the job asked for, and which task resource to raise.

The scheduler's answers are the captured outputs of the local cluster (tests/fixtures/slurm/)
with the failed job's state changed to what Slurm 22.05 prints for a job its cgroup killed for
memory (``JobState=OUT_OF_MEMORY Reason=OutOfMemory ExitCode=0:125``; sacct ``OUT_OF_MEMORY``
``0:125``) or that ran into its walltime (``TIMEOUT``, ``Reason=TimeLimit``, ``ExitCode=0:15``).
The local clusters run without cgroups, so no real job is killed for memory here (see
docs/architecture.md, faults).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mfile.commands.status import status_command
from mfile.slurm.query import CommandResult, SlurmQuery
from test_status import era5_run_dir, rows
from test_status_query import Fake, fixture, ids


def answers(state: str, reason: str, exit_code: str, accounting: bool) -> Fake:
    failed = ids()["failed"]
    squeue = fixture("squeue.txt").replace(f"{failed}|FAILED|0:00|vm|NonZeroExitCode",
                                           f"{failed}|{state}|0:07|vm|{reason}")
    scontrol = fixture("scontrol.txt").replace("JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 "
              "ExitCode=3:0", f"JobState={state} Reason={reason} Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 "
              f"Reboot=0 ExitCode={exit_code}", 1)
    assert f"JobState={state}" in scontrol and f"{failed}|{state}|" in squeue
    if accounting:
        sacct = CommandResult(0, f"{failed}|{state}|{exit_code}|7|vm\n", "")
    else:
        sacct = CommandResult(1, "", "Slurm accounting storage is disabled\n")
    return Fake({"squeue": CommandResult(0, squeue, ""), "sacct": sacct, "scontrol": CommandResult(0, scontrol, "")})


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    return era5_run_dir(tmp_path)  # the era5 task `normalize` is the captured job "failed"


@pytest.mark.parametrize("accounting", [True, False], ids=["sacct", "scontrol"])
def test_out_of_memory_names_the_memory_to_raise(run_dir: Path, accounting: bool) -> None:
    out = io.StringIO()
    code = status_command(run_dir, query=SlurmQuery(answers("OUT_OF_MEMORY", "OutOfMemory", "0:125", accounting)),
                          out=out)
    text = out.getvalue()
    assert code == 1
    line = " ".join(rows(text)["normalize"])
    assert rows(text)["normalize"][1] == "failed"
    assert "out of memory (--mem=65536M): raise normalize's memory" in line, text
    assert "configure(resources={'memory': ...})" in line and "mfile submit --resume" in line
    assert "exit 0:125" in line


def test_time_limit_names_the_time_to_raise(run_dir: Path) -> None:
    out = io.StringIO()
    status_command(run_dir, query=SlurmQuery(answers("TIMEOUT", "TimeLimit", "0:15", accounting=False)), out=out)
    line = " ".join(rows(out.getvalue())["normalize"])
    assert "time limit reached (--time=00:20:00): raise normalize's time" in line, out.getvalue()


def test_an_ordinary_failure_gets_no_resource_advice(run_dir: Path) -> None:
    out = io.StringIO()
    status_command(run_dir, query=SlurmQuery(answers("FAILED", "NonZeroExitCode", "3:0", accounting=False)), out=out)
    line = " ".join(rows(out.getvalue())["normalize"])
    assert "exit 3:0" in line and "raise" not in line
