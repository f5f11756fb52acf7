"""``mfile status --watch`` against the real local Slurm: jobs named like codegen's, one of them
failing; status waits until all are final, shows the failure with its log, the cancelled
dependent and the array's counts, and asks Slurm politely (one squeue per refresh)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import pytest

from conftest import SlurmCluster
from mfile.slurm.query import CommandResult, SlurmQuery, run_command
from mfile.commands.status import status_command
from test_status import era5_run_dir, rows

pytestmark = pytest.mark.e2e


def sbatch(run_dir: Path, name: str, command: str, *options: str) -> str:
    array = any(o.startswith("--array") for o in options)
    log = f"logs/era5.{name}-%A_%a" if array else f"logs/era5.{name}-%j"
    proc = subprocess.run(
        ["sbatch", "--parsable", f"--job-name=era5.{name}", f"--chdir={run_dir}", f"--output={log}.out",
         f"--error={log}.err", "--kill-on-invalid-dep=yes", *options, "--wrap", command],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return proc.stdout.strip().split(";")[0]


def test_watch_a_run_with_a_failure(slurm_cluster: SlurmCluster, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    run = era5_run_dir(tmp_path, {n: "0" for n in ("era5", "normalize", "train", "tune", "tune.select", "save")})
    ids = {"era5": sbatch(run, "era5", "echo read")}
    ids["normalize"] = sbatch(run, "normalize", "echo 'Traceback (most recent call last):' >&2; "
                              "echo 'RuntimeError: the item raised' >&2; exit 1", f"--dependency=afterok:{ids['era5']}")
    ids["train"] = sbatch(run, "train", "echo never", f"--dependency=afterok:{ids['normalize']}")
    ids["tune"] = sbatch(run, "tune", "sleep 1", "--array=0-2%2")
    ids["tune.select"] = sbatch(run, "tune.select", "echo best", f"--dependency=afterok:{ids['tune']}")
    ids["save"] = sbatch(run, "save", "echo saved", f"--dependency=afterok:{ids['tune.select']}")
    data = (run / "state" / "jobs.json").read_text()
    jobs = json.loads(data)
    for row in jobs["jobs"]:
        row["job_id"] = ids[row["name"]]
    (run / "state" / "jobs.json").write_text(json.dumps(jobs))

    calls: list[list[str]] = []

    def runner(argv: Sequence[str]) -> CommandResult:
        calls.append(list(argv))
        return run_command(argv)

    refreshes: list[list[str]] = []

    def sleep(seconds: float) -> None:
        refreshes.append([c[0] for c in calls])
        calls.clear()
        time.sleep(seconds)

    out = io.StringIO()
    code = status_command(run, watch=True, interval=0.5, query=SlurmQuery(runner), out=out, sleep=sleep)
    refreshes.append([c[0] for c in calls])
    assert code == 1
    text = out.getvalue()
    final = rows(text.split("\n\n")[-1])
    assert final["era5"][1:3] == ["completed", ids["era5"]]
    assert final["normalize"][1:3] == ["failed", ids["normalize"]] and "exit 1:0" in " ".join(final["normalize"])
    assert final["train"][1] == "cancelled" and "a job it needs failed" in " ".join(final["train"])
    assert final["tune"][1:3] == ["completed", f"{ids['tune']}[3]"]
    assert "3 elements: 3 completed" in " ".join(final["tune"])
    assert final["tune.select"][1] == "completed" and final["save"][1] == "completed"
    assert final["save"][4] == slurm_cluster.node
    assert f"logs/era5.normalize-{ids['normalize']}.err (last 2 lines):" in text
    assert "    | RuntimeError: the item raised" in text
    # Politeness: one squeue per refresh, at most one detail call (sacct's refusal, which the
    # client answers from its own config, is learned once and not repeated).
    for commands in refreshes:
        assert commands.count("squeue") == 1 and commands.count("scontrol") <= 1, refreshes
    assert sum(c.count("sacct") for c in refreshes) <= 1, refreshes

    # The command line gives the same verdict (exit 1) without --watch.
    cli = subprocess.run([sys.executable, "-m", "mfile.cli", "status", str(run)], capture_output=True, text=True,
                         timeout=60)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert rows(cli.stdout)["normalize"][1] == "failed"
