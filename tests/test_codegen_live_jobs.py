"""Recompiling over a run directory whose jobs are still in the queue is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "cases"


def compile_full(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mfile.cli", "compile", str(CASES / "ok" / "full_pipeline.mfile"),
         "--items", str(CASES / "items"), "--pipeline", "batch", "-o", str(out), *extra],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.e2e
def test_recompile_refuses_while_jobs_of_the_last_submission_are_queued(slurm_cluster, tmp_path: Path) -> None:
    assert compile_full(tmp_path).returncode == 0
    run_dir = tmp_path / "batch"
    job = subprocess.run(
        ["sbatch", "--parsable", "--time=1", f"--chdir={tmp_path}", "--output=/dev/null", "--wrap", "sleep 60"],
        capture_output=True, text=True, check=True,
    ).stdout.strip().split(";")[0]
    try:
        jobs = {"format": 1, "submitted_by": "test", "jobs": [{"name": "data", "task": "data", "kind": "task", "job_id": job}]}
        (run_dir / "state" / "jobs.json").write_text(json.dumps(jobs))
        refused = compile_full(tmp_path)
        assert refused.returncode == 2
        assert f"jobs {job} of the last submission" in refused.stderr
        assert (run_dir / "state" / "jobs.json").is_file()  # the old run directory is untouched
        assert compile_full(tmp_path, "--force").returncode == 0
    finally:
        subprocess.run(["scancel", job], check=False)
    # once the job has left the queue, recompiling is fine again
    (run_dir / "state" / "jobs.json").write_text(json.dumps(jobs))
    for _ in range(60):
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout.strip()
        if state in ("", "CANCELLED", "COMPLETED"):
            break
        time.sleep(0.5)
    assert compile_full(tmp_path).returncode == 0
