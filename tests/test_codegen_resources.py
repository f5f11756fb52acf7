"""Every resource check (E4xx), driven by the case files in tests/cases/resources/*.yaml.

A case: ``profile`` (shipped name) with an optional ``override`` of profile fields, the task's
``kind`` (trainable unless said) and ``resources``, and ``expect``: [code, field] pairs, the
field whose origin the diagnostic must point at (``task``: the task's own line); optionally
``hint``: text one of the hints must contain.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from codegen_ir import HEADERS, SOURCE_INFO, item, loc, pipeline, program, task
from mfile.codegen.jobs import assemble_plan
from mfile.codegen.profile import Profile, load_profile
from mfile.plan.units import format_time, parse_memory, parse_time
from mfile.diagnostics import Diagnostic, Reporter

CASES = sorted((Path(__file__).parent / "cases" / "resources").glob("*.yaml"))


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def profile_from_case(case: dict) -> Profile:
    profile = load_profile(case["profile"])
    if "override" in case:
        profile = Profile.model_validate(_merge(profile.model_dump(), case["override"]))
    return profile


@pytest.fixture(autouse=True)
def _account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")


@pytest.mark.parametrize("case_path", CASES, ids=[c.stem for c in CASES])
def test_resource_case(case_path: Path) -> None:
    case = yaml.safe_load(case_path.read_text())
    resources = case["resources"]
    t = task("t", "s", item("demo/x:1.0", case.get("kind", "trainable"), case.get("item_dir")), 6, **resources)
    reporter = Reporter()
    plan = assemble_plan(program(pipeline("p", [t], {"s": ["t"]})), "p", profile_from_case(case), SOURCE_INFO, HEADERS, reporter)
    got = sorted((r.code, r.span.line, r.span.column) for r in reporter.reports)
    want = []
    for code, field in case["expect"]:
        where = t.loc if field == "task" else t.resources.origin[field]
        want.append((code, where.line, where.column))
    assert got == sorted(want), [f"{r.code} {r.message}" for r in reporter.reports]
    if "hint" in case:
        assert any(case["hint"] in (r.hint or "") for r in reporter.reports), [r.hint for r in reporter.reports]
    assert (plan is None) == any(Diagnostic.registry[c].severity.value == "error" for c, _ in case["expect"])


def test_every_resource_code_has_a_case_or_a_test() -> None:
    in_cases = {code for c in CASES for code, _ in yaml.safe_load(c.read_text())["expect"]}
    tested_here = {"E409", "E411", "E414", "E420"}  # E420: tests/test_codegen_binds.py
    e4 = {code for code in Diagnostic.registry if code.startswith("E4")}
    assert e4 <= in_cases | tested_here, sorted(e4 - in_cases - tested_here)


def test_missing_account_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDGET_ACCOUNTS")
    t = task("t", "s", item("demo/x:1.0", "algorithm"), 6)
    reporter = Reporter()
    plan = assemble_plan(program(pipeline("p", [t], {"s": ["t"]})), "p", load_profile("juwels-booster"), SOURCE_INFO, HEADERS, reporter)
    assert plan is None
    [report] = reporter.reports
    assert report.code == "E411" and "jutil env activate -p" in (report.hint or "")
    # The local profile needs no account.
    assert assemble_plan(program(pipeline("p", [t], {"s": ["t"]})), "p", load_profile("local"), SOURCE_INFO, HEADERS, Reporter()) is not None


def test_account_from_profile_when_env_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDGET_ACCOUNTS")
    profile = load_profile("juwels-booster").model_copy(update={"account": "slts"})
    t = task("t", "s", item("demo/x:1.0", "algorithm"), 6)
    plan = assemble_plan(program(pipeline("p", [t], {"s": ["t"]})), "p", profile, SOURCE_INFO, HEADERS, Reporter())
    assert plan is not None and plan.extra["slurm"]["account"] == "slts"


def _search_program(points: int):
    from codegen_ir import search_spec

    t = task("tune", "s", None, 9, kind="search", search=search_spec(points, throttle=None))
    return program(pipeline("p", [t], {"s": ["tune"]}))


def test_big_array_is_split_with_a_warning_not_an_error() -> None:
    from mfile.codegen.jobs import plan_jobs

    profile = load_profile("juwels-booster").model_copy(update={"max_array_size": 4, "submit_limit": 100})
    reporter = Reporter()
    plan = assemble_plan(_search_program(10), "p", profile, SOURCE_INFO, HEADERS, reporter)
    assert plan is not None
    assert [(r.code, r.severity.value, r.span.line) for r in reporter.reports] == [("E414", "warning", 9)]
    jobs = plan_jobs(plan, profile)
    assert [(j.name, j.kind, j.offset, j.count) for j in jobs] == [
        ("tune", "array", 0, 4), ("tune.part1", "array", 4, 4), ("tune.part2", "array", 8, 2), ("tune.select", "select", 0, 0),
    ]
    assert jobs[-1].after == ("tune", "tune.part1", "tune.part2")


def test_over_the_submit_limit_is_an_error() -> None:
    profile = load_profile("juwels-booster").model_copy(update={"max_array_size": 4, "submit_limit": 8})
    reporter = Reporter()
    assert assemble_plan(_search_program(10), "p", profile, SOURCE_INFO, HEADERS, reporter) is None
    assert "E409" in [r.code for r in reporter.reports]


@pytest.mark.parametrize("text,seconds", [("30", 1800), ("10:30", 630), ("02:00:00", 7200), ("1-0", 86400), ("1-02:03:04", 93784), ("2-3:00", 183600)])
def test_parse_time(text: str, seconds: int) -> None:
    assert parse_time(text) == seconds
    assert parse_time(format_time(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1:2:3:4", "-5", "0", "1h"])
def test_parse_time_rejects(text: str) -> None:
    assert parse_time(text) is None


@pytest.mark.parametrize("text,mb", [("64G", 65536), ("512M", 512), ("1T", 1048576), ("800", 800), ("2048K", 2), ("8gb", 8192)])
def test_parse_memory(text: str, mb: int) -> None:
    assert parse_memory(text) == mb


def test_defaults_fill_every_field() -> None:
    t = task("t", "s", item("demo/x:1.0", "trainable"), 6, gpus=4)
    plan = assemble_plan(program(pipeline("p", [t], {"s": ["t"]})), "p", load_profile("juwels-booster"), SOURCE_INFO, HEADERS, Reporter())
    res = plan.task("t").resources
    # DDP: one rank per GPU, the node's hardware threads shared among them (96 / 4), the
    # profile's default time; one OpenMP thread per physical core; the profile's [env].
    assert (res.partition, res.nodes, res.tasks, res.cpus_per_task, res.gpus, res.time, res.requeue) == (
        "booster", 1, 4, 24, 4, "01:00:00", True)
    assert res.container == "$PROJECT/mfile/mfile-cuda.sif" and res.environment == "apptainer"
    assert res.env["OMP_NUM_THREADS"] == "12" and res.env["NCCL_SOCKET_IFNAME"] == "ib0"
    assert res.origin["gpus"] == loc(6, 30, 8)


def test_a_task_shared_by_two_pipelines_is_reported_once() -> None:
    t = task("t", "s", item("demo/x:1.0", "algorithm"), 6, memory="9T")
    prog = program(pipeline("a", [t], {"s": ["t"]}), pipeline("b", [t], {"s": ["t"]}))
    reporter = Reporter()
    for name in ("a", "b"):
        assert assemble_plan(prog, name, load_profile("juwels-cluster"), SOURCE_INFO, HEADERS, reporter) is None
    assert [r.code for r in reporter.reports] == ["E405"]


def test_missing_account_is_reported_once_per_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDGET_ACCOUNTS")
    t = task("t", "s", item("demo/x:1.0", "algorithm"), 6)
    prog = program(pipeline("a", [t], {"s": ["t"]}), pipeline("b", [t], {"s": ["t"]}))
    reporter = Reporter()
    plans = [assemble_plan(prog, name, load_profile("juwels-cluster"), SOURCE_INFO, HEADERS, reporter) for name in ("a", "b")]
    assert plans == [None, None] and [r.code for r in reporter.reports] == ["E411"]
