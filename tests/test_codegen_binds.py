"""Binds computed from a pipeline's inputs (codegen/binds.py): every input path is visible in
the container, or the compile says which one is not (E420, at the task)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from codegen_ir import HEADERS, SOURCE, SOURCE_INFO, item, pipeline, program, task
from golden_util import check_shell

from mfile.codegen.binds import is_path_param, top_directory
from mfile.codegen.jobs import assemble_plan
from mfile.codegen.profile import load_profile
from mfile.codegen.render import write_run_dir
from mfile.diagnostics import Reporter


@pytest.fixture(autouse=True)
def _account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")


def _compile(params: dict, profile: str = "juwels-booster", **resources):
    t = task("load", "s", item("mfile/netcdf:1", "dataset"), 7, params=params, **resources)
    reporter = Reporter()
    plan = assemble_plan(program(pipeline("p", [t], {"s": ["load"]})), "p", load_profile(profile), SOURCE_INFO, HEADERS, reporter)
    return plan, [(r.code, r.span.line, r.span.column) for r in reporter.reports], reporter


@pytest.mark.parametrize("path,top", [
    ("/p/largedata/slmet/era5/*.nc", "/p/largedata/slmet/era5"),
    ("/p/largedata/slmet/era5/t2m_2020.nc", "/p/largedata/slmet/era5"),
    ("/p/scratch/$USER/x.nc", "/p/scratch"),
    ("/p/data/20[12]?/*/t.grib", "/p/data"),
    ("/p/a/../b/./c.nc", "/p/b"),
])
def test_top_directory(path: str, top: str) -> None:
    assert top_directory(path) == top


def test_which_params_name_files() -> None:
    assert all(map(is_path_param, ["path", "files", "file", "data_dir", "train_path", "label_files", "directory"]))
    assert not any(map(is_path_param, ["variable", "filename_suffix", "pathology", "epochs"]))


def test_inputs_get_binds_absolute_relative_and_out_of_the_mfile_dir() -> None:
    plan, codes, _ = _compile({"path": "/p/largedata/slmet/era5/*.nc", "mask_file": "data/mask.nc",
                               "extra_dir": "../shared/static", "stats_path": "/p/largedata/slmet/era5/stats.json"})
    assert codes == []
    # /work/examples is the M-File's directory (relative lookups), ../shared climbs out of it;
    # the stats file lies in a directory that is bound already.
    assert plan.extra["slurm"]["binds"] == ["/p/largedata/slmet/era5", "/work/examples", "/work/shared"]


def test_variables_the_profile_binds_are_covered_others_are_e418() -> None:
    plan, codes, _ = _compile({"path": "$FASTDATA/era5/*.nc", "a_file": "${SCRATCH}/x.nc", "b_file": "~/x.nc"})
    assert codes == [] and plan.extra["slurm"]["binds"] == []
    plan, codes, reporter = _compile({"path": "$WORK/era5/*.nc"})
    assert plan is None and codes == [("E420", 7, 1)]
    [report] = reporter.reports
    assert "$WORK" in report.message and "$FASTDATA" in (report.hint or "")


def test_a_top_directory_the_image_needs_is_e418() -> None:
    _, codes, reporter = _compile({"path": "/*.nc", "b_file": "/usr/x.nc"})
    assert codes == [("E420", 7, 1), ("E420", 7, 1)]
    assert {"would be /,", "would be /usr,"} == {m for r in reporter.reports for m in ("would be /,", "would be /usr,") if m in r.message}


def test_a_top_directory_apptainer_would_split_is_e420() -> None:
    _, codes, reporter = _compile({"path": "/p/data/a,b/x.nc", "b_file": "/p/data/c:d/*.nc"})
    assert codes == [("E420", 7, 1), ("E420", 7, 1)]
    assert all("separators" in r.message for r in reporter.reports)


def test_grid_values_and_search_steps_count() -> None:
    from codegen_ir import era5_program

    prog = era5_program()
    pipe = prog.pipelines[0]
    tune = next(t for t in pipe.tasks if t.search is not None)
    steps = (tune.search.steps[0].model_copy(update={"params": {"path": "/p/a/x.nc"}}),) + tune.search.steps[1:]
    points = tuple({**pt, steps[0].id: {**pt.get(steps[0].id, {}), "path": f"/p/b{i}/y.nc"}} for i, pt in enumerate(tune.search.points))
    search = tune.search.model_copy(update={"steps": steps, "points": points})
    tasks = tuple(t.model_copy(update={"search": search}) if t.id == tune.id else t for t in pipe.tasks)
    prog = prog.model_copy(update={"pipelines": (pipe.model_copy(update={"tasks": tasks}),)})
    plan = assemble_plan(prog, "era5", load_profile("juwels-booster"), SOURCE_INFO, HEADERS, Reporter())
    assert {"/p/a", "/p/b0", "/p/b5"} <= set(plan.extra["slurm"]["binds"])


def test_no_container_no_binds_and_no_e418() -> None:
    plan, codes, _ = _compile({"path": "$WORK/x.nc"}, profile="local")
    assert codes == [] and plan.extra["slurm"]["binds"] == []
    plan, codes, _ = _compile({"path": "$WORK/x.nc"}, environment="modules")
    assert codes == []


def test_binds_reach_every_job_quoted(tmp_path) -> None:
    plan, codes, _ = _compile({"path": "/p/data/it's here/*.nc"})
    assert codes == []
    run_dir = write_run_dir(plan, load_profile("juwels-booster"), tmp_path)
    script = (run_dir / "jobs" / "load.sbatch").read_text()
    assert "container+=(--bind '/p/data/it'\"'\"'s here')" in script
    check_shell([run_dir / "jobs" / "load.sbatch"])
    assert SOURCE.startswith("/work/examples")


def test_check_with_a_profile_reports_an_unbound_input(tmp_path) -> None:
    """`mfile check --profile` runs the same check as compile: CI finds it before anyone compiles."""
    src = tmp_path / "flow.mfile"
    src.write_text('data = MantikItem(name="mfile/netcdf:1").configure(params={"path": "$WORK/era5/*.nc"})\n'
                   'p = MantikPipeline(stages={"s": [data]})\n')
    argv = [sys.executable, "-m", "mfile.cli", "check", str(src), "--format", "json"]
    plain = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    site = subprocess.run([*argv, "--profile", "juwels-booster"], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "BUDGET_ACCOUNTS": "deepacf"})
    assert site.returncode == 1, site.stdout + site.stderr
    found = [(d["code"], d["line"]) for d in json.loads(site.stdout)]
    assert ("E420", 2) in found, found
