"""``plan.json``: the one contract between the compiler (codegen) and the runtime.

Codegen writes a :class:`Plan` into ``OUT/<pipeline>/plan.json``; every job runs
``python -m mfile.runtime OUT/<pipeline>/plan.json <task-id>``.

The file is :class:`Plan` as JSON (``dump_plan``), with one difference: each item header is
stored once. Format 2 (``PLAN_FORMAT``): a top-level ``"item_headers"`` object maps an item ref
(``namespace/name:version``) to that item's MantikHeader as loaded, and every task's
``item`` (search steps' included) leaves out its ``header``; ``load_plan`` puts the headers
back, so in memory every ``ItemRef.header`` is whole, as before: the size of the headers
grows with the distinct items, not with the tasks. Format 1 (every task carrying its
header) still loads.

The layout of the run directory is defined here and nowhere else:

    plan.json                  this model
    jobs/<task>.sbatch         one script per task (a search: <task>.sbatch array + <task>.select.sbatch)
    submit.sh                  plain-bash submission of the whole chain
    data/<task>/<port>/        outputs (a dataset store, a model directory, metrics.json)
    data/<search>/points/<i>/<step>/<port>/   a search's per-point outputs
    logs/                      Slurm output per job
    state/<task>.json          completion record (see runtime/records.py)
    state/jobs.json            job ids of the last submission
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mfile.plan.frozen import Frozen
from mfile.plan.ir import Pipeline, Task

PLAN_FORMAT = 2


class SourceInfo(Frozen):
    path: str
    sha256: str


class HeaderInfo(Frozen):
    ref: str  # namespace/name:version
    path: str
    sha256: str


class ProfileInfo(Frozen):
    """The parts of the site profile the runtime needs (the rest is baked into the scripts)."""

    name: str
    container: Literal["apptainer", "modules", "none"] = "none"  # the profile's default environment
    mpi: Literal["srun", "mpirun", "none"] = "none"
    interconnect_suffix: str = ""
    # A task with gpus whose torch sees no CUDA device fails (JUWELS); False: it runs on CPU.
    gpu_required: bool = False
    gpu_environment: str = ""  # what to use instead, in words (the CUDA image, the modules)


class Plan(Frozen):
    format: int = PLAN_FORMAT
    mfile_version: str
    source: SourceInfo
    headers: tuple[HeaderInfo, ...]
    profile: ProfileInfo
    pipeline: Pipeline
    # Pipelines that this one reads from (their run directories are siblings of this one).
    needs_pipelines: tuple[str, ...] = ()
    extra: dict[str, Any] = Field(default_factory=dict)

    def task(self, task_id: str) -> Task:
        return self.pipeline.task(task_id)


# --------------------------------------------------------------------------- run-dir layout


def plan_path(run_dir: Path) -> Path:
    return run_dir / "plan.json"


def data_dir(run_dir: Path, task_id: str, port: str) -> Path:
    return run_dir / "data" / task_id / port


def point_dir(run_dir: Path, search_id: str, point: int, step_id: str, port: str) -> Path:
    return run_dir / "data" / search_id / "points" / str(point) / step_id / port


def state_path(run_dir: Path, task_id: str) -> Path:
    return run_dir / "state" / f"{task_id}.json"


def point_state_path(run_dir: Path, search_id: str, point: int) -> Path:
    return run_dir / "state" / search_id / f"point-{point}.json"


def jobs_path(run_dir: Path) -> Path:
    return run_dir / "state" / "jobs.json"


# Task ids whose state/<id>.json would be one of the run directory's own files (compared
# without case: a case-insensitive file system makes Jobs.json the same file).
RESERVED_TASK_IDS = {"jobs": "state/jobs.json"}


def job_script(run_dir: Path, job_name: str) -> Path:
    return run_dir / "jobs" / f"{job_name}.sbatch"


def log_dir(run_dir: Path) -> Path:
    return run_dir / "logs"


def source_run_dir(run_dir: Path, pipeline: str | None) -> Path:
    """Run directory a binding reads from: this one, or a sibling pipeline's."""
    return run_dir if pipeline is None else run_dir.parent / pipeline


class _PlanFile(Plan):
    """plan.json as written: the plan plus each item header once, keyed by item ref."""

    item_headers: dict[str, dict[str, Any]] = Field(default_factory=dict)


# Search steps are tasks too; a search never nests another, but two levels cost nothing.
_NO_HEADER: dict[str, Any] = {"item": {"header"}}
_NO_HEADER = {**_NO_HEADER, "search": {"steps": {"__all__": dict(_NO_HEADER)}}}
_NO_HEADER = {**_NO_HEADER, "search": {"steps": {"__all__": _NO_HEADER}}}


def _item_tasks(tasks: tuple[Task, ...]) -> list[Task]:
    out = []
    for task in tasks:
        out.append(task)
        if task.search is not None:
            out.extend(_item_tasks(task.search.steps))
    return out


def _headers_of(plan: Plan) -> dict[str, dict[str, Any]]:
    headers: dict[str, dict[str, Any]] = {}
    for task in _item_tasks(plan.pipeline.tasks):
        if task.item is None:
            continue
        seen = headers.setdefault(task.item.ref, task.item.header)
        if seen != task.item.header:  # one ref resolves to one directory, hence one header
            raise ValueError(f"item {task.item.ref}: two different headers in one plan")
    return dict(sorted(headers.items()))


def _put_headers(tasks: list[Any], headers: dict[str, Any]) -> None:
    for task in tasks:
        item = task.get("item")
        if isinstance(item, dict) and "header" not in item:
            ref = f"{item.get('name')}:{item.get('version')}"
            if ref in headers:
                item["header"] = headers[ref]
        search = task.get("search")
        if isinstance(search, dict):
            _put_headers(search.get("steps") or [], headers)


def load_plan(path: Path) -> Plan:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("item_headers"), dict):
        headers = data.pop("item_headers")
        pipeline = data.get("pipeline")
        if isinstance(pipeline, dict):
            _put_headers(pipeline.get("tasks") or [], headers)
    return Plan.model_validate(data)


def dump_plan(plan: Plan) -> str:
    """Deterministic JSON: same plan, byte-identical text; each item header once."""
    on_disk = _PlanFile.model_construct(**dict(plan), item_headers=_headers_of(plan))
    exclude = {"pipeline": {"tasks": {"__all__": _NO_HEADER}}}
    return on_disk.model_dump_json(indent=2, exclude=exclude) + "\n"
