"""Golden job scripts for two pipelines under both JUWELS profiles; shellcheck on all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen_ir import HEADERS, SOURCE_INFO, era5_program, mnist_program
from golden_util import assert_golden, check_shell
from mfile.codegen.jobs import assemble_plan
from mfile.codegen.profile import load_profile
from mfile.codegen.render import render_scripts, write_run_dir
from mfile.diagnostics import Reporter

PROGRAMS = {"mnist": mnist_program, "era5": era5_program}


@pytest.fixture(autouse=True)
def _account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")


def _plan(profile_name: str, pipeline: str):
    profile = load_profile(profile_name)
    reporter = Reporter()
    plan = assemble_plan(PROGRAMS[pipeline](), pipeline, profile, SOURCE_INFO, HEADERS, reporter)
    assert plan is not None, [r.message for r in reporter.reports]
    return plan, profile


@pytest.mark.parametrize("profile_name", ["juwels-booster", "juwels-cluster"])
@pytest.mark.parametrize("pipeline", ["mnist", "era5"])
def test_scripts_match_golden(profile_name: str, pipeline: str) -> None:
    plan, profile = _plan(profile_name, pipeline)
    scripts = render_scripts(plan, profile)
    for rel, text in scripts.items():
        assert_golden(f"{profile_name}/{pipeline}/{rel}", text)
    assert scripts == render_scripts(*_plan(profile_name, pipeline)), "rendering is not deterministic"


@pytest.mark.parametrize("profile_name", ["juwels-booster", "juwels-cluster", "local"])
@pytest.mark.parametrize("pipeline", ["mnist", "era5"])
def test_every_generated_script_passes_shellcheck(profile_name: str, pipeline: str, tmp_path: Path) -> None:
    profile = load_profile(profile_name)
    program = PROGRAMS[pipeline]()
    if profile_name == "local":  # one small CPU node: ask for what it has
        program = _cpu_only(program)
    plan = assemble_plan(program, pipeline, profile, SOURCE_INFO, HEADERS, reporter := Reporter())
    assert plan is not None, [r.message for r in reporter.reports]
    run_dir = write_run_dir(plan, profile, tmp_path)
    scripts = sorted(run_dir.glob("jobs/*")) + [run_dir / "submit.sh"]
    assert len(scripts) >= 6
    check_shell(scripts)


def _cpu_only(program):
    from mfile.plan.ir import Resources

    def strip(task):
        search = task.search
        if search is not None:
            search = search.model_copy(update={"steps": tuple(strip(s) for s in search.steps)})
        many = task.resources.parallel == "data" or (task.item is not None and task.item.kind == "trainable")
        res = Resources(parallel=task.resources.parallel, tasks=2 if many else None, time="00:10:00")
        return task.model_copy(update={"resources": res, "search": search})

    pipes = tuple(p.model_copy(update={"tasks": tuple(strip(t) for t in p.tasks)}) for p in program.pipelines)
    return program.model_copy(update={"pipelines": pipes})
