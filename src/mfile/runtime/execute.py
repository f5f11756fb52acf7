"""Run one item step: resolve and read inputs, call the payload by kind, write outputs.

``execute_step`` runs one item step; ``runtime/task.py`` wraps it into a plan task (skip
check, record) and ``runtime/search.py`` into a search's grid points.

Failure classes, so ``__main__`` can choose the exit code and the words:
``TaskFailure`` (exit 1: the data, an upstream task or the payload), ``Stopped`` (exit 75:
SIGUSR1 arrived and the payload checkpointed), anything else is our fault (exit 2).
"""

from __future__ import annotations

import shutil
import socket
import traceback
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mfile.plan import manifest, trust
from mfile.plan.ir import Binding, ItemRef, Task
from mfile.plan.types import Model, Tabular
from mfile.runtime import io, records
from mfile.runtime.context import Context, ItemProblem
from mfile.runtime.datacheck import DataTypeError, check_dataset, check_model_dir
from mfile.runtime.models import ModelHandle, PayloadImportError, import_item_payload, prepare_model_dir
from mfile.runtime.parallel import World, take_slice

EXIT_OK, EXIT_FAILED, EXIT_FAULT, EXIT_REQUEUE = 0, 1, 2, 75
BUILTIN_NAMESPACE = "mfile/"  # the items shipped in mfile/items/mfile/


class TaskFailure(Exception):
    """The task failed for a reason the user can act on; ``str()`` is the one-paragraph cause."""

    def __init__(self, message: str, payload_traceback: str | None = None) -> None:
        super().__init__(message)
        self.payload_traceback = payload_traceback


class Stopped(Exception):
    """SIGUSR1: the payload returned early after checkpointing; requeue the job."""


@dataclass
class Input:
    binding: Binding
    path: Path
    digest: str
    producer: ItemRef | None = None  # for a model: the trained item, from plan.json


@lru_cache(maxsize=8)
def _plan_at(run_dir: str) -> manifest.Plan | None:
    try:
        return manifest.load_plan(manifest.plan_path(Path(run_dir)))
    except (OSError, ValueError):
        return None


def model_item(plan: manifest.Plan | None, task_id: str) -> ItemRef | None:
    """The trainable item whose payload reads the model that ``task_id`` outputs: the task's
    own item, a search's trainable step, or (deployments, pass-through steps) upstream's."""
    tasks = {t.id: t for t in plan.pipeline.tasks} if plan else {}
    seen: set[str] = set()
    while task_id in tasks and task_id not in seen:
        seen.add(task_id)
        task = tasks[task_id]
        if task.kind == "search" and task.search is not None:
            return next((s.item for s in task.search.steps if s.item is not None and s.item.kind == "trainable"), None)
        if task.item is not None and task.item.kind == "trainable":
            return task.item
        upstream = [b for b in task.inputs if b.port == "model" and b.source_pipeline is None]
        if not upstream:
            return None
        task_id = upstream[0].source_task
    return None


@dataclass
class Step:
    task: Task  # an item task (a plan task or a search step)
    params: dict[str, Any]
    inputs: list[Input]
    out_dirs: dict[str, Path]
    ctx: Context
    world: World
    label: str  # "task 'x' (item ns/name:v)" for messages
    digests: dict[str, str] = field(default_factory=dict)


def describe(task: Task, point: int | None = None) -> str:
    where = f"task {task.id!r}" + (f" (grid point {point})" if point is not None else "")
    return f"{where} (item {task.item.ref})" if task.item else where


def input_from_task(run_dir: Path, b: Binding, label: str) -> Input:
    """A binding to a plan task's output port, which must be done (its record exists)."""
    src_run = manifest.source_run_dir(run_dir, b.source_pipeline)
    if b.source_pipeline and trust.problem(run_dir) is None:
        why = trust.problem(src_run)  # a trusted run dir reads only from a sibling as trusted
        if why:
            raise TaskFailure(f"{label}: input {b.port!r} reads from {src_run}, which {why}; "
                              "refusing to read another user's outputs (docs/security.md, shared file systems)")
    record = manifest.state_path(src_run, b.source_task)
    digest = records.output_digest(record, b.source_port)
    if digest is None:
        origin = f"pipeline {b.source_pipeline!r}, " if b.source_pipeline else ""
        raise TaskFailure(
            f"{label}: input {b.port!r} reads output {b.source_port!r} of {origin}task "
            f"{b.source_task!r}, which is not done (no completion record at {record}); run that task first"
        )
    producer = model_item(_plan_at(str(src_run)), b.source_task) if isinstance(b.type, Model) else None
    return Input(b, manifest.data_dir(src_run, b.source_task, b.source_port), digest, producer)


