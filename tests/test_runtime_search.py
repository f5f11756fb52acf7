"""Hyperparameter searches: grid points (--point I), select (--select), failed points."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "runtime_items"))
from rt_plans import GEN, MODEL, VOID, bind, item, run, search, table, task, write_plan  # noqa: E402

XL = table(x="float64", label="float64")


def plan_with_search(run_dir: Path, lrs: list, min_points: int | None = None) -> Path:
    gen = task("gen", item("gen", "dataset"), {"n": 120}, outputs=(("output", GEN),))
    split = task("split", item("split", "algorithm"), {"fraction": 0.7},
                 inputs=[bind("input", "gen", type=XL, columns=("x", "label"))], outputs=(("train", XL), ("test", XL)))  # fmt: skip
    # Inside the search: fit reads the search's input 'train'; metric reads fit (a step) and split (outside).
    fit = task("fit", item("fit", "trainable"), {"epochs": 20},
               inputs=[bind("input", "hp", "train", type=XL)], outputs=(("model", MODEL), ("stats", VOID)))  # fmt: skip
    metric = task("metric", item("metric", "algorithm"),
                  inputs=[bind("model", "fit", "model", type=MODEL), bind("data", "split", "test", type=XL)],
                  outputs=(("metrics", table(rmse="float64")),))  # fmt: skip
    hp = search("hp", [fit, metric], {"fit": {"lr": lrs}}, "metric", "rmse", inputs=[bind("train", "split", "train", type=XL)],
                min_points=min_points)
    dep = task("dep", item("deploy", "deployment"), inputs=[bind("model", "hp", "best_model", type=MODEL)], outputs=(("model", MODEL),))
    return write_plan(run_dir, [gen, split, hp, dep])


def test_points_then_select_picks_the_best(tmp_path):
    plan = plan_with_search(tmp_path / "p", [0.001, 0.3, 0.05])
    for t in ("gen", "split"):
        assert run(plan, t).returncode == 0
    res = run(plan, "hp", "--select")
    assert res.returncode == 1 and "none of its 3 grid points succeeded" in res.stderr
    for i in range(3):
        res = run(plan, "hp", "--point", str(i))
        assert res.returncode == 0, res.stderr
        assert (tmp_path / "p" / "state" / "hp" / f"point-{i}.json").is_file()
        assert (tmp_path / "p" / "data" / "hp" / "points" / str(i) / "fit" / "model" / "weights.json").is_file()
    assert "skipped: up to date" in run(plan, "hp", "--point", "1").stderr
    res = run(plan, "hp", "--select")
    assert res.returncode == 0, res.stderr
    metrics = json.loads((tmp_path / "p" / "data" / "hp" / "metrics" / "metrics.json").read_text())
    values = [p["value"] for p in metrics["points"]]
    assert metrics["best"]["point"] == values.index(min(values)) == 1
    assert metrics["best"]["params"] == {"fit": {"lr": 0.3}}
    link = tmp_path / "p" / "data" / "hp" / "best_model"
    assert link.is_symlink() and os.readlink(link) == "points/1/fit/model"
    assert json.loads((link / "model.json").read_text())["params"]["lr"] == 0.3
    rec = json.loads((tmp_path / "p" / "state" / "hp.json").read_text())
    assert rec["best_point"] == 1 and "best_model" in rec["outputs"]
    assert run(plan, "dep").returncode == 0
    assert "skipped: up to date" in run(plan, "hp", "--select").stderr


def test_failed_points_are_reported_and_select_still_succeeds(tmp_path):
    plan = plan_with_search(tmp_path / "p", [0.3, "not-a-number", 0.1])
    for t in ("gen", "split"):
        assert run(plan, t).returncode == 0
    codes = [run(plan, "hp", "--point", str(i)).returncode for i in range(3)]
    assert codes == [0, 1, 0]
    assert not (tmp_path / "p" / "state" / "hp" / "point-1.json").exists()
    res = run(plan, "hp", "--select")
    assert res.returncode == 0
    assert "grid point 1 {'fit': {'lr': 'not-a-number'}} failed" in res.stderr
    metrics = json.loads((tmp_path / "p" / "data" / "hp" / "metrics" / "metrics.json").read_text())
    assert metrics["failed"] == 1 and metrics["points"][1]["status"] == "failed"
    assert metrics["best"]["point"] == 0


@pytest.mark.parametrize(("min_points", "code"), [(None, 1), (2, 1), (1, 0)])
def test_select_needs_min_points_successful_points(tmp_path, min_points, code):
    """Half the grid by default (2 of 3 here); one success is enough with min_points=1."""
    plan = plan_with_search(tmp_path / "p", ["bad", 0.3, "not-a-number"], min_points=min_points)
    for t in ("gen", "split"):
        assert run(plan, t).returncode == 0
    assert [run(plan, "hp", "--point", str(i)).returncode for i in range(3)] == [1, 0, 1]
    res = run(plan, "hp", "--select")
    assert res.returncode == code, res.stderr
    if code:
        needed = min_points or 2
        assert f"1 of its 3 grid points succeeded, fewer than the {needed} it needs" in res.stderr
        assert not (tmp_path / "p" / "state" / "hp.json").exists()
    else:
        assert json.loads((tmp_path / "p" / "state" / "hp.json").read_text())["best_point"] == 1


def test_point_index_out_of_range_is_our_usage_error(tmp_path):
    plan = plan_with_search(tmp_path / "p", [0.1])
    res = run(plan, "hp", "--point", "5")
    assert res.returncode == 2
    assert run(plan, "hp").returncode == 2


def test_point_from_env_with_offset(tmp_path):
    from rt_plans import mpi_env

    plan = plan_with_search(tmp_path / "p", [0.1, 0.2, 0.3])
    for t in ("gen", "split"):
        assert run(plan, t).returncode == 0
    env = mpi_env() | {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_JOB_ID": "77", "SLURM_JOB_ID": "78"}
    res = run(plan, "hp", "--point-from-env", "--point-offset", "2", env=env)
    assert res.returncode == 0, res.stderr
    rec = json.loads((tmp_path / "p" / "state" / "hp" / "point-2.json").read_text())
    assert rec["point"] == 2 and rec["job_id"] == "77_0"
