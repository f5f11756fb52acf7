"""run_local (`mfile run`'s executor): order, concurrency, mpirun ranks, searches, failures, resume."""

from __future__ import annotations

import io as _io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "runtime_items"))
from rt_plans import GEN, MODEL, VOID, bind, item, search, table, task, write_plan  # noqa: E402

from mfile.local.executor import build_units, run_local  # noqa: E402
from mfile.plan.manifest import load_plan  # noqa: E402

XL = table(x="float64", label="float64")


def make_plan(run_dir: Path, fail: bool = False) -> Path:
    gen = task("gen", item("gen", "dataset"), {"n": 80}, outputs=(("output", GEN),))
    z = task("z", item("zscore", "algorithm"), inputs=[bind("input", "gen", type=table(x="float64"), columns=("x",))],
             outputs=(("output", table(x="float64")), ("stats", VOID)), parallel="data", tasks=2)  # fmt: skip
    split = task("split", item("split", "algorithm"), inputs=[bind("input", "gen", type=XL, columns=("x", "label"))],
                 outputs=(("train", XL), ("test", XL)))  # fmt: skip
    fit = task("fit", item("fit", "trainable"), {"epochs": 10}, inputs=[bind("input", "hp", "train", type=XL)],
               outputs=(("model", MODEL), ("stats", VOID)))  # fmt: skip
    metric = task("metric", item("metric", "algorithm"),
                  inputs=[bind("model", "fit", "model", type=MODEL), bind("data", "split", "test", type=XL)],
                  outputs=(("metrics", table(rmse="float64")),))  # fmt: skip
    hp = search("hp", [fit, metric], {"fit": {"lr": [0.05, 0.2]}}, "metric", "rmse", inputs=[bind("train", "split", "train", type=XL)])
    dep = task("dep", item("deploy", "deployment"), inputs=[bind("model", "hp", "best_model", type=MODEL)], outputs=(("model", MODEL),))
    tasks = [gen, z, split, hp, dep]
    if fail:
        tasks.append(task("bad", item("fail", "algorithm"), {"why": "on purpose"}, inputs=[bind("input", "z")]))
        tasks.append(task("after", item("zscore", "algorithm"), inputs=[bind("input", "bad", type=table(x="float64"))],
                          outputs=(("output", table(x="float64")), ("stats", VOID))))  # fmt: skip
    return write_plan(run_dir, tasks)


def test_units_and_dependencies(tmp_path):
    plan = load_plan(make_plan(tmp_path / "p"))
    units = build_units(plan, force=False)
    assert list(units) == ["gen", "z", "split", "hp.point-0", "hp.point-1", "hp.select", "dep"]
    assert units["z"].ranks == 2 and units["z"].needs == {"gen"}
    assert units["hp.point-0"].needs == {"split"} and units["hp.point-0"].args == ("--point", "0")
    assert units["hp.select"].needs == {"hp.point-0", "hp.point-1"}
    assert units["dep"].needs == {"hp.select"}
    assert build_units(plan, force=True)["gen"].args == ("--force",)


def test_a_stage_runs_with_what_it_needs_that_is_not_done(tmp_path):
    from mfile.errors import UsageError
    from mfile.plan.state import tasks_to_run

    gen = task("gen", item("gen", "dataset"), {"n": 20}, outputs=(("output", GEN),))
    split = task("split", item("split", "algorithm"), inputs=[bind("input", "gen", type=XL, columns=("x", "label"))],
                 outputs=(("train", XL), ("test", XL)))  # fmt: skip
    side = task("side", item("gen", "dataset"), {"n": 5}, outputs=(("output", GEN),))
    run_dir = tmp_path / "p"
    plan_file = write_plan(run_dir, [gen, split, side], stages={"load": ["gen", "side"], "prep": ["split"]})
    plan = load_plan(plan_file)
    assert tasks_to_run(plan, run_dir, resume=False, stage="prep") == ["gen", "split"]  # gen: needed, not done
    assert list(build_units(plan, force=False, only={"split"})) == ["split"]
    assert build_units(plan, force=False, only={"split"})["split"].needs == set()  # gen is done: not waited for
    with pytest.raises(UsageError, match="no stage 'train' in pipeline 'p' \\(stages: load, prep\\)"):
        tasks_to_run(plan, run_dir, resume=False, stage="train")
    out = _io.StringIO()
    assert run_local(run_dir, stream=out, stage="prep") == 0
    assert {p.stem for p in (run_dir / "state").glob("*.json")} == {"gen", "split"}  # side (stage load) did not run
    assert tasks_to_run(plan, run_dir, resume=False, stage="prep") == ["split"]  # gen is done now


@pytest.mark.slow
def test_run_local_whole_plan_then_resume(tmp_path):
    run_dir = tmp_path / "p"
    make_plan(run_dir)
    out = _io.StringIO()
    assert run_local(run_dir, jobs=2, stream=out) == 0
    text = out.getvalue()
    assert "start    z" in text and "2 ranks" in text
    assert "done     hp.select" in text and "7 done, 0 up to date, 0 failed" in text
    assert json.loads((run_dir / "state" / "z.json").read_text())["ranks"] == (2 if shutil.which("mpirun") else 1)
    assert (run_dir / "logs" / "hp.point-1.log").is_file()
    assert json.loads((run_dir / "data" / "dep" / "model" / "model.json").read_text())["item"] == "test/fit:1"
    out = _io.StringIO()
    assert run_local(run_dir, stream=out) == 0
    assert "0 done, 7 up to date" in out.getvalue()


@pytest.mark.slow
def test_failed_task_stops_only_its_dependents(tmp_path):
    run_dir = tmp_path / "p"
    make_plan(run_dir, fail=True)
    out = _io.StringIO()
    assert run_local(run_dir, jobs=2, stream=out) == 1
    text = out.getvalue()
    assert "FAILED   bad" in text and "| mfile: task 'bad' (item test/fail:1) failed" in text
    assert "blocked  after" in text and "bad did not finish" in text
    assert "done     dep" in text, "tasks that do not depend on the failure still run"
    assert "7 done, 0 up to date, 1 failed, 1 not run" in text
    assert not (run_dir / "state" / "bad.json").exists() and not (run_dir / "state" / "after.json").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_records_and_logs_follow_the_umask(tmp_path, umask):
    """What a task writes in a shared run is readable by the project group (and no more)."""
    run_dir = tmp_path / "p"
    write_plan(run_dir, [task("gen", item("gen", "dataset"), {"n": 8}, outputs=(("output", GEN),))])
    old = os.umask(umask)
    try:
        assert run_local(run_dir, stream=_io.StringIO()) == 0
    finally:
        os.umask(old)
    written = [run_dir / "data", run_dir / "state", run_dir / "logs"]
    written += [p for top in written for p in top.rglob("*")]
    assert (run_dir / "state" / "gen.json") in written and (run_dir / "logs" / "gen.log") in written
    for path in written:
        want = 0o777 & ~umask if path.is_dir() else 0o666 & ~umask
        assert path.stat().st_mode & 0o777 == want, f"{path.relative_to(run_dir)}: {oct(path.stat().st_mode & 0o777)}"
