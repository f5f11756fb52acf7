"""``plan.json``: the one contract between the compiler (codegen) and the runtime.

Codegen writes a :class:`Plan` into ``OUT/<pipeline>/plan.json``; every job runs
``python -m mfile.runtime OUT/<pipeline>/plan.json <task-id>``. The layout of the run
directory is defined here and nowhere else:

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

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mfile.plan.frozen import Frozen
from mfile.plan.ir import Pipeline, Task

PLAN_FORMAT = 1


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
    container: Literal["apptainer", "none"] = "none"
    mpi: Literal["srun", "mpirun", "none"] = "none"
    interconnect_suffix: str = ""


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


def load_plan(path: Path) -> Plan:
    return Plan.model_validate_json(path.read_text(encoding="utf-8"))


def dump_plan(plan: Plan) -> str:
    """Deterministic JSON: same plan, byte-identical text."""
    return plan.model_dump_json(indent=2) + "\n"
