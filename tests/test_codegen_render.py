"""The run directory: plan.json contents, atomic writes, what a recompile keeps; the budget."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from codegen_ir import HEADERS, HOSTILE, SOURCE_INFO, era5_program, mnist_program
from mfile import __version__
from mfile.codegen import render
from mfile.codegen.budget import budget_table, job_costs
from mfile.codegen.jobs import assemble_plan
from mfile.codegen.profile import load_profile
from mfile.codegen.render import write_run_dir
from mfile.diagnostics import Reporter
from mfile.plan import manifest


@pytest.fixture(autouse=True)
def _account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf, other")


def _plan(program=None, pipeline="mnist", profile_name="juwels-booster"):
    profile = load_profile(profile_name)
    plan = assemble_plan(program or mnist_program(), pipeline, profile, SOURCE_INFO, HEADERS, Reporter())
    assert plan is not None
    return plan, profile


def test_plan_json_records_what_reproduces_the_run(tmp_path: Path) -> None:
    plan, profile = _plan()
    run_dir = write_run_dir(plan, profile, tmp_path)
    data = json.loads((run_dir / "plan.json").read_text())
    assert data["mfile_version"] == __version__
    assert data["source"] == {"path": SOURCE_INFO.path, "sha256": SOURCE_INFO.sha256}
    assert data["headers"][0]["sha256"] == "0" * 64
    assert data["profile"] == {"name": "juwels-booster", "container": "apptainer", "mpi": "srun", "interconnect_suffix": "i",
                               "gpu_required": True, "gpu_environment": profile.gpu_environment()}
    assert "mfile-cuda.sif" in data["profile"]["gpu_environment"] and "module load Stages/" in data["profile"]["gpu_environment"]
    assert data["extra"]["slurm"]["account"] == "deepacf"  # the first of $BUDGET_ACCOUNTS
    assert data["extra"]["slurm"]["profile_sha256"] == profile.sha256
    assert "demo/mnist-cnn:1.0" in data["extra"]["items"]
    # Hostile parameters are data: byte-for-byte in plan.json, nowhere in a script.
    assert data["pipeline"]["tasks"][0]["params"] == {"note": HOSTILE[0], "cmd": HOSTILE[1]}
    assert manifest.load_plan(run_dir / "plan.json") == plan
    for script in list((run_dir / "jobs").iterdir()) + [run_dir / "submit.sh"]:
        text = script.read_text()
        assert "reboot" not in text and "touch" not in text and "`id`" not in text
    assert sorted(p.name for p in run_dir.iterdir()) == ["data", "jobs", "logs", "plan.json", "state", "submit.sh"]
    assert (run_dir / "submit.sh").stat().st_mode & 0o111


def test_recompile_keeps_completed_tasks_unless_forced(tmp_path: Path) -> None:
    plan, profile = _plan()
    run_dir = write_run_dir(plan, profile, tmp_path)
    (run_dir / "state" / "digits.json").write_text(json.dumps({"status": "done"}))
    (run_dir / "data" / "digits" / "output").mkdir(parents=True)
    (run_dir / "data" / "digits" / "output" / "part.nc").write_text("data")
    (run_dir / "state" / "split.json").write_text(json.dumps({"status": "failed"}))
    (run_dir / "data" / "split").mkdir()
    (run_dir / "logs" / "mnist.digits-1.out").write_text("log")
    write_run_dir(plan, profile, tmp_path)
    assert (run_dir / "data" / "digits" / "output" / "part.nc").read_text() == "data"
    assert (run_dir / "state" / "digits.json").exists()
    assert not (run_dir / "state" / "split.json").exists() and not (run_dir / "data" / "split").exists()
    assert (run_dir / "logs" / "mnist.digits-1.out").exists()
    write_run_dir(plan, profile, tmp_path, force=True)
    assert not (run_dir / "state" / "digits.json").exists() and not (run_dir / "data" / "digits").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["mnist"]  # no temporary directories left


def test_a_failed_render_leaves_the_previous_run_dir_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan, profile = _plan()
    run_dir = write_run_dir(plan, profile, tmp_path)
    before = (run_dir / "jobs" / "train.sbatch").read_text()

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(render, "render_scripts", boom)
    with pytest.raises(RuntimeError):
        write_run_dir(plan, profile, tmp_path)
    assert (run_dir / "jobs" / "train.sbatch").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mnist"]


def test_budget_counts_whole_nodes_on_juwels_and_every_array_element() -> None:
    plan, profile = _plan(era5_program(), "era5")
    costs = {c.job: c for c in job_costs(plan, profile)}
    # train: 2 booster nodes for 2 h, 4 GPUs each.
    assert (costs["train"].node_hours, costs["train"].core_hours, costs["train"].gpu_hours) == (4.0, 192.0, 16.0)
    # tune: 6 points of 1 node x 1 h with 1 GPU; the select job: 15 min on one node.
    assert (costs["tune"].elements, costs["tune"].node_hours, costs["tune"].gpu_hours) == (6, 6.0, 6.0)
    assert costs["tune.select"].node_hours == 0.25
    table = budget_table(plan, profile)
    assert table.splitlines()[0] == "budget estimate for era5 on juwels-booster (requested walltimes):"
    total = table.splitlines()[-1].split()
    assert total[0] == "total" and float(total[-1]) == sum(c.gpu_hours for c in costs.values())


def test_budget_on_shared_nodes_counts_requested_cores() -> None:
    plan, profile = _plan(mnist_program(tasks=2, cpus_per_task=2, time="01:00:00"), "mnist", "local")
    costs = {c.job: c for c in job_costs(plan, profile)}
    assert costs["train"].core_hours == 4.0 and costs["train"].gpu_hours == 0.0


def test_budget_counts_physical_cores_where_slurm_counts_threads() -> None:
    """JSC's unit: a Booster node-hour is 48 core-hours, although Slurm gives 96 CPUs; on a
    shared node with 2 threads per core, 4 CPUs are 2 cores."""
    plan, profile = _plan(mnist_program(gpus=4, time="01:00:00"), "mnist")
    assert plan.task("train").resources.cpus_per_task == 24
    assert {c.job: c for c in job_costs(plan, profile)}["train"].core_hours == 48.0
    shared = profile.model_copy(update={"exclusive_nodes": False})
    plan, _ = _plan(mnist_program(gpus=1, cpus_per_task=4, time="01:00:00"), "mnist")
    assert {c.job: c for c in job_costs(plan, shared)}["train"].core_hours == 2.0


def test_recompile_keeps_the_finished_points_of_an_unfinished_search(tmp_path: Path) -> None:
    plan, profile = _plan(era5_program(), "era5")
    run_dir = write_run_dir(plan, profile, tmp_path)
    point_record = manifest.point_state_path(run_dir, "tune", 1)
    point_record.parent.mkdir(parents=True)
    point_record.write_text(json.dumps({"status": "done"}))
    point_data = manifest.point_dir(run_dir, "tune", 1, "fit", "model")
    point_data.mkdir(parents=True)
    (point_data / "weights.pt").write_text("w")
    write_run_dir(plan, profile, tmp_path)
    assert point_record.exists() and (point_data / "weights.pt").read_text() == "w"
    write_run_dir(plan, profile, tmp_path, force=True)
    assert not point_record.exists() and not point_data.exists()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_the_run_directory_follows_the_umask(tmp_path: Path, umask: int) -> None:
    """A shared run: the project group reads the run directory (mkdtemp would make it 0700)."""
    plan, profile = _plan()
    old = os.umask(umask)
    try:
        run_dir = write_run_dir(plan, profile, tmp_path)
        (run_dir / "state" / "digits.json").write_text(json.dumps({"status": "done"}))
        run_dir = write_run_dir(plan, profile, tmp_path)  # a recompile replaces it the same way
    finally:
        os.umask(old)
    modes = {p.relative_to(run_dir).as_posix(): p.stat().st_mode & 0o777 for p in [run_dir, *run_dir.rglob("*")]}
    assert modes["."] == modes["jobs"] == modes["state"] == 0o777 & ~umask
    assert modes["plan.json"] == modes["state/digits.json"] == 0o666 & ~umask
    assert modes["submit.sh"] == modes["jobs/digits.sbatch"] == 0o777 & ~umask
    assert all(mode & 0o040 for mode in modes.values()), "the group can read everything"
