"""SlurmScheduler: argv (no shell), job-id parsing, transient errors; and (e2e, on the local
Slurm that the ``slurm_cluster`` fixture starts) compiled pipelines queued and run for real."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codegen_ir import HEADERS, SOURCE_INFO, mnist_program
from mfile.codegen.jobs import assemble_plan
from mfile.codegen.profile import load_profile
from mfile.codegen.render import write_run_dir
from mfile.commands.submit import submit_command
from mfile.diagnostics import Reporter
from mfile.slurm.scheduler import SchedulerError, SlurmScheduler, is_transient


def _fake_sbatch(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sbatch"
    path.write_text("#!/bin/bash\nprintf '%s\\n' \"$@\" >\"$(dirname \"$0\")/argv\"\n" + body)
    path.chmod(0o755)
    return path


def test_submit_passes_argv_without_a_shell_and_parses_the_id(tmp_path: Path) -> None:
    sbatch = _fake_sbatch(tmp_path, "echo '4711;juwels'\n")
    marker = tmp_path / "pwned"
    job_id = SlurmScheduler(sbatch=str(sbatch)).submit(Path("jobs/a.sbatch"), [f"--comment=$(touch {marker})"], tmp_path)
    assert job_id == "4711"
    assert (tmp_path / "argv").read_text().splitlines() == ["--parsable", f"--comment=$(touch {marker})", "jobs/a.sbatch"]
    assert not marker.exists()


@pytest.mark.parametrize("message,transient", [
    ("sbatch: error: Batch job submission failed: Socket timed out on send/recv operation", True),
    ("sbatch: error: Batch job submission failed: Resource temporarily unavailable", True),
    ("sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified", False),
    ("sbatch: error: Batch job submission failed: Requested node configuration is not available", False),
])
def test_failures_are_classified(tmp_path: Path, message: str, transient: bool) -> None:
    sbatch = _fake_sbatch(tmp_path, f"echo '{message}' >&2\nexit 1\n")
    with pytest.raises(SchedulerError) as info:
        SlurmScheduler(sbatch=str(sbatch)).submit(Path("x.sbatch"), [], tmp_path)
    assert info.value.transient is transient and is_transient(message) is transient
    assert message in str(info.value)


def test_missing_sbatch_and_garbage_output(tmp_path: Path) -> None:
    with pytest.raises(SchedulerError, match="not found"):
        SlurmScheduler(sbatch=str(tmp_path / "no-sbatch")).submit(Path("x"), [], tmp_path)
    with pytest.raises(SchedulerError, match="no job id"):
        SlurmScheduler(sbatch=str(_fake_sbatch(tmp_path, "echo hello\n"))).submit(Path("x"), [], tmp_path)


PROBE = r'''
import json, os, pathlib, sys
plan = pathlib.Path(sys.argv[3]); task = sys.argv[4]
record = {"rank": os.environ.get("RANK"), "argv": sys.argv[4:], "array": os.environ.get("SLURM_ARRAY_TASK_ID"), "world": os.environ.get("WORLD_SIZE"), "master": os.environ.get("MASTER_ADDR"),
          "params": next(t for t in json.loads(plan.read_text())["pipeline"]["tasks"] if t["id"] == task)["params"]}
(plan.parent / "probe").mkdir(exist_ok=True)
offset = int(sys.argv[sys.argv.index("--point-offset") + 1]) if "--point-offset" in sys.argv else 0
name = f"{task}.{record['rank']}" + (f".{int(record['array']) + offset}" if record["array"] else "") + (".select" if "--select" in sys.argv else "")
(plan.parent / "probe" / f"{name}.json").write_text(json.dumps(record))
'''


@pytest.mark.e2e
def test_a_compiled_pipeline_runs_on_the_local_slurm(tmp_path: Path, slurm_cluster) -> None:
    """The real chain: sbatch --parsable, --chdir, afterok edges, srun --mpi=pmix with 2 ranks."""
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    shim = tmp_path / "python"
    shim.write_text(f"#!/bin/bash\nexec {sys.executable} {probe} \"$@\"\n")
    shim.chmod(0o755)
    profile = load_profile("local").model_copy(update={"python": str(shim)})
    program = mnist_program(tasks=2, time="00:05:00")  # DDP on two ranks of the one node
    plan = assemble_plan(program, "mnist", profile, SOURCE_INFO, HEADERS, reporter := Reporter())
    assert plan is not None, [r.message for r in reporter.reports]
    run_dir = write_run_dir(plan, profile, tmp_path / "runs")
    out, err = io.StringIO(), io.StringIO()
    assert submit_command(run_dir, False, False, None, SlurmScheduler(), out=out, err=err) == 0, err.getvalue()
    ids = [line.split(": ")[1] for line in out.getvalue().splitlines()]
    assert len(ids) == 5 and all(i.isdigit() for i in ids)
    deadline = time.time() + 120
    while not (run_dir / "probe" / "save.0.json").exists():
        if time.time() > deadline:
            logs = {p.name: p.read_text() for p in (run_dir / "logs").iterdir()}
            pytest.fail(f"pipeline did not finish: {logs}")
        time.sleep(0.5)
    ranks = sorted(json.loads((run_dir / "probe" / f"train.{r}.json").read_text())["rank"] for r in (0, 1))
    assert ranks == ["0", "1"]
    train = json.loads((run_dir / "probe" / "train.0.json").read_text())
    assert train["world"] == "2" and train["master"]
    assert json.loads((run_dir / "probe" / "digits.0.json").read_text())["params"] == plan.task("digits").params
    assert json.loads((run_dir / "state" / "jobs.json").read_text())["jobs"][0]["job_id"] == ids[0]


@pytest.mark.e2e
def test_a_search_runs_as_a_real_job_array_then_its_select_job(tmp_path: Path, slurm_cluster) -> None:
    from codegen_ir import item, pipeline, program, search_spec, task
    from mfile.plan.ir import Resources

    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    shim = tmp_path / "python"
    shim.write_text(f"#!/bin/bash\nexec {sys.executable} {probe} \"$@\"\n")
    shim.chmod(0o755)
    spec = search_spec(points=3, throttle=2)
    spec = spec.model_copy(update={"steps": tuple(s.model_copy(update={"resources": Resources(time="00:05:00")}) for s in spec.steps)})
    tune = task("tune", "tune", None, 9, kind="search", search=spec)
    profile = load_profile("local").model_copy(update={"python": str(shim), "max_array_size": 2})
    plan = assemble_plan(program(pipeline("hp", [tune], {"tune": ["tune"]})), "hp", profile, SOURCE_INFO, HEADERS, Reporter())
    assert plan is not None
    run_dir = write_run_dir(plan, profile, tmp_path / "runs")
    assert "#SBATCH --array=0-1%2" in (run_dir / "jobs" / "tune.sbatch").read_text()
    assert "--point-offset 2" in (run_dir / "jobs" / "tune.part1.sbatch").read_text()
    out, err = io.StringIO(), io.StringIO()
    assert submit_command(run_dir, False, False, None, SlurmScheduler(), out=out, err=err) == 0, err.getvalue()
    deadline = time.time() + 120
    while not (run_dir / "probe" / "tune.0.select.json").exists():
        if time.time() > deadline:
            pytest.fail(f"search did not finish: {sorted(p.name for p in (run_dir / 'logs').iterdir())}")
        time.sleep(0.5)
    elements = sorted(p.name for p in (run_dir / "probe").glob("tune.0.?.json"))
    assert elements == ["tune.0.0.json", "tune.0.1.json", "tune.0.2.json"]  # points 0-1, then 2 (offset 2)
    last = json.loads((run_dir / "probe" / "tune.0.2.json").read_text())
    assert last["argv"] == ["tune", "--point-from-env", "--point-offset", "2"] and last["array"] == "0"
    logs = sorted(p.name for p in (run_dir / "logs").iterdir())
    assert any(name.startswith("hp.tune-") and name.endswith("_0.out") for name in logs)


SIGNAL_PROBE = r'''
import os, pathlib, signal, sys, time
plan = pathlib.Path(sys.argv[3]); probe = plan.parent / "probe"; probe.mkdir(exist_ok=True)
rank = os.environ.get("RANK")
stop = []
signal.signal(signal.SIGUSR1, lambda *a: stop.append(1))
(probe / f"ready.{rank}").write_text("1")
deadline = time.time() + 60
while not stop and time.time() < deadline:
    time.sleep(0.05)
(probe / f"stopped.{rank}").write_text("1" if stop else "0")
sys.exit(75 if stop else 3)
'''


@pytest.mark.e2e
def test_usr1_reaches_every_srun_rank_and_the_job_is_requeued(tmp_path: Path, slurm_cluster) -> None:
    """What --signal=B:USR1@120 does before the time limit, sent now with scancel --batch."""
    probe = tmp_path / "probe.py"
    probe.write_text(SIGNAL_PROBE)
    shim = tmp_path / "python"
    shim.write_text(f"#!/bin/bash\nexec {sys.executable} {probe} \"$@\"\n")
    shim.chmod(0o755)
    from codegen_ir import mnist_tasks, pipeline, program

    train = mnist_tasks(tasks=2, time="00:05:00")[2].model_copy(update={"inputs": ()})
    profile = load_profile("local").model_copy(update={"python": str(shim)})
    plan = assemble_plan(program(pipeline("sig", [train], {"train": ["train"]})), "sig", profile, SOURCE_INFO, HEADERS, Reporter())
    run_dir = write_run_dir(plan, profile, tmp_path / "runs")
    job_id = SlurmScheduler().submit(Path("jobs/train.sbatch"), [f"--chdir={run_dir}"], run_dir)
    try:
        deadline = time.time() + 60
        while not all((run_dir / "probe" / f"ready.{r}").exists() for r in (0, 1)):
            assert time.time() < deadline, "ranks did not start"
            time.sleep(0.2)
        subprocess.run(["scancel", "--signal=USR1", "--batch", job_id], check=True, timeout=30)
        deadline = time.time() + 60
        while True:
            info = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30).stdout
            if "Restarts=1" in info:
                break
            assert time.time() < deadline, info
            time.sleep(0.5)
        assert [(run_dir / "probe" / f"stopped.{r}").read_text() for r in (0, 1)] == ["1", "1"]
        log = next((run_dir / "logs").glob("sig.train-*.err")).read_text()
        assert "requeueing job" in log
    finally:
        subprocess.run(["scancel", job_id], timeout=30)
