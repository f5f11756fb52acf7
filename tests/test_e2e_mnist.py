"""End to end on the local Slurm: the MNIST example (issue 6, scenarios 1-3).

One submission of the example's batch pipeline (a test copy with 3 instead of 30 epochs)
serves three scenarios, each its own test:
1. it completes on Slurm with outputs and completion records, and scores what ``mfile run``
   scores (training is deterministic by seed);
2. the dependency chain is real: no job starts before the jobs it needs have ended;
3. the hyperparameter search is one throttled job array, and its select job links the best model.
``mfile run`` of the same M-File runs while the Slurm jobs do, to keep the wall time down.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "e2e"))
from e2e_support import (  # noqa: E402
    PYTHON,
    ROOT,
    Jobs,
    by_id,
    jobs_json,
    logs_of,
    mfile,
    ok,
    wait_final,
    when,
)

pytestmark = pytest.mark.e2e
EXAMPLE = ROOT / "examples" / "mnist"
PIPELINE = "batch_pipeline"
TASKS = ("get_data", "pre_process", "split", "hyperparameter_search", "deploy")
SEARCH = "hyperparameter_search"


@dataclass
class MnistRun:
    run_dir: Path
    local_dir: Path
    ids: dict[str, str]  # job name -> id, as mfile submit printed them
    records: list[dict[str, str]]  # Slurm's, every array element included
    dry_run: str


@pytest.fixture(scope="module")
def mnist(tmp_path_factory: pytest.TempPathFactory, slurm_cluster: object) -> Iterator[MnistRun]:
    tmp = tmp_path_factory.mktemp("e2e-mnist")
    text = (EXAMPLE / "mnist.mfile").read_text(encoding="utf-8")
    fast = text.replace('"epochs": 30', '"epochs": 3')
    assert fast != text, "the example no longer sets epochs to 30: update this test copy"
    (tmp / "mnist.mfile").write_text(fast, encoding="utf-8")
    (tmp / "items").symlink_to(EXAMPLE / "items")  # the M-File's own item root, as in the example
    subprocess.run([PYTHON, str(EXAMPLE / "prepare_data.py"), "--out", str(tmp / "data" / "digits.nc")],
                   check=True, capture_output=True, timeout=120)

    ok(mfile("compile", "mnist.mfile", "-o", "slurm", "--pipeline", PIPELINE, cwd=tmp))
    run_dir = tmp / "slurm" / PIPELINE
    dry_run = ok(mfile("submit", "--dry-run", run_dir)).stdout
    local = subprocess.Popen(
        [PYTHON, "-m", "mfile.cli", "run", "mnist.mfile", "--pipeline", PIPELINE, "-o", "local"],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    jobs = Jobs()
    try:
        ids = jobs.submit(run_dir)
        records = wait_final(ids.values(), timeout=300)
        local_out, _ = local.communicate(timeout=300)
        assert local.returncode == 0, f"mfile run failed:\n{local_out}"
        yield MnistRun(run_dir, tmp / "local" / PIPELINE, ids, records, dry_run)
    finally:
        if local.poll() is None:
            local.kill()
        jobs.cancel_all()


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "data" / SEARCH / "metrics" / "metrics.json").read_text())


def test_mnist_completes_on_slurm_and_scores_as_mfile_run(mnist: MnistRun) -> None:
    states = {(r["JobId"], r.get("ArrayTaskId", "")): r["JobState"] for r in mnist.records}
    assert set(states.values()) == {"COMPLETED"}, f"{states}\n{logs_of(mnist.run_dir)}"
    assert len(mnist.records) == len(mnist.ids) + 2  # the search's array job has 3 elements

    slurm_ids = by_id(mnist.records)
    for task in TASKS:
        record = json.loads((mnist.run_dir / "state" / f"{task}.json").read_text())
        assert record["status"] == "done"
        job = mnist.ids[f"{SEARCH}.select" if task == SEARCH else task]
        assert record["job_id"] == job, f"{task}'s record names job {record['job_id']}, Slurm ran it as {job}"
        assert job in slurm_ids
        for port in record["outputs"]:
            assert (mnist.run_dir / "data" / task / port).exists()
    model = mnist.run_dir / "data" / "deploy" / "model"
    assert {"MantikHeader", "model.json", "payload.py", "weights.pt"} <= {p.name for p in model.iterdir()}

    on_slurm, on_machine = _metrics(mnist.run_dir), _metrics(mnist.local_dir)
    assert [p["value"] for p in on_slurm["points"]] == [p["value"] for p in on_machine["points"]]
    assert on_slurm["best"] == on_machine["best"]
    assert on_slurm["metric"] == "accuracy" and on_slurm["best"]["value"] > 0.8


def test_no_job_starts_before_the_jobs_it_needs_have_ended(mnist: MnistRun) -> None:
    rows = jobs_json(mnist.run_dir)
    assert [r["job_id"] for r in rows] == list(mnist.ids.values())
    records = {}
    for r in mnist.records:  # every record of a job id (an array job has one per element)
        records.setdefault(r.get("ArrayJobId") or r["JobId"], []).append(r)
    waited = 0
    for row in rows:
        starts = [when(r, "StartTime") for r in records[row["job_id"]]]
        assert all(starts), f"{row['name']} never started"
        for dep in row["after"]:
            ends = [when(r, "EndTime") for r in records[dep]]
            assert min(starts) >= max(ends), f"{row['name']} started {min(starts)} before job {dep} ended {max(ends)}"
            waited += 1
        if row["after"]:
            assert "--kill-on-invalid-dep=yes" in _dry_run_line(mnist, row["name"])
            assert {r.get("KillOInInvalidDependent") for r in records[row["job_id"]]} == {"Yes"}
            submitted = when(records[row["job_id"]][0], "SubmitTime")
            assert min(starts) > submitted  # it was queued at once and really waited
    assert waited == 5  # a chain: pre_process, split, the array, select, deploy each wait for one job


def _dry_run_line(mnist: MnistRun, name: str) -> str:
    line = next(x for x in mnist.dry_run.splitlines() if x.endswith(f"jobs/{name}.sbatch"))
    return " ".join(shlex.split(line))


def test_the_search_is_one_throttled_job_array_whose_select_links_the_best_model(mnist: MnistRun) -> None:
    sbatch_calls = [x for x in mnist.dry_run.splitlines() if x.startswith("sbatch ")]
    assert len(sbatch_calls) == 6  # 4 tasks + 1 array for 3 grid points + 1 select
    assert sum(f"jobs/{SEARCH}.sbatch" in x for x in sbatch_calls) == 1
    rows = [r for r in jobs_json(mnist.run_dir) if r["task"] == SEARCH]
    assert [r["kind"] for r in rows] == ["array", "select"]

    array_id = mnist.ids[SEARCH]
    elements = [r for r in mnist.records if r.get("ArrayJobId") == array_id]
    assert sorted(int(r["ArrayTaskId"]) for r in elements) == [0, 1, 2]
    assert {r["ArrayTaskThrottle"] for r in elements} == {"2"}
    for r in elements:  # at each element's start, at most 2 elements were running
        t = when(r, "StartTime")
        running = [e for e in elements if when(e, "StartTime") <= t < when(e, "EndTime")]
        assert len(running) <= 2, f"{len(running)} elements ran at once despite %2"
    for point in range(3):  # each element ran its own grid point
        record = json.loads((mnist.run_dir / "state" / SEARCH / f"point-{point}.json").read_text())
        assert record["job_id"] == f"{array_id}_{point}"

    select = by_id(mnist.records)[mnist.ids[f"{SEARCH}.select"]]
    assert when(select, "StartTime") >= max(when(e, "EndTime") for e in elements)
    metrics = _metrics(mnist.run_dir)
    best = max(metrics["points"], key=lambda p: p["value"])
    link = mnist.run_dir / "data" / SEARCH / "best_model"
    assert link.is_symlink() and link.resolve() == (
        mnist.run_dir / "data" / SEARCH / "points" / str(best["point"]) / "train" / "model").resolve()
    assert metrics["best"]["point"] == best["point"]
    deployed = json.loads((mnist.run_dir / "data" / "deploy" / "model" / "model.json").read_text())
    assert deployed["params"]["batch_size"] == best["params"]["train"]["batch_size"]