def input_key(inputs: list[Input]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i in inputs:
        cols = ",".join(i.binding.columns) if i.binding.columns else "*"
        out.setdefault(i.binding.port, []).append(f"{i.binding.source_task}.{i.binding.source_port}[{cols}]:{i.digest}")
    return out


# --------------------------------------------------------------------------- reading


def read_inputs(step: Step) -> dict[str, Any]:
    import xarray as xr  # heavy: xarray loads when data is read, not when the job starts

    by_port: dict[str, list[Any]] = {}
    for inp in step.inputs:
        b = inp.binding
        where = f"input {b.port!r} of {step.label}"
        if not inp.path.exists():
            raise TaskFailure(f"{where}: {inp.path} does not exist although its task's record does; rerun task {b.source_task!r}")
        try:
            kind = io.port_kind(inp.path)
        except io.PortError as exc:
            raise TaskFailure(f"{where}: {exc}") from None
        if kind == "model":
            value: Any = ModelHandle(inp.path, inp.producer)
        elif kind == "json":
            value = io.read_json_port(inp.path)
            if not isinstance(b.type, Model):
                value = io.json_to_dataset(value)
        else:
            value = io.read_dataset(inp.path)
        try:
            if isinstance(b.type, Model):
                check_model_dir(inp.path, where)
            elif isinstance(value, xr.Dataset):
                if b.columns:
                    missing = [c for c in b.columns if c not in value.data_vars]
                    if missing:
                        raise DataTypeError(
                            f"{where}: column {missing[0]!r} is missing from output {b.source_port!r} of "
                            f"task {b.source_task!r} (it has: {', '.join(map(str, value.data_vars))})"
                        )
                    value = value[list(b.columns)]
                checked = check_dataset(value, b.type, where)
                for note in checked.casts:
                    step.ctx.log(note)
                value = checked.value
        except DataTypeError as exc:
            raise TaskFailure(str(exc)) from None
        by_port.setdefault(b.port, []).append(value)
    merged: dict[str, Any] = {}
    for port, values in by_port.items():
        if len(values) == 1:
            merged[port] = values[0]
        elif all(isinstance(v, xr.Dataset) for v in values):
            merged[port] = xr.merge(values, compat="override", join="inner")
        else:
            raise TaskFailure(f"input {port!r} of {step.label}: several bindings that are not all datasets")
    return merged


def _slice_inputs(step: Step, values: dict[str, Any]) -> dict[str, Any]:
    import xarray as xr  # heavy: xarray loads when data is read, not when the job starts

    w = step.world
    if step.task.resources.parallel != "data" or w.size == 1:
        return values
    return {
        port: take_slice(v, io.sample_dim(v), w.rank, w.size) if isinstance(v, xr.Dataset) else v
        for port, v in values.items()
    }


# --------------------------------------------------------------------------- calling


def _call(step: Step, module: Any, fn_name: str, *args: Any) -> Any:
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        kind = step.task.item.kind if step.task.item else "?"
        raise TaskFailure(
            f"{step.label}: its payload {step.task.item.payload} defines no {fn_name}() function, "
            f"which a {kind} item{' used for prediction' if step.task.mode == 'predict' else ''} needs "
            "(see docs/items.md)"
        )
    try:
        return fn(*args)
    except ItemProblem as exc:  # worded by the item for the user: no traceback to read through
        raise TaskFailure(f"{step.label}: {exc}") from None
    except Exception as exc:
        # Drop our own frame: the traceback shown is the payload's code only.
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        whose = ("This is a fault of mfile's built-in item: please report it with this log."
                 if step.task.item.name.startswith(BUILTIN_NAMESPACE) else
                 "The traceback above is from the item's own code.")  # fmt: skip
        raise TaskFailure(
            f"{step.label} failed in its payload's {fn_name}(): {type(exc).__name__}: {exc}. {whose}",
            payload_traceback="".join(traceback.format_exception(type(exc), exc, tb)),
        ) from None


def load_module(step: Step) -> Any:
    item = step.task.item
    path = Path(item.directory) / item.payload
    try:
        return import_item_payload(item)
    except PayloadImportError as exc:
        raise TaskFailure(f"{step.label}: {exc}") from None
    except Exception as exc:
        raise TaskFailure(
            f"{step.label}: importing its payload {path} raised {type(exc).__name__}: {exc}",
            payload_traceback=traceback.format_exc(),
        ) from None


def execute_step(step: Step) -> dict[str, str]:
    """Run the step's payload and write its outputs; returns {port: digest} (rank 0)."""
    task, ctx = step.task, step.ctx
    item = task.item
    assert item is not None
    values = _slice_inputs(step, read_inputs(step))
    module = load_module(step)
    tag = ctx.bcast(uuid.uuid4().hex[:12])
    temps: dict[str, Path] = {}  # rank 0's finished temp dirs of ports written outside _write_outputs
    results: dict[str, Any] = {}
    if item.kind in ("trainable", "deployment") and task.mode == "run":
        results["model"] = _MODEL_DIR
    mode = ", predict" if task.mode == "predict" else ""
    ctx.log(f"calling {item.ref} ({item.kind}{mode}) on {socket.gethostname()}")  # which node ran each rank
    if task.mode == "predict":
        model = values.pop("model", None)
        if not isinstance(model, ModelHandle):
            raise TaskFailure(f"{step.label}: input 'model' must be a trained model directory")
        params = {**model.params, **step.params}
        results["output"] = _call(step, module, "predict", model.directory, values, params, ctx)
    elif item.kind == "dataset":
        ds = _call(step, module, "load", step.params, ctx)
        if task.resources.parallel == "data" and step.world.size > 1 and _is_dataset(ds):
            ds = take_slice(ds, io.sample_dim(ds), step.world.rank, step.world.size)
        results["output"] = ds
    elif item.kind == "algorithm":
        out = _call(step, module, "apply", values, step.params, ctx)
        results.update(_as_port_dict(step, out, "apply"))
    elif item.kind == "trainable":
        out = _call(step, module, "train", values, step.params, ctx)
        _stop_check(step)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TaskFailure(f"{step.label}: its payload's train() must return (model, stats), got {type(out).__name__}")
        model_obj, stats = out
        if "model" in step.out_dirs and ctx.rank == 0:
            tmp = io.temp_dir_for(step.out_dirs["model"], tag)
            temps["model"] = tmp
            prepare_model_dir(
                tmp, item_dir=Path(item.directory), payload=item.payload, ref=item.ref, kind=item.kind,
                header_sha256=item.header_sha256, task_id=task.id, params=step.params,
            )  # fmt: skip
            _call(step, module, "save", model_obj, tmp, step.params, ctx)
            if stats is not None:
                io.write_json_atomic(tmp / "stats.json", _jsonable(stats))
        ctx.barrier()
        if "stats" in step.out_dirs:
            results["stats"] = stats if stats is not None else {}
    elif item.kind == "deployment":
        model = values.get("model")
        if not isinstance(model, ModelHandle):
            raise TaskFailure(f"{step.label}: input 'model' must be a trained model directory")
        info = _call(step, module, "deploy", model, step.params, ctx)
        if ctx.rank == 0 and "model" in step.out_dirs:
            tmp = step.out_dirs["model"].parent / f".model.tmp-{tag}"
            shutil.copytree(model.directory, tmp, symlinks=True)  # a link is copied as a link, never followed
            io.write_json_atomic(tmp / "deployment.json", _jsonable(info or {}))
            temps["model"] = tmp
    _stop_check(step)
    return _write_outputs(step, results, temps, tag)


_MODEL_DIR = object()  # marks the model port, which rank 0 writes as a directory


def _is_dataset(value: Any) -> bool:
    import xarray as xr  # heavy: xarray loads when data is read, not when the job starts

    return isinstance(value, xr.Dataset)


def _jsonable(value: Any) -> Any:
    if _is_dataset(value):
        return {str(k): v.values.tolist() for k, v in value.data_vars.items()}
    return value


def _as_port_dict(step: Step, out: Any, fn: str) -> dict[str, Any]:
    ports = list(step.out_dirs)
    if _is_dataset(out):
        if len(ports) != 1:
            raise TaskFailure(
                f"{step.label}: its payload's {fn}() returned one Dataset but the item has output ports "
                f"{', '.join(ports)}; return a dict {{port: Dataset}}"
            )
        return {ports[0]: out}
    if isinstance(out, dict):
        return out
    raise TaskFailure(f"{step.label}: its payload's {fn}() must return an xarray Dataset or a dict of them, got {type(out).__name__}")


def _stop_check(step: Step) -> None:
    stop = step.ctx.allreduce(1 if step.ctx.stop_requested else 0, "max")
    if stop:
        raise Stopped()


# --------------------------------------------------------------------------- writing


def _write_outputs(step: Step, results: dict[str, Any], temps: dict[str, Path], tag: str) -> dict[str, str]:
    """Write every output port; a full disk fails the task naming the path, and the partial
    temporary directories are removed (freeing what they took; never renamed into place)."""
    try:
        return _write_ports(step, results, temps, tag)
    except (OSError, RuntimeError) as exc:
        # The port being written when it failed: the last temporary directory made.
        port = next(reversed(temps), None) or next(iter(step.out_dirs), None)
        where = step.out_dirs.get(port) if port is not None else None
        full = io.no_space(exc, where) if where is not None else None
        for tmp in temps.values():
            shutil.rmtree(tmp, ignore_errors=True)
        if full is None:
            raise
        raise TaskFailure(f"{step.label}: {full}") from None


def _write_ports(step: Step, results: dict[str, Any], temps: dict[str, Path], tag: str) -> dict[str, str]:
    ctx, w = step.ctx, step.world
    missing = [p for p in step.out_dirs if p not in results]
    if missing:
        raise TaskFailure(
            f"{step.label}: its payload returned no value for output port {missing[0]!r} "
            f"(it returned: {', '.join(results) or 'nothing'})"
        )
    extra = [p for p, v in results.items() if p not in step.out_dirs and v is not _MODEL_DIR]
    if extra:
        ctx.log(f"note: ignoring values for undeclared output ports: {', '.join(extra)}")
    types = {p.name: p.type for p in step.task.outputs}
    sample_dims: dict[str, str | None] = {}
    for port, value in results.items():
        if port not in step.out_dirs or value is _MODEL_DIR:
            continue
        where = f"output {port!r} of {step.label}"
        if _is_dataset(value):
            try:
                checked = check_dataset(value, types[port], where)
            except DataTypeError as exc:
                raise TaskFailure(str(exc)) from None
            for note in checked.casts:
                ctx.log(note)
            ds = checked.value
            dim = io.sample_dim(ds)
            sharded = step.task.resources.parallel == "data" and w.size > 1 and dim is not None and dim in ds.dims
            sample_dims[port] = dim
            if sharded or ctx.rank == 0:
                tmp = temps[port] = io.temp_dir_for(step.out_dirs[port], tag)
                io.write_part(ds, tmp, w.rank if sharded else 0)
        elif isinstance(value, dict):
            wanted = types.get(port)
            if isinstance(wanted, Tabular):
                absent = [c for c in wanted.names if c not in value]
                if absent:
                    raise TaskFailure(f"{where}: column {absent[0]!r} is missing (the payload returned keys: {', '.join(map(str, value)) or 'none'})")
            if ctx.rank == 0:
                tmp = temps[port] = io.temp_dir_for(step.out_dirs[port], tag)
                io.write_json_atomic(tmp / f"{port}.json", _jsonable(value))
        else:
            raise TaskFailure(f"{where}: expected an xarray Dataset or a dict, got {type(value).__name__}")
    ctx.barrier()
    digests: dict[str, str] = {}
    if ctx.rank != 0:
        return digests
    for port, final in step.out_dirs.items():
        tmp = temps[port]
        if port in sample_dims:
            io.finish_dataset(tmp, sample_dims[port])
        io.commit_dir(tmp, final)
        digests[port] = records.digest_path(final)["sha256"]
    step.digests = digests
    return digests
