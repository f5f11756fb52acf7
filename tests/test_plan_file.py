"""plan.json stores each item header once (format 2) and loads back into whole ItemRefs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codegen_ir import HEADERS, SOURCE_INFO, era5_program, mnist_program
from mfile.codegen.jobs import assemble_plan
from mfile.codegen.profile import load_profile
from mfile.diagnostics import Reporter
from mfile.plan import manifest


@pytest.fixture(autouse=True)
def _account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")


def _plan(program, pipeline: str) -> manifest.Plan:
    plan = assemble_plan(program, pipeline, load_profile("juwels-booster"), SOURCE_INFO, HEADERS, Reporter())
    assert plan is not None
    return plan


def _item_dicts(tasks: list) -> list[dict]:
    out = []
    for task in tasks:
        if task.get("item"):
            out.append(task["item"])
        if task.get("search"):
            out += _item_dicts(task["search"]["steps"])
    return out


@pytest.mark.parametrize(("program", "pipeline"), [(mnist_program, "mnist"), (era5_program, "era5")])
def test_each_header_once_and_back(tmp_path: Path, program, pipeline: str) -> None:
    plan = _plan(program(), pipeline)
    path = tmp_path / "plan.json"
    path.write_text(manifest.dump_plan(plan), encoding="utf-8")
    data = json.loads(path.read_text())
    assert data["format"] == manifest.PLAN_FORMAT == 2
    items = _item_dicts(data["pipeline"]["tasks"])
    assert items and all("header" not in item for item in items)
    assert set(data["item_headers"]) == {f"{i['name']}:{i['version']}" for i in items}
    loaded = manifest.load_plan(path)
    assert loaded == plan
    assert manifest.dump_plan(loaded) == path.read_text()


def test_format_1_with_inline_headers_still_loads(tmp_path: Path) -> None:
    plan = _plan(mnist_program(), "mnist")
    path = tmp_path / "plan.json"
    path.write_text(plan.model_copy(update={"format": 1}).model_dump_json(indent=2), encoding="utf-8")
    loaded = manifest.load_plan(path)
    assert loaded.format == 1
    assert [t.item.header for t in loaded.pipeline.tasks if t.item] == [t.item.header for t in plan.pipeline.tasks if t.item]
